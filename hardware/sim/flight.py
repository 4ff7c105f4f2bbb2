"""Kinematic copter flight for the simulator: modes, mission items, RTL, battery and failsafes.

Example:
    >>> from hardware.sim.mission_store import StoredItem
    >>> home = (30.0, 120.0, 10.0)
    >>> flight = KinematicFlight(home)
    >>> up = StoredItem(3, 22, 1, (0, 0, 0, 0), 30.0, 120.0, 20.0)  # NAV_TAKEOFF to 20 m
    >>> flight.items = [flight.items[0], up]
    >>> flight.arm() and flight.set_mode("AUTO")
    True
    >>> reached = [seq for _ in range(200) for seq in flight.step(0.1)]
    >>> reached, round(flight.state.alt_rel_m, 1), flight.mode
    ([1], 20.0, 'LOITER')

The model is ArduCopter's behaviour, not its dynamics: the vehicle moves
towards its target at the mission speed (``DO_CHANGE_SPEED`` or ``WPNAV_SPEED``)
horizontally and at a fixed climb / descent rate vertically, and turns its nose
towards the course at a limited yaw rate (a visible turn at every waypoint).
``AUTO`` runs the items from seq 1: NAV items fly and are reached within
``WP_RADIUS_M`` (2 m, and at the item's altitude); DO items take effect at once; a
``NAV_RETURN_TO_LAUNCH`` item flies RTL; after the last item the vehicle holds
(``LOITER``). ``RTL`` climbs to ``RTL_ALT`` (cm, if lower), flies home, lands
and disarms; ``LAND`` descends where it is and disarms; ``GUIDED`` / ``LOITER`` hold.

The battery drains linearly over ``endurance_s`` of armed time. Failsafes follow
ArduPilot's parameters (what :func:`hardware.failsafe.failsafe_parameters`
sets): ``FS_GCS_ENABLE`` 1 -> RTL after ``FS_GCS_TIMEOUT`` s without a GCS
heartbeat (only once one was seen), ``BATT_FS_LOW_ACT`` 2 -> RTL when the
remaining ``BATT_CAPACITY * percent`` falls to ``BATT_LOW_MAH``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pymavlink import mavutil

from hardware.sim.mission_store import StoredItem

mavlink = mavutil.mavlink

COPTER_MODES: dict[str, int] = {
    "STABILIZE": 0,
    "AUTO": 3,
    "GUIDED": 4,
    "LOITER": 5,
    "RTL": 6,
    "LAND": 9,
}
MODE_NAMES = {number: name for name, number in COPTER_MODES.items()}
WP_RADIUS_M = 2.0
ALT_TOLERANCE_M = 0.05
CLIMB_MPS = 2.5
DESCENT_MPS = 1.5
YAW_RATE_DEG_S = 90.0
_M_PER_DEG_LAT = 111_320.0
_NAV_COMMANDS = frozenset(
    {
        mavlink.MAV_CMD_NAV_WAYPOINT,
        mavlink.MAV_CMD_NAV_TAKEOFF,
        mavlink.MAV_CMD_NAV_LAND,
        mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH,
    }
)


@dataclass(slots=True)
class FlightState:
    """Where the vehicle is: degrees, metres above home, heading clockwise from north, velocities m/s."""

    lat: float
    lon: float
    alt_rel_m: float
    yaw_deg: float = 0.0
    vel_north: float = 0.0
    vel_east: float = 0.0
    vel_up: float = 0.0
    time_s: float = 0.0  # simulated seconds since the flight model was made


def failsafe_action(
    params: dict[str, float], *, gcs_seen: bool, gcs_silent_s: float, battery_percent: float
) -> str | None:
    """``"link loss"``, ``"low battery"`` or None: which ArduPilot failsafe (set to RTL) fires now."""
    gcs_enabled = params.get("FS_GCS_ENABLE", 0.0) == 1.0 and gcs_seen
    if gcs_enabled and gcs_silent_s >= params.get("FS_GCS_TIMEOUT", 5.0):
        return "link loss"
    capacity = params.get("BATT_CAPACITY", 0.0)
    low_mah = params.get("BATT_LOW_MAH", 0.0)
    battery_enabled = params.get("BATT_FS_LOW_ACT", 0.0) == 2.0 and capacity > 0 and low_mah > 0
    if battery_enabled and capacity * battery_percent / 100.0 <= low_mah:
        return "low battery"
    return None


class KinematicFlight:
    """The simulated copter's state machine; :meth:`step` advances it by simulated seconds."""

    def __init__(
        self,
        home: tuple[float, float, float],
        *,
        params: dict[str, float] | None = None,
        endurance_s: float = 25 * 60.0,
        battery_percent: float = 100.0,
    ) -> None:
        lat, lon, alt_msl = home
        self.home_alt_msl = alt_msl
        self.home_item = StoredItem(
            mavlink.MAV_FRAME_GLOBAL, mavlink.MAV_CMD_NAV_WAYPOINT, 1, (0, 0, 0, 0), *home
        )
        self.items: list[StoredItem] = [self.home_item]
        self.params = params if params is not None else {"WPNAV_SPEED": 500.0, "RTL_ALT": 1500.0}
        self.state = FlightState(lat, lon, 0.0)
        self.endurance_s = endurance_s
        self.battery_percent = battery_percent
        self.armed = False
        self.mode = "GUIDED"
        self.current_seq = 0
        self.failsafe: str | None = None  # the failsafe that fired, once one has
        self._speed: float | None = None  # DO_CHANGE_SPEED overrides WPNAV_SPEED
        self._rtl_phase = "climb"

    # -- commands ------------------------------------------------------------------
    @property
    def speed_mps(self) -> float:
        return self._speed if self._speed is not None else self.params.get("WPNAV_SPEED", 500.0) / 100.0

    @property
    def on_ground(self) -> bool:
        return self.state.alt_rel_m <= 0.05

    def arm(self) -> bool:
        """Arm (refused in RTL / LAND, as ArduPilot refuses to arm in those modes)."""
        if self.mode in ("RTL", "LAND"):
            return False
        self.armed = True
        return True

    def disarm(self) -> bool:
        """Disarm; refused in the air (no forced disarm here)."""
        if not self.on_ground:
            return False
        self.armed = False
        return True

    def set_mode(self, mode: str) -> bool:
        """Switch mode; AUTO needs a mission and restarts it from seq 1 when entered from another mode."""
        if mode not in COPTER_MODES:
            return False
        if mode == "AUTO" and len(self.items) < 2:
            return False
        if mode == "AUTO" and self.mode != "AUTO":
            self.current_seq = max(1, self.current_seq) if self.current_seq < len(self.items) else 1
        if mode == "RTL" and self.mode != "RTL":
            self._rtl_phase = "climb"
        self.mode = mode
        return True

    def start_mission(self) -> bool:
        """MAV_CMD_MISSION_START: AUTO from the first item (the vehicle must be armed)."""
        if not self.armed or len(self.items) < 2:
            return False
        self.current_seq = 1
        self.mode = "AUTO"
        return True

    def trigger_failsafe(self, reason: str) -> None:
        """RTL because of ``reason`` (once; an operator may switch mode afterwards)."""
        if self.failsafe is None and self.armed and not self.on_ground:
            self.failsafe = reason
            self.set_mode("RTL")

    # -- motion --------------------------------------------------------------------
    def step(self, dt: float) -> list[int]:
        """Advance ``dt`` simulated seconds; return the mission seqs reached meanwhile."""
        self.state.time_s += dt
        reached: list[int] = []
        if not self.armed:
            self._set_velocity(0.0, 0.0, 0.0)
            return reached
        self.battery_percent = max(0.0, self.battery_percent - 100.0 * dt / self.endurance_s)
        if self.mode == "AUTO":
            reached = self._step_auto(dt)
        elif self.mode == "RTL":
            self._step_rtl(dt)
        elif self.mode == "LAND":
            self._step_land(dt)
        else:
            self._set_velocity(0.0, 0.0, 0.0)
        return reached

    def _step_auto(self, dt: float) -> list[int]:
        reached: list[int] = []
        # DO items (and reached NAV items) chain in one step; a NAV item in flight ends the loop.
        while self.mode == "AUTO" and self.current_seq < len(self.items):
            item = self.items[self.current_seq]
            if item.command == mavlink.MAV_CMD_NAV_RETURN_TO_LAUNCH:
                reached.append(self.current_seq)
                self.set_mode("RTL")
                self._step_rtl(dt)
                return reached
            if item.command == mavlink.MAV_CMD_NAV_LAND:
                reached.append(self.current_seq)
                self.mode = "LAND"
                return reached
            if item.command in _NAV_COMMANDS:
                lat, lon = item.lat, item.lon
                if item.command == mavlink.MAV_CMD_NAV_TAKEOFF or (lat == 0 and lon == 0):
                    lat, lon = self.state.lat, self.state.lon
                if not self._fly_to(lat, lon, item.alt, dt):
                    return reached
            elif item.command == mavlink.MAV_CMD_DO_CHANGE_SPEED and item.params[1] > 0:
                self._speed = float(item.params[1])
            reached.append(self.current_seq)
            self.current_seq += 1
        if self.mode == "AUTO":
            self.mode = "LOITER"  # mission done: hold where it ends
            self._set_velocity(0.0, 0.0, 0.0)
        return reached

    def _step_rtl(self, dt: float) -> None:
        rtl_alt = max(self.state.alt_rel_m, self.params.get("RTL_ALT", 1500.0) / 100.0)
        home = self.home_item
        if self._rtl_phase == "climb":
            if self._fly_to(self.state.lat, self.state.lon, rtl_alt, dt):
                self._rtl_phase = "return"
        elif self._rtl_phase == "return":
            if self._fly_to(home.lat, home.lon, self.state.alt_rel_m, dt):
                self._rtl_phase = "land"
        else:
            self._step_land(dt)

    def _step_land(self, dt: float) -> None:
        self._fly_to(self.state.lat, self.state.lon, 0.0, dt)
        if self.on_ground:
            self.state.alt_rel_m = 0.0
            self.armed = False
            self._set_velocity(0.0, 0.0, 0.0)

    def _fly_to(self, lat: float, lon: float, alt: float, dt: float) -> bool:
        """Move towards a target for ``dt``; True once within the waypoint radius."""
        s = self.state
        m_per_deg_lon = _M_PER_DEG_LAT * math.cos(math.radians(s.lat))
        north = (lat - s.lat) * _M_PER_DEG_LAT
        east = (lon - s.lon) * m_per_deg_lon
        dist = math.hypot(north, east)
        up = alt - s.alt_rel_m
        horizontal = min(dist, self.speed_mps * dt)
        vertical = max(-DESCENT_MPS * dt, min(CLIMB_MPS * dt, up))
        if dist > 1e-6:
            s.lat += north / dist * horizontal / _M_PER_DEG_LAT
            s.lon += east / dist * horizontal / m_per_deg_lon
            self._turn_towards(math.degrees(math.atan2(east, north)), dt)
        s.alt_rel_m += vertical
        inv = 1.0 / dt if dt > 0 else 0.0
        scale = horizontal / dist if dist > 1e-6 else 0.0
        self._set_velocity(north * scale * inv, east * scale * inv, vertical * inv)
        return dist - horizontal <= WP_RADIUS_M and abs(alt - s.alt_rel_m) <= ALT_TOLERANCE_M

    def _turn_towards(self, course_deg: float, dt: float) -> None:
        error = (course_deg - self.state.yaw_deg + 180.0) % 360.0 - 180.0
        limit = YAW_RATE_DEG_S * dt
        self.state.yaw_deg = (self.state.yaw_deg + max(-limit, min(limit, error))) % 360.0

    def _set_velocity(self, north: float, east: float, up: float) -> None:
        self.state.vel_north, self.state.vel_east, self.state.vel_up = north, east, up

    def distance_to_current_m(self) -> float:
        """Horizontal distance to the current mission item's position (0 for items without one)."""
        if not 0 < self.current_seq < len(self.items):
            return 0.0
        item = self.items[self.current_seq]
        if item.lat == 0 and item.lon == 0:
            return 0.0
        north = (item.lat - self.state.lat) * _M_PER_DEG_LAT
        east = (item.lon - self.state.lon) * _M_PER_DEG_LAT * math.cos(math.radians(self.state.lat))
        return math.hypot(north, east)
