"""Per-frame camera poses, column-wise: what ray casting needs of every frame of a batch.

Heights: ``Pose.alt_agl`` is the height above the *take-off point* (MAVLink
``GLOBAL_POSITION_INT.relative_alt``, DJI SRT ``rel_alt``), not above the
terrain under the aircraft. Flat-ground casting puts the ground plane at the
take-off elevation, so the camera height above that plane is ``alt_agl``
(drones) or the mount height (vehicles, whose camera rides the road surface).
Terrain casting (``geo.dem``) needs the camera's elevation above mean sea
level instead: take-off elevation + ``alt_agl`` (the barometric relative
height, steadier than GNSS ``alt_msl``), or ground elevation under the vehicle
+ mount height.

Orientation: a gimbal reporting earth-frame angles (DJI, MAVLink gimbal status
with the earth-frame flags) gives ``camera_yaw/pitch/roll`` directly; a camera
with a ``mount`` in its profile is body-fixed, and its axes are the body
attitude (``Pose.yaw/pitch/roll``, 0 where the telemetry has none, as NMEA)
composed with the mount angles.

Example:
    >>> import numpy as np
    >>> from capture import Pose, PoseSeries
    >>> from geo.camera import CameraModel
    >>> cam = CameraModel(K=np.array([[500.0, 0, 500], [0, 500, 400], [0, 0, 1]]), width=1000, height=800)
    >>> pose = Pose(0.0, 30.27, 120.15, alt_agl=30.0, camera_pitch=-90.0)
    >>> poses = CameraPoses.from_poses([pose, None], cam)
    >>> poses.located.tolist(), float(poses.height_m[0])
    ([True, False], 30.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from capture import Pose, PoseSeries
from geo.accuracy import DEFAULT_ATTITUDE_SIGMA_DEG
from geo.camera import CameraModel, axes_matrix, mounted_axes

MOUNT_HEIGHT_SIGMA_M = 0.05  # a measured fixed mount height
DEFAULT_HORIZONTAL_SIGMA_M = 0.5  # Pose defaults where the telemetry gives no accuracy
DEFAULT_VERTICAL_SIGMA_M = 1.0


class PoseColumns(Protocol):
    """Pose fields as equal-length float arrays, NaN where unknown (``capture``'s ``PoseSeries``)."""

    @property
    def time_utc(self) -> np.ndarray: ...

    @property
    def lat(self) -> np.ndarray: ...

    @property
    def lon(self) -> np.ndarray: ...

    @property
    def alt_msl(self) -> np.ndarray: ...

    @property
    def alt_agl(self) -> np.ndarray: ...

    @property
    def roll(self) -> np.ndarray: ...

    @property
    def pitch(self) -> np.ndarray: ...

    @property
    def yaw(self) -> np.ndarray: ...

    @property
    def camera_pitch(self) -> np.ndarray: ...

    @property
    def camera_yaw(self) -> np.ndarray: ...

    @property
    def camera_roll(self) -> np.ndarray: ...

    @property
    def horizontal_accuracy_m(self) -> np.ndarray: ...

    @property
    def vertical_accuracy_m(self) -> np.ndarray: ...


_FIELDS = (
    "time_utc",
    "lat",
    "lon",
    "alt_msl",
    "alt_agl",
    "roll",
    "pitch",
    "yaw",
    "camera_pitch",
    "camera_yaw",
    "camera_roll",
    "horizontal_accuracy_m",
    "vertical_accuracy_m",
)


def _pose_series(cols: dict[str, np.ndarray]) -> PoseSeries:
    """Float64 pose columns as a :class:`PoseSeries` (``speed_mps`` is not needed here)."""
    located = np.isfinite(cols["lat"]) & np.isfinite(cols["lon"])
    return PoseSeries(located=located, speed_mps=np.full(located.shape, np.nan), **cols)


def _nan_if_none(v: float | None) -> float:
    return np.nan if v is None else float(v)


@dataclass(frozen=True)
class CameraPoses:
    """``F`` frames: camera position, height above the take-off ground plane, axes and 1-sigma errors.

    ``axes[i]`` has the camera's right, down and forward unit vectors (ENU) as
    columns. Rows where ``located`` is False are NaN and never cast.
    """

    time_utc: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    height_m: np.ndarray  # camera above the ground plane at the take-off elevation
    alt_msl: np.ndarray  # platform elevation above mean sea level, NaN if unknown
    axes: np.ndarray  # (F, 3, 3)
    heading_deg: np.ndarray  # platform heading (a mounted camera's body yaw), NaN if unlocated
    position_sigma_m: np.ndarray  # horizontal, radial 1 sigma
    height_sigma_m: np.ndarray
    attitude_sigma_rad: np.ndarray  # per axis
    located: np.ndarray  # bool
    mounted: bool = False  # body-fixed camera: height_m is above the ground under the platform

    def __len__(self) -> int:
        return int(self.lon.shape[0])

    @classmethod
    def from_series(
        cls, series: PoseColumns, camera: CameraModel, *, attitude_sigma_deg: float | None = None
    ) -> CameraPoses:
        """Vectorised from pose columns (NaN = unknown), e.g. ``TelemetryTrack.poses_at(times)``.

        ``attitude_sigma_deg`` (per axis) defaults to the mount's for a
        body-fixed camera, else ``DEFAULT_ATTITUDE_SIGMA_DEG`` (a gimbal).
        """
        c = _pose_series({name: np.asarray(getattr(series, name), np.float64) for name in _FIELDS})
        located = np.isfinite(c.lat) & np.isfinite(c.lon) & (np.abs(c.lat) <= 90.0)
        h_sigma_pos = np.where(
            np.isfinite(c.horizontal_accuracy_m), c.horizontal_accuracy_m, DEFAULT_HORIZONTAL_SIGMA_M
        )
        mount = camera.mount
        if mount is not None:
            # Body-fixed camera: attitude the telemetry lacks (NMEA) is level.
            pitch = np.nan_to_num(c.pitch, nan=0.0)
            roll = np.nan_to_num(c.roll, nan=0.0)
            located &= np.isfinite(c.yaw)
            axes = mounted_axes(np.where(located, c.yaw, 0.0), pitch, roll, mount)
            height = np.full(c.lat.shape, mount.height_m)
            h_sigma = np.full(c.lat.shape, MOUNT_HEIGHT_SIGMA_M)
            att_deg = mount.attitude_sigma_deg
        else:
            yaw = np.where(np.isfinite(c.camera_yaw), c.camera_yaw, c.yaw)
            roll = np.nan_to_num(c.camera_roll, nan=0.0)
            located &= (
                np.isfinite(c.camera_pitch) & np.isfinite(yaw) & np.isfinite(c.alt_agl) & (c.alt_agl > 0)
            )
            axes = axes_matrix(
                np.where(located, yaw, 0.0),
                np.where(located, c.camera_pitch, -90.0),
                np.where(located, roll, 0.0),
            )
            height = c.alt_agl
            h_sigma = np.where(
                np.isfinite(c.vertical_accuracy_m), c.vertical_accuracy_m, DEFAULT_VERTICAL_SIGMA_M
            )
            att_deg = DEFAULT_ATTITUDE_SIGMA_DEG
        if attitude_sigma_deg is not None:
            att_deg = attitude_sigma_deg
        nan = np.nan
        return cls(
            time_utc=c.time_utc,
            lon=np.where(located, c.lon, nan),
            lat=np.where(located, c.lat, nan),
            height_m=np.where(located, height, nan),
            alt_msl=c.alt_msl,
            axes=np.where(located[:, None, None], axes, nan),
            heading_deg=np.where(located, c.yaw, nan),
            position_sigma_m=h_sigma_pos,
            height_sigma_m=h_sigma,
            attitude_sigma_rad=np.full(c.lat.shape, np.radians(att_deg)),
            located=located,
            mounted=mount is not None,
        )

    @classmethod
    def from_poses(
        cls,
        poses: Sequence[Pose | None],
        camera: CameraModel,
        times: Sequence[float] | None = None,
        *,
        attitude_sigma_deg: float | None = None,
    ) -> CameraPoses:
        """From :class:`Pose` records (``None``: unlocated; its time from ``times`` or NaN)."""
        n = len(poses)
        cols = {name: np.full(n, np.nan) for name in _FIELDS}
        for i, p in enumerate(poses):
            if p is None:
                continue
            for name in _FIELDS:
                cols[name][i] = _nan_if_none(getattr(p, name))
        if times is not None:
            cols["time_utc"] = np.asarray(times, np.float64)
        return cls.from_series(_pose_series(cols), camera, attitude_sigma_deg=attitude_sigma_deg)
