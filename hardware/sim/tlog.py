"""MAVLink 2 telemetry log (``.tlog``): 8-byte big-endian UNIX microseconds, then the packet.

Messages (``ardupilotmega`` dialect) at the telemetry rate: ``SYSTEM_TIME``,
``GPS_RAW_INT``, ``GLOBAL_POSITION_INT``, ``ATTITUDE`` and, for gimbal cameras,
``GIMBAL_DEVICE_ATTITUDE_STATUS`` (earth-frame quaternion, yaw-in-earth-frame
flag); ``HEARTBEAT`` once a second. All messages of one sample share its time.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from hardware.sim.trajectory import PlatformState

BOOT_OFFSET_S = 95.0  # the autopilot booted this long before the video starts
GIMBAL_FLAGS = (
    mavlink2.GIMBAL_DEVICE_FLAGS_ROLL_LOCK
    | mavlink2.GIMBAL_DEVICE_FLAGS_PITCH_LOCK
    | mavlink2.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME
)


def euler_to_quaternion(
    roll_deg: float, pitch_deg: float, yaw_deg: float
) -> tuple[float, float, float, float]:
    """Aerospace ZYX (yaw, then pitch, then roll) Euler angles to a ``(w, x, y, z)`` quaternion.

    Example:
        >>> [round(v, 4) for v in euler_to_quaternion(0.0, -90.0, 0.0)]
        [0.7071, 0.0, -0.7071, 0.0]
    """
    r, p, y = (math.radians(a) / 2 for a in (roll_deg, pitch_deg, yaw_deg))
    cr, sr, cp, sp, cy, sy = math.cos(r), math.sin(r), math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    return (
        cr * cp * cy + sr * sp * sy,
        sr * cp * cy - cr * sp * sy,
        cr * sp * cy + sr * cp * sy,
        cr * cp * sy - sr * sp * cy,
    )


def _wrap_pi(deg: np.ndarray) -> np.ndarray:
    return np.asarray(np.radians((deg + 180.0) % 360.0 - 180.0))


def write_tlog(
    path: Path,
    state: PlatformState,
    start_posix: float,
    *,
    ground_elevation_m: float,
    lonlat: np.ndarray,
    vehicle_type: int,
    gimbal: bool,
    rate_hz: float,
) -> int:
    """Write the samples of ``state`` (times relative to ``start_posix``) and return the record count."""
    mav = mavlink2.MAVLink(None, srcSystem=1, srcComponent=mavlink2.MAV_COMP_ID_AUTOPILOT1)
    gimbal_mav = mavlink2.MAVLink(None, srcSystem=1, srcComponent=mavlink2.MAV_COMP_ID_GIMBAL)
    rates = np.gradient(
        np.unwrap(
            np.column_stack(
                [np.radians(state.roll_deg), np.radians(state.pitch_deg), np.radians(state.yaw_deg)]
            ),
            axis=0,
        ),
        state.t,
        axis=0,
    )
    every = max(1, round(rate_hz))
    count = 0
    with open(path, "wb") as fh:

        def put(usec: int, msg: mavlink2.MAVLink_message, sender: mavlink2.MAVLink = mav) -> None:
            nonlocal count
            fh.write(struct.pack(">Q", usec) + msg.pack(sender))
            count += 1

        for i, t in enumerate(state.t):
            usec = round((start_posix + float(t)) * 1e6)
            boot_ms = round((BOOT_OFFSET_S + float(t)) * 1000)
            lon, lat = lonlat[i]
            lat_e7, lon_e7 = round(lat * 1e7), round(lon * 1e7)
            agl = float(state.alt_agl[i])
            msl_mm = round((ground_elevation_m + agl) * 1000)
            ve, vn, vu = (float(v) for v in state.velocity_enu[i])
            speed = math.hypot(ve, vn)
            course = math.degrees(math.atan2(ve, vn)) % 360.0
            yaw = float(state.yaw_deg[i])
            if i % every == 0:
                put(
                    usec,
                    mav.heartbeat_encode(
                        vehicle_type,
                        mavlink2.MAV_AUTOPILOT_ARDUPILOTMEGA,
                        mavlink2.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | mavlink2.MAV_MODE_FLAG_SAFETY_ARMED,
                        3,
                        mavlink2.MAV_STATE_ACTIVE,
                    ),
                )
            put(usec, mav.system_time_encode(usec, boot_ms))
            put(
                usec,
                mav.gps_raw_int_encode(
                    usec,
                    mavlink2.GPS_FIX_TYPE_3D_FIX,
                    lat_e7,
                    lon_e7,
                    msl_mm,
                    80,
                    120,
                    round(speed * 100),
                    round(course * 100) % 36000,
                    18,
                    msl_mm,
                    500,
                    1000,
                    100,
                    0,
                    0,
                ),
            )
            put(
                usec,
                mav.global_position_int_encode(
                    boot_ms,
                    lat_e7,
                    lon_e7,
                    msl_mm,
                    round(agl * 1000),
                    round(vn * 100),
                    round(ve * 100),
                    round(-vu * 100),
                    round(yaw * 100) % 36000,
                ),
            )
            put(
                usec,
                mav.attitude_encode(
                    boot_ms,
                    math.radians(float(state.roll_deg[i])),
                    math.radians(float(state.pitch_deg[i])),
                    float(_wrap_pi(state.yaw_deg[i])),
                    float(rates[i, 0]),
                    float(rates[i, 1]),
                    float(rates[i, 2]),
                ),
            )
            if gimbal:
                q = euler_to_quaternion(
                    float(state.camera_roll_deg[i]),
                    float(state.camera_pitch_deg[i]),
                    float(state.camera_yaw_deg[i]),
                )
                delta_yaw = math.radians((float(state.camera_yaw_deg[i]) - yaw + 180.0) % 360.0 - 180.0)
                put(
                    usec,
                    gimbal_mav.gimbal_device_attitude_status_encode(
                        0,
                        0,
                        boot_ms,
                        GIMBAL_FLAGS,
                        q,
                        math.nan,
                        math.nan,
                        math.nan,
                        0,
                        delta_yaw,
                        math.nan,
                        0,
                    ),
                    gimbal_mav,
                )
    return count
