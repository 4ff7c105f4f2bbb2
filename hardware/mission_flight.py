"""Start an uploaded mission with DroneKit (only when confirmed), monitor it, and RTL on failsafe.

Example:
    >>> vehicle = dronekit.connect("udp:127.0.0.1:14550", wait_ready=True)  # doctest: +SKIP
    >>> drone = load_drone_profile("generic_ardupilot_quad")  # doctest: +SKIP
    >>> flight = start_mission(vehicle, drone=drone, confirm=True)  # doctest: +SKIP
    >>> for p in flight.progress():  # doctest: +SKIP
    ...     print(p.line())
    waypoint 3/27, 41.2 m to go, battery 96 %, AUTO

Starting, in order: refuse without ``confirm`` (:class:`MissionStartRefused`);
run :func:`~hardware.preflight.preflight_checks` and refuse on any failure;
write the profile's failsafe parameters (:func:`~hardware.failsafe.failsafe_parameters`:
RTL on GCS link loss and at ``low_battery_rtl_percent``), so the autopilot
returns by itself when this ground station is gone; GUIDED, arm, AUTO,
``MAV_CMD_MISSION_START``.

While monitoring, the ground station also acts itself (belt and braces): at or
below the profile's battery level, or after ``link_loss_s`` without a vehicle
heartbeat, it commands RTL (which gets through if the link is only one-way or
comes back). A flight is over when the vehicle has landed and disarmed after
arming, or holds after its last item.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dronekit import VehicleMode
from pymavlink import mavutil

from hardware.checks import Check
from hardware.device_profiles import DroneProfile
from hardware.failsafe import failsafe_parameters
from hardware.preflight import preflight_checks

mavlink = mavutil.mavlink
_M_PER_DEG_LAT = 111_320.0
RETURN_MODES = frozenset({"RTL", "LAND", "SMART_RTL"})


class MissionStartRefused(ValueError):
    """The mission was not started: no confirmation, a failed pre-flight check, or no mission.

    A ``ValueError``, as every package error, so the command line prints it as one line (exit 2).
    """


@dataclass(frozen=True, slots=True)
class MissionProgress:
    """One look at a flight: mission seq (1-based, items after home) of ``total``, and the vehicle."""

    current: int
    total: int
    last_reached: int  # highest MISSION_ITEM_REACHED seq so far (0: none)
    distance_m: float | None  # horizontal, to the current item's position
    battery_percent: float | None
    mode: str
    armed: bool
    link_ok: bool
    rtl_reason: str | None  # why this ground station commanded RTL, if it did
    finished: bool

    def line(self) -> str:
        distance = "" if self.distance_m is None else f", {self.distance_m:.1f} m to go"
        battery = (
            "battery unknown" if self.battery_percent is None else f"battery {self.battery_percent:.0f} %"
        )
        rtl = f", RTL: {self.rtl_reason}" if self.rtl_reason else ""
        link = "" if self.link_ok else ", LINK LOST"
        return f"waypoint {self.current}/{self.total}{distance}, {battery}, {self.mode}{rtl}{link}"


class MissionFlight:
    """A started mission: :meth:`progress` polls it and applies the ground station's failsafes."""

    def __init__(
        self, vehicle: Any, drone: DroneProfile, total: int, checks: list[Check], *, link_loss_s: float
    ) -> None:
        self.vehicle = vehicle
        self.drone = drone
        self.total = total
        self.checks = checks
        self.link_loss_s = link_loss_s
        self.rtl_reason: str | None = None
        self.last_reached = 0
        self._was_armed = False
        self._lock = threading.Lock()
        vehicle.add_message_listener("MISSION_ITEM_REACHED", self._on_reached)

    def _on_reached(self, _vehicle: Any, _name: str, msg: Any) -> None:
        with self._lock:
            self.last_reached = max(self.last_reached, int(msg.seq))

    def snapshot(self) -> MissionProgress:
        """The flight now, after applying the failsafes (at most one RTL command per flight)."""
        v = self.vehicle
        mode = v.mode.name if v.mode is not None else "UNKNOWN"
        armed = bool(v.armed)
        self._was_armed = self._was_armed or armed
        battery = None if v.battery is None or v.battery.level is None else float(v.battery.level)
        silent = v.last_heartbeat
        link_ok = silent is None or silent < self.link_loss_s
        reason = None
        if battery is not None and battery <= self.drone.low_battery_rtl_percent:
            reason = f"battery {battery:.0f} % <= {self.drone.low_battery_rtl_percent:g} %"
        elif not link_ok and self.drone.rtl_on_link_loss:
            reason = f"no heartbeat for {silent:.1f} s"
        if reason is not None and self.rtl_reason is None and armed and mode not in RETURN_MODES:
            self.rtl_reason = reason
            v.mode = VehicleMode("RTL")
        current = int(v.commands.next or 0)
        with self._lock:
            reached = self.last_reached
        landed = self._was_armed and not armed
        done_holding = reached >= self.total and mode not in ("AUTO", *RETURN_MODES)
        return MissionProgress(
            current=current,
            total=self.total,
            last_reached=reached,
            distance_m=self._distance_to(current),
            battery_percent=battery,
            mode=mode,
            armed=armed,
            link_ok=link_ok,
            rtl_reason=self.rtl_reason,
            finished=landed or done_holding,
        )

    def _distance_to(self, seq: int) -> float | None:
        commands = self.vehicle.commands
        here = self.vehicle.location.global_frame
        if not 1 <= seq <= len(commands) or here is None or here.lat is None:
            return None
        item = commands[seq - 1]  # dronekit's list leaves out home (seq 0)
        lat, lon = (float(item.x), float(item.y))
        if item.command not in (mavlink.MAV_CMD_NAV_WAYPOINT, mavlink.MAV_CMD_NAV_TAKEOFF) or lat == lon == 0:
            return None
        if abs(lat) > 90:  # MISSION_ITEM_INT kept in 1e-7 degrees
            lat, lon = lat * 1e-7, lon * 1e-7
        north = (lat - here.lat) * _M_PER_DEG_LAT
        east = (lon - here.lon) * _M_PER_DEG_LAT * math.cos(math.radians(here.lat))
        return math.hypot(north, east)

    def progress(self, *, poll_s: float = 0.5, timeout_s: float | None = None) -> Iterator[MissionProgress]:
        """Yield a :class:`MissionProgress` every ``poll_s`` until the flight is finished.

        Raises ``TimeoutError`` after ``timeout_s`` (None: no limit).
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            snapshot = self.snapshot()
            yield snapshot
            if snapshot.finished:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"mission not finished after {timeout_s:g} s: {snapshot.line()}")
            time.sleep(poll_s)


def _mission_length(vehicle: Any, timeout_s: float) -> int:
    commands = vehicle.commands
    commands.download()
    commands.wait_ready(timeout=timeout_s)
    return int(commands.count)


def apply_failsafe_parameters(vehicle: Any, drone: DroneProfile) -> dict[str, float]:
    """Write the profile's RTL failsafes to the vehicle (ArduPilot reads ``BATT_CAPACITY`` first)."""
    capacity = vehicle.parameters.get("BATT_CAPACITY") if drone.autopilot == "ardupilot" else None
    values = failsafe_parameters(drone, battery_capacity_mah=capacity)
    for name, value in values.items():
        vehicle.parameters[name] = value  # dronekit waits for the PARAM_VALUE echo
    return values


def start_mission(
    vehicle: Any,
    *,
    drone: DroneProfile,
    confirm: bool,
    timeout_s: float = 30.0,
    link_loss_s: float = 5.0,
) -> MissionFlight:
    """Start the mission the vehicle holds; raises :class:`MissionStartRefused` before anything moves."""
    if not confirm:
        raise MissionStartRefused(
            "refusing to start the mission without confirmation: this arms the vehicle and flies it "
            "(confirm=True, or --confirm on the command line)"
        )
    checks = preflight_checks(vehicle, drone, timeout_s=timeout_s)
    failed = [c.line() for c in checks if c.ok is not True]
    if failed:
        raise MissionStartRefused("pre-flight checks failed:\n  " + "\n  ".join(failed))
    total = _mission_length(vehicle, timeout_s)
    if total == 0:
        raise MissionStartRefused("the vehicle holds no mission: upload one first")
    apply_failsafe_parameters(vehicle, drone)
    flight = MissionFlight(vehicle, drone, total, checks, link_loss_s=link_loss_s)
    vehicle.wait_for_mode("GUIDED", timeout=timeout_s)
    vehicle.arm(wait=True, timeout=timeout_s)
    vehicle.wait_for_mode("AUTO", timeout=timeout_s)
    vehicle.send_mavlink(
        vehicle.message_factory.command_long_encode(
            0, 0, mavlink.MAV_CMD_MISSION_START, 0, 0, 0, 0, 0, 0, 0, 0
        )
    )
    return flight
