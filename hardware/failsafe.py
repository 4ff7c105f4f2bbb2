"""Autopilot parameters that make a drone return to launch on link loss and low battery, per its profile.

Example:
    >>> from hardware.device_profiles import load_drone_profile
    >>> failsafe_parameters(load_drone_profile("generic_px4_quad"))
    {'NAV_DLL_ACT': 2.0, 'COM_LOW_BAT_ACT': 3.0, 'BAT_CRIT_THR': 0.25}

ArduPilot has no battery-percentage threshold: the low-battery failsafe fires at
``BATT_LOW_MAH`` remaining, so the percentage needs the pack's ``BATT_CAPACITY``
(read from the vehicle). DJI aircraft set their failsafes in DJI Pilot, not over
MAVLink: asking for them is an error rather than an empty, silently ignored set.
"""

from __future__ import annotations

from hardware.device_profiles import DroneProfile

_ARDU_GCS_FS_RTL = 1.0  # FS_GCS_ENABLE: RTL
_ARDU_BATT_RTL = 2.0  # BATT_FS_LOW_ACT: RTL
_PX4_DLL_RETURN = 2.0  # NAV_DLL_ACT: Return mode
_PX4_BAT_RETURN = 3.0  # COM_LOW_BAT_ACT: Return at critical level, land at emergency


class FailsafeError(ValueError):
    """The failsafe cannot be expressed as parameters of this drone's autopilot."""


def failsafe_parameters(
    drone: DroneProfile, *, battery_capacity_mah: float | None = None
) -> dict[str, float]:
    """Parameter name -> value setting the profile's RTL on link loss and at ``low_battery_rtl_percent``."""
    fraction = drone.low_battery_rtl_percent / 100
    if drone.autopilot == "px4":
        return {
            "NAV_DLL_ACT": _PX4_DLL_RETURN if drone.rtl_on_link_loss else 0.0,
            "COM_LOW_BAT_ACT": _PX4_BAT_RETURN,
            "BAT_CRIT_THR": round(fraction, 4),
        }
    if drone.autopilot == "ardupilot":
        if battery_capacity_mah is None or not battery_capacity_mah > 0:
            raise FailsafeError(
                f"{drone.name}: ArduPilot's low-battery failsafe is in mAh: give BATT_CAPACITY "
                f"(got {battery_capacity_mah}) to turn {drone.low_battery_rtl_percent:g} % into BATT_LOW_MAH"
            )
        return {
            "FS_GCS_ENABLE": _ARDU_GCS_FS_RTL if drone.rtl_on_link_loss else 0.0,
            "BATT_FS_LOW_ACT": _ARDU_BATT_RTL,
            "BATT_LOW_MAH": round(battery_capacity_mah * fraction),
        }
    raise FailsafeError(
        f"{drone.name}: {drone.autopilot} failsafes are set in the vendor app, not over MAVLink"
    )
