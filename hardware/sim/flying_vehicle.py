"""A simulated ArduCopter over MAVLink/UDP that flies its uploaded mission (kinematically).

Example:
    >>> home = (30.27, 120.15, 12.0)  # lat, lon, ground AMSL
    >>> vehicle = FlyingVehicle(home, "udpout:127.0.0.1:14550", time_factor=5)  # doctest: +SKIP
    >>> vehicle.start()  # doctest: +SKIP
    >>> # dronekit.connect("udp:127.0.0.1:14550"): upload, arm, AUTO -> it flies
    >>> vehicle.track()[-1]  # doctest: +SKIP
    TrackSample(time_s=..., lat=..., ...)

What a ground station sees (what dronekit and QGroundControl need):

* ``HEARTBEAT`` at 1 Hz: ``MAV_TYPE_QUADROTOR``, ArduPilot, the copter mode as
  custom mode and ``MAV_MODE_FLAG_SAFETY_ARMED`` while armed;
* at ``telemetry_hz``: ``GLOBAL_POSITION_INT``, ``ATTITUDE``, ``GPS_RAW_INT`` (3D fix,
  14 satellites), ``VFR_HUD``, ``SYS_STATUS`` (battery draining while armed),
  ``MISSION_CURRENT``, ``SYSTEM_TIME`` and a nadir gimbal's ``MOUNT_STATUS`` and
  ``GIMBAL_DEVICE_ATTITUDE_STATUS`` (earth frame);
* heartbeat and telemetry also go to every ``telemetry_outs`` link (as a MAVLink
  router feeds a companion computer: the pipeline reads its poses there);
* ``MISSION_ITEM_REACHED`` for every item done; ``STATUSTEXT`` when a failsafe fires;
* ``COMMAND_LONG``: ``COMPONENT_ARM_DISARM``, ``DO_SET_MODE``, ``MISSION_START``,
  ``NAV_RETURN_TO_LAUNCH``, ``NAV_LAND`` act and are acknowledged ``ACCEPTED`` or
  ``DENIED``; ``SET_MODE`` switches mode; params and the mission protocol as the
  replaying :class:`~hardware.sim.mavlink_vehicle.MavlinkVehicle`.

Simulated time runs ``time_factor`` times faster than the wall clock (speed and
battery drain), so a test can fly a few hundred metres in seconds; the GCS
link-loss timeout is in wall seconds, since heartbeats are real. Every physics
step is recorded in :meth:`track`, the flown path that video is rendered along.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

from pymavlink import mavutil
from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from hardware.sim.flight import COPTER_MODES, MODE_NAMES, KinematicFlight, failsafe_action
from hardware.sim.link_thread import LinkThread
from hardware.sim.mavlink_vehicle import DEFAULT_PARAMS, answer_param_message, answer_version_request
from hardware.sim.mission_store import MISSION_KINDS, MissionStore
from hardware.sim.tlog import GIMBAL_FLAGS, euler_to_quaternion

log = logging.getLogger(__name__)
mavlink = mavutil.mavlink

FLIGHT_PARAMS: dict[str, float] = {
    **DEFAULT_PARAMS,
    "FS_GCS_ENABLE": 0.0,
    "FS_GCS_TIMEOUT": 5.0,
    "BATT_CAPACITY": 5000.0,
    "BATT_FS_LOW_ACT": 0.0,
    "BATT_LOW_MAH": 0.0,
}
MAX_STEP_S = 0.1  # simulated seconds per physics step
_TICK_S = 0.02


@dataclass(frozen=True, slots=True)
class TrackSample:
    """One physics step of the flown path (simulated seconds, degrees, metres above home, m/s)."""

    time_s: float
    lat: float
    lon: float
    alt_rel_m: float
    yaw_deg: float
    vel_north: float
    vel_east: float
    vel_up: float
    armed: bool
    mode: str


class FlyingVehicle(LinkThread):
    """Flies :class:`~hardware.sim.flight.KinematicFlight` and speaks MAVLink on ``out_uri``."""

    def __init__(
        self,
        home: tuple[float, float, float],
        out_uri: str = "udpout:127.0.0.1:14550",
        *,
        time_factor: float = 1.0,
        telemetry_hz: float = 10.0,
        endurance_s: float = 25 * 60.0,
        battery_percent: float = 100.0,
        system_id: int = 1,
        telemetry_outs: Sequence[str] = (),
    ) -> None:
        if time_factor <= 0:
            raise ValueError(f"time_factor must be positive, got {time_factor}")
        super().__init__(out_uri, system_id=system_id, thread_name="flying-vehicle")
        self.time_factor = time_factor
        self.telemetry_hz = telemetry_hz
        self.params = dict(FLIGHT_PARAMS)
        self.flight = KinematicFlight(
            home, params=self.params, endurance_s=endurance_s, battery_percent=battery_percent
        )
        self.mission = MissionStore(home=home)
        self.flight.items = self.mission.items
        self.reached: list[int] = []
        self.commands_denied = 0
        self._track: list[TrackSample] = []
        self._lock = threading.Lock()
        self._gcs_seen_at: float | None = None
        self.telemetry_outs = tuple(telemetry_outs)
        self._telemetry_conns: list[Any] = []

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> Self:
        """Open the telemetry-only links, then the GCS link and the vehicle thread (idempotent)."""
        if not self._telemetry_conns:
            self._telemetry_conns = [
                mavutil.mavlink_connection(uri, source_system=self.system_id, source_component=1)
                for uri in self.telemetry_outs
            ]
        return super().start()

    def stop(self) -> None:
        super().stop()
        for conn in self._telemetry_conns:
            conn.close()
        self._telemetry_conns = []

    def __enter__(self) -> FlyingVehicle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- state for tests and the renderer --------------------------------------------
    @property
    def mode(self) -> str:
        return self.flight.mode

    @property
    def armed(self) -> bool:
        return self.flight.armed

    def track(self) -> list[TrackSample]:
        """The flown path so far (a copy), one sample per physics step while armed."""
        with self._lock:
            return list(self._track)

    # -- main loop -----------------------------------------------------------------
    def _run(self) -> None:
        last = time.monotonic()
        next_heartbeat = next_telemetry = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                self._answer_requests(now)
                self._advance((now - last) * self.time_factor, now)
                last = now
                if now >= next_heartbeat:
                    self._send_heartbeat()
                    next_heartbeat = now + 1.0
                if now >= next_telemetry:
                    self._send_telemetry()
                    next_telemetry = now + 1.0 / self.telemetry_hz
                self._stop.wait(_TICK_S)
        except Exception:
            if not self._stop.is_set():
                log.exception("flying vehicle on %s stopped", self.out_uri)

    def _advance(self, sim_dt: float, now: float) -> None:
        flight = self.flight
        silent = math.inf if self._gcs_seen_at is None else now - self._gcs_seen_at
        reason = failsafe_action(
            self.params,
            gcs_seen=self._gcs_seen_at is not None,
            gcs_silent_s=silent,
            battery_percent=flight.battery_percent,
        )
        if reason is not None and flight.failsafe is None and flight.armed and not flight.on_ground:
            flight.trigger_failsafe(reason)
            self._conn.mav.statustext_send(mavlink.MAV_SEVERITY_WARNING, f"Failsafe: {reason}: RTL".encode())
        while sim_dt > 1e-9:
            dt = min(MAX_STEP_S, sim_dt)
            sim_dt -= dt
            was_armed = flight.armed
            for seq in flight.step(dt):
                self.reached.append(seq)
                self._conn.mav.mission_item_reached_send(seq)
            if was_armed:
                s = flight.state
                sample = TrackSample(
                    s.time_s, s.lat, s.lon, s.alt_rel_m, s.yaw_deg, s.vel_north, s.vel_east, s.vel_up,
                    flight.armed, flight.mode,
                )  # fmt: skip
                with self._lock:
                    self._track.append(sample)

    def _send_heartbeat(self) -> None:
        base_mode = mavlink.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | mavlink.MAV_MODE_FLAG_STABILIZE_ENABLED
        base_mode |= mavlink.MAV_MODE_FLAG_GUIDED_ENABLED
        if self.flight.armed:
            base_mode |= mavlink.MAV_MODE_FLAG_SAFETY_ARMED
        state = mavlink.MAV_STATE_ACTIVE if self.flight.armed else mavlink.MAV_STATE_STANDBY
        if self.flight.failsafe is not None and self.flight.armed:
            state = mavlink.MAV_STATE_CRITICAL
        for conn in self._links():
            conn.mav.heartbeat_send(
                mavlink.MAV_TYPE_QUADROTOR,
                mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA,
                base_mode,
                COPTER_MODES[self.flight.mode],
                state,
            )

    def _links(self) -> list[Any]:
        return [self._conn, *self._telemetry_conns]

    def _send_telemetry(self) -> None:
        for conn in self._links():
            self._send_telemetry_on(conn.mav)

    def _send_telemetry_on(self, mav: Any) -> None:
        f = self.flight
        s = f.state
        boot_ms = self._uptime_ms()
        lat_e7, lon_e7 = round(s.lat * 1e7), round(s.lon * 1e7)
        msl_mm = round((f.home_alt_msl + s.alt_rel_m) * 1000)
        speed = math.hypot(s.vel_north, s.vel_east)
        course = math.degrees(math.atan2(s.vel_east, s.vel_north)) % 360.0
        now_us = int(time.time() * 1e6)
        mav.system_time_send(now_us, boot_ms)
        mav.gps_raw_int_send(
            now_us, mavlink.GPS_FIX_TYPE_3D_FIX, lat_e7, lon_e7, msl_mm, 80, 120,
            round(speed * 100), round(course * 100) % 36000, 14,
        )  # fmt: skip
        mav.global_position_int_send(
            boot_ms, lat_e7, lon_e7, msl_mm, round(s.alt_rel_m * 1000),
            round(s.vel_north * 100), round(s.vel_east * 100), round(-s.vel_up * 100),
            round(s.yaw_deg * 100) % 36000,
        )  # fmt: skip
        yaw_rad = math.radians((s.yaw_deg + 180.0) % 360.0 - 180.0)
        mav.attitude_send(boot_ms, 0.0, 0.0, yaw_rad, 0.0, 0.0, 0.0)
        mav.vfr_hud_send(speed, speed, round(s.yaw_deg) % 360, 50 if f.armed else 0, s.alt_rel_m, s.vel_up)
        mav.sys_status_send(0, 0, 0, 500, 15_800, 1_000, round(f.battery_percent), 0, 0, 0, 0, 0, 0)
        mav.mission_current_send(f.current_seq)
        # The nadir gimbal, twice: ArduPilot's MOUNT_STATUS (centidegrees; yaw relative to the nose)
        # for MAVLink 1 readers, and GIMBAL_DEVICE_ATTITUDE_STATUS (earth frame) for MAVLink 2 ones.
        mav.mount_status_send(0, 0, -9000, 0, 0)
        q = euler_to_quaternion(0.0, -90.0, s.yaw_deg)
        # A MAVLink 2 message (id 285) sent on the link as the replaying vehicle forwards its tlog's.
        mav.send(
            mavlink2.MAVLink_gimbal_device_attitude_status_message(
                0, 0, boot_ms, GIMBAL_FLAGS, q, math.nan, math.nan, math.nan, 0, 0.0, math.nan, 0
            )
        )

    # -- requests ------------------------------------------------------------------
    def _answer_requests(self, now: float) -> None:
        while (msg := self._conn.recv_msg()) is not None:
            kind = msg.get_type()
            if kind == "HEARTBEAT" and msg.type == mavlink.MAV_TYPE_GCS:
                self._gcs_seen_at = now
            elif answer_param_message(self._conn, self.params, msg):
                pass
            elif kind == "COMMAND_LONG":
                self._answer_command(msg)
            elif kind == "SET_MODE":
                self._set_mode_number(int(msg.custom_mode))
            elif kind in MISSION_KINDS:
                self.mission.handle(self._conn, msg)
                self.flight.items = self.mission.items

    def _set_mode_number(self, number: int) -> bool:
        name = MODE_NAMES.get(number)
        return name is not None and self.flight.set_mode(name)

    def _answer_command(self, msg: Any) -> None:
        flight = self.flight
        command = msg.command
        ok = True
        if answer_version_request(self._conn, msg):
            pass
        elif command == mavlink.MAV_CMD_COMPONENT_ARM_DISARM:
            ok = flight.arm() if msg.param1 >= 0.5 else flight.disarm()
        elif command == mavlink.MAV_CMD_DO_SET_MODE:
            ok = self._set_mode_number(int(msg.param2))
        elif command == mavlink.MAV_CMD_MISSION_START:
            ok = flight.start_mission()
        elif command == mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH:
            ok = flight.set_mode("RTL")
        elif command == mavlink.MAV_CMD_NAV_LAND:
            ok = flight.set_mode("LAND")
        if not ok:
            self.commands_denied += 1
        result = mavlink.MAV_RESULT_ACCEPTED if ok else mavlink.MAV_RESULT_DENIED
        self._conn.mav.command_ack_send(command, result)
