"""Pre-flight checks of a connected DroneKit vehicle: GPS fix, satellites, battery, home, mode.

Example:
    >>> vehicle = dronekit.connect("udp:127.0.0.1:14550", wait_ready=True)  # doctest: +SKIP
    >>> drone = load_drone_profile("generic_ardupilot_quad")  # doctest: +SKIP
    >>> for check in preflight_checks(vehicle, drone):  # doctest: +SKIP
    ...     print(check.line())
    PASS gps fix: 3D fix (fix_type 3)

A check the vehicle gives no data for fails (a mission is not started on
unknown battery or position); nothing here arms the vehicle or changes its mode.
"""

from __future__ import annotations

from typing import Any

from hardware.checks import Check
from hardware.device_profiles import DroneProfile

MIN_FIX_TYPE = 3  # GPS_FIX_TYPE_3D_FIX
_FIX_NAMES = {0: "no GPS", 1: "no fix", 2: "2D fix", 3: "3D fix", 4: "DGPS", 5: "RTK float", 6: "RTK fixed"}
# Modes a mission may start from; RTL/LAND/BRAKE mean a failsafe or an operator is in charge.
START_MODES = frozenset({"GUIDED", "LOITER", "POSHOLD", "STABILIZE", "ALT_HOLD", "AUTO", "POSCTL", "HOLD"})


def preflight_checks(
    vehicle: Any,
    drone: DroneProfile,
    *,
    min_satellites: int = 10,
    min_battery_margin_percent: float = 50.0,
    timeout_s: float = 10.0,
) -> list[Check]:
    """GPS fix and satellites, battery above the RTL level plus a margin, home set, a startable mode."""
    gps = vehicle.gps_0
    fix = None if gps is None else gps.fix_type
    sats = None if gps is None else gps.satellites_visible
    checks = [
        Check(
            "gps fix",
            None if fix is None else fix >= MIN_FIX_TYPE,
            "no GPS_RAW_INT received"
            if fix is None
            else f"{_FIX_NAMES.get(fix, 'unknown')} (fix_type {fix})",
        ),
        Check(
            "satellites",
            None if sats is None else sats >= min_satellites,
            "not reported" if sats is None else f"{sats} visible, need {min_satellites}",
        ),
        _battery_check(vehicle, drone, min_battery_margin_percent),
        _home_check(vehicle, timeout_s),
    ]
    mode = None if vehicle.mode is None else vehicle.mode.name
    ok = None if mode is None else mode in START_MODES
    checks.append(
        Check("mode", ok, f"{mode or 'unknown'} (a mission starts from {', '.join(sorted(START_MODES))})")
    )
    return [c if c.ok is not None else Check(c.name, False, f"unknown: {c.detail}") for c in checks]


def _battery_check(vehicle: Any, drone: DroneProfile, margin: float) -> Check:
    level = None if vehicle.battery is None else vehicle.battery.level
    need = drone.low_battery_rtl_percent + margin
    if level is None or level < 0:  # SYS_STATUS battery_remaining -1: not estimated
        return Check("battery", None, f"vehicle reports no battery level (need {need:g} %)")
    return Check(
        "battery",
        level >= need,
        f"{level} %, need {need:g} % ({drone.name} RTLs at {drone.low_battery_rtl_percent:g} %)",
    )


def _home_check(vehicle: Any, timeout_s: float) -> Check:
    commands = vehicle.commands
    # DroneKit learns home from mission item 0 (ArduPilot) or HOME_POSITION.
    commands.download()
    if not commands.wait_ready(timeout=timeout_s, raise_exception=False):
        return Check("home", None, f"mission download did not finish in {timeout_s:g} s")
    home = vehicle.home_location
    if home is None or (home.lat == 0 and home.lon == 0):
        return Check("home", False, "home position not set")
    return Check("home", True, f"lat {home.lat:.7f}, lon {home.lon:.7f}, alt {home.alt:.1f} m")
