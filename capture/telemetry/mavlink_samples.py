"""Collect MAVLink messages into a :class:`TelemetryTrack` (shared by tlog files and live links).

Each message kind is its own time series (stamped with the time it was
received / logged); attitude and gimbal angles are interpolated onto the
instants of the position messages when the track is built (by quaternion slerp).

Used messages:

* ``GLOBAL_POSITION_INT``: lat, lon, ``alt`` (MSL), ``relative_alt`` (above
  home = take-off point), ``vx``/``vy`` speed; the position time base.
  ``GPS_RAW_INT`` is the fallback when a log has no ``GLOBAL_POSITION_INT``.
* ``ATTITUDE``: vehicle roll, pitch, yaw.
* ``GIMBAL_DEVICE_ATTITUDE_STATUS``: camera angles from the quaternion (ZYX
  Euler). Roll and pitch are horizon-relative; yaw is earth-frame unless the
  ``GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME`` flag says otherwise, in which
  case the vehicle yaw is added.
* ``MOUNT_STATUS`` (ArduPilot): ``pointing_a`` pitch, ``pointing_b`` roll,
  ``pointing_c`` yaw relative to the vehicle (centidegrees).
"""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from capture.telemetry.angles import quaternion_to_euler_deg
from capture.telemetry.slerp import interp_attitude_deg
from capture.telemetry.track import TelemetryTrack

_YAW_IN_VEHICLE_FRAME = 4096  # GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME
_YAW_IN_EARTH_FRAME = 2048
_INT32_MAX = 2**31 - 1


class MavlinkSamples:
    """Thread-safe accumulator of the MAVLink messages that make up a pose track."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._lock = threading.Lock()
        self.position: list[tuple[float, ...]] = []  # t, lat, lon, alt_msl, alt_agl, speed
        self.gps_raw: list[tuple[float, ...]] = []  # t, lat, lon, alt_msl, h_acc, v_acc
        self.attitude: list[tuple[float, ...]] = []  # t, roll, pitch, yaw
        self.gimbal: list[tuple[float, ...]] = []  # t, roll, pitch, yaw, yaw_is_relative
        self.version = 0  # bumped on every stored sample, for caches

    def add(self, msg: Any, t: float) -> bool:
        """Store ``msg`` received at ``t`` (POSIX seconds) if it is a pose message; True if stored."""
        kind = msg.get_type()
        row: tuple[float, ...]
        if kind == "GLOBAL_POSITION_INT":
            if msg.lat == 0 and msg.lon == 0:
                return False  # no fix yet
            row = (
                t,
                msg.lat / 1e7,
                msg.lon / 1e7,
                msg.alt / 1e3,
                msg.relative_alt / 1e3,
                math.hypot(msg.vx, msg.vy) / 100.0,
            )
            target = self.position
        elif kind == "GPS_RAW_INT":
            if msg.fix_type < 2:
                return False
            h_acc = getattr(msg, "h_acc", 0) / 1e3 or math.nan
            v_acc = getattr(msg, "v_acc", 0) / 1e3 or math.nan
            row = (t, msg.lat / 1e7, msg.lon / 1e7, msg.alt / 1e3, h_acc, v_acc)
            target = self.gps_raw
        elif kind == "ATTITUDE":
            row = (t, math.degrees(msg.roll), math.degrees(msg.pitch), math.degrees(msg.yaw))
            target = self.attitude
        elif kind == "GIMBAL_DEVICE_ATTITUDE_STATUS":
            if any(math.isnan(v) for v in msg.q):
                return False
            roll, pitch, yaw = quaternion_to_euler_deg(np.array([msg.q]))
            relative = bool(msg.flags & _YAW_IN_VEHICLE_FRAME) and not msg.flags & _YAW_IN_EARTH_FRAME
            row = (t, float(roll[0]), float(pitch[0]), float(yaw[0]), float(relative))
            target = self.gimbal
        elif kind == "MOUNT_STATUS":
            row = (t, msg.pointing_b / 100.0, msg.pointing_a / 100.0, msg.pointing_c / 100.0, 1.0)
            target = self.gimbal
        else:
            return False
        with self._lock:
            target.append(row)
            self.version += 1
        return True

    def __len__(self) -> int:
        return len(self.position) or len(self.gps_raw)

    def trim_before(self, t: float) -> None:
        """Forget samples older than ``t`` (bounds memory on long live links)."""
        with self._lock:
            for rows in (self.position, self.gps_raw, self.attitude, self.gimbal):
                cut = next((i for i, r in enumerate(rows) if r[0] >= t), len(rows))
                del rows[:cut]

    def to_track(self) -> TelemetryTrack:
        """Build the track; raises ``TelemetryError`` if there is no position message."""
        with self._lock:
            position = np.array(self.position, dtype=float).reshape(-1, 6)
            gps = np.array(self.gps_raw, dtype=float).reshape(-1, 6)
            attitude = np.array(self.attitude, dtype=float).reshape(-1, 4)
            gimbal = np.array(self.gimbal, dtype=float).reshape(-1, 5)
        cols: dict[str, np.ndarray] = {}
        if len(position):
            t = position[:, 0]
            cols.update(
                lat=position[:, 1],
                lon=position[:, 2],
                alt_msl=position[:, 3],
                alt_agl=position[:, 4],
                speed_mps=position[:, 5],
            )
        else:
            t = gps[:, 0]
            cols.update(
                lat=gps[:, 1],
                lon=gps[:, 2],
                alt_msl=gps[:, 3],
                alt_agl=gps[:, 3] - gps[0, 3] if len(gps) else gps[:, 3],
            )
        if len(gps) and len(t):
            cols["horizontal_accuracy_m"] = np.interp(t, gps[:, 0], gps[:, 4])
            cols["vertical_accuracy_m"] = np.interp(t, gps[:, 0], gps[:, 5])
        if len(attitude) and len(t):
            at, ai = _sorted(attitude)
            cols["roll"], cols["pitch"], cols["yaw"] = interp_attitude_deg(
                at, ai[:, 1], ai[:, 2], ai[:, 3], t
            )
        if len(gimbal) and len(t):
            gt, gi = _sorted(gimbal)
            cols["camera_roll"], cols["camera_pitch"], yaw = interp_attitude_deg(
                gt, gi[:, 1], gi[:, 2], gi[:, 3], t
            )
            relative = np.interp(t, gt, gi[:, 4]) > 0.5
            cols["camera_yaw"] = np.where(relative, (yaw + cols.get("yaw", 0.0)) % 360.0, yaw)
        lat, lon = cols.pop("lat"), cols.pop("lon")
        return TelemetryTrack.from_columns(self.source, time_utc=t, lat=lat, lon=lon, **cols)


def _sorted(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(rows[:, 0], kind="stable")
    return rows[order, 0], rows[order]
