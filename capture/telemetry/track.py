"""A time-sorted telemetry track held as NumPy arrays, with vectorised pose lookup.

Unknown values are NaN in the arrays and ``None`` in a :class:`Pose`.

Example:
    >>> import numpy as np
    >>> track = TelemetryTrack.from_columns(
    ...     "demo", time_utc=np.array([0.0, 10.0]), lat=np.array([30.0, 30.001]),
    ...     lon=np.array([120.0, 120.0]), yaw=np.array([359.0, 1.0]))
    >>> pose = track.pose_at(5.0, max_gap_s=5.0)
    >>> round(pose.lat, 6), round(pose.yaw, 6)
    (30.0005, 0.0)
    >>> track.pose_at(4.0, max_gap_s=1.0) is None
    True
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from capture.errors import TelemetryError
from capture.telemetry.angles import wrap_360
from capture.telemetry.slerp import interp_attitude_deg
from capture.types import Pose

# Columns and how they are interpolated: linear, or on the circle (signed or 0..360).
LINEAR_COLUMNS = (
    "lat",
    "lon",
    "alt_msl",
    "alt_agl",
    "speed_mps",
    "horizontal_accuracy_m",
    "vertical_accuracy_m",
)
# Attitudes (roll, pitch, yaw column names): slerped as rotations where all three are known.
ATTITUDE_COLUMNS = (("roll", "pitch", "yaw"), ("camera_roll", "camera_pitch", "camera_yaw"))
_OPTIONAL = ("alt_msl", "alt_agl", "camera_pitch", "camera_yaw", "camera_roll", "speed_mps")
_DEFAULTS = {"roll": 0.0, "pitch": 0.0, "yaw": 0.0, "horizontal_accuracy_m": 0.5, "vertical_accuracy_m": 1.0}


def _opt(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


@dataclass(frozen=True, slots=True)
class PoseSeries:
    """Poses at many instants, column-wise; ``located`` is False where no pose is known."""

    time_utc: np.ndarray
    located: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    alt_msl: np.ndarray
    alt_agl: np.ndarray
    roll: np.ndarray
    pitch: np.ndarray
    yaw: np.ndarray
    camera_pitch: np.ndarray
    camera_yaw: np.ndarray
    camera_roll: np.ndarray
    speed_mps: np.ndarray
    horizontal_accuracy_m: np.ndarray
    vertical_accuracy_m: np.ndarray

    def __len__(self) -> int:
        return len(self.time_utc)

    def pose(self, i: int) -> Pose | None:
        """The ``i``-th pose, or None where it is not located."""
        if not self.located[i]:
            return None
        return Pose(
            time_utc=float(self.time_utc[i]),
            lat=float(self.lat[i]),
            lon=float(self.lon[i]),
            alt_msl=_opt(self.alt_msl[i]),
            alt_agl=_opt(self.alt_agl[i]),
            roll=float(np.nan_to_num(self.roll[i])),
            pitch=float(np.nan_to_num(self.pitch[i])),
            yaw=float(np.nan_to_num(self.yaw[i])),
            camera_pitch=_opt(self.camera_pitch[i]),
            camera_yaw=_opt(self.camera_yaw[i]),
            camera_roll=_opt(self.camera_roll[i]),
            speed_mps=_opt(self.speed_mps[i]),
            horizontal_accuracy_m=float(np.nan_to_num(self.horizontal_accuracy_m[i], nan=0.5)),
            vertical_accuracy_m=float(np.nan_to_num(self.vertical_accuracy_m[i], nan=1.0)),
        )

    @classmethod
    def unlocated(cls, times: np.ndarray) -> PoseSeries:
        """A series where no instant has a pose (no telemetry yet)."""
        at = np.atleast_1d(np.asarray(times, dtype=float))
        nan = np.full(at.shape, np.nan)
        return cls(at, np.zeros(at.shape, dtype=bool), **{name: nan for name in COLUMNS})

    def poses(self) -> list[Pose | None]:
        return [self.pose(i) for i in range(len(self))]


COLUMNS = tuple(f.name for f in fields(PoseSeries) if f.name not in ("time_utc", "located"))


class TelemetryTrack:
    """Sorted telemetry samples of one platform; ``source`` names where they came from.

    Build with :meth:`from_columns`; every column is a float array of the same
    length as ``time_utc`` (POSIX seconds UTC). Missing columns are NaN
    (``roll``/``pitch``/``yaw`` default to 0). Samples are sorted by time and
    duplicate instants keep the last sample; samples without latitude and
    longitude are dropped. Speed, when no source column
    gives it, is derived from consecutive positions.
    """

    def __init__(self, source: str, series: PoseSeries) -> None:
        self.source = source
        self.samples = series

    @classmethod
    def from_columns(
        cls, source: str, *, time_utc: np.ndarray, lat: np.ndarray, lon: np.ndarray, **columns: np.ndarray
    ) -> TelemetryTrack:
        unknown = set(columns) - set(COLUMNS)
        if unknown:
            raise TypeError(f"unknown telemetry columns: {sorted(unknown)}")
        t = np.asarray(time_utc, dtype=float)
        columns = {"lat": lat, "lon": lon, **columns}
        if t.ndim != 1 or len(t) == 0:
            raise TelemetryError(f"{source}: no telemetry samples")
        data: dict[str, np.ndarray] = {}
        for name in COLUMNS:
            if name in columns:
                col = np.asarray(columns[name], dtype=float)
                if col.shape != t.shape:
                    raise TypeError(f"column {name} has shape {col.shape}, time has {t.shape}")
            else:
                col = np.full(t.shape, _DEFAULTS.get(name, np.nan))
            data[name] = col
        # Stable sort, then keep the last sample of each instant.
        order = np.argsort(t, kind="stable")
        t = t[order]
        keep = np.append(t[1:] != t[:-1], True)
        # Samples without a fix are dropped: the time gap they leave is what makes frames unlocated.
        keep &= np.isfinite(data["lat"][order]) & np.isfinite(data["lon"][order])
        if not keep.any():
            raise TelemetryError(f"{source}: no telemetry sample has a position")
        t = t[keep]
        data = {k: v[order][keep] for k, v in data.items()}
        data["yaw"] = wrap_360(data["yaw"])
        if "speed_mps" not in columns and len(t) > 1:
            data["speed_mps"] = _speed_from_positions(t, data["lat"], data["lon"])
        return cls(source, PoseSeries(time_utc=t, located=np.ones(t.shape, dtype=bool), **data))

    # -- summary -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.samples)

    def __repr__(self) -> str:
        span = f"{self.start_time_utc:.3f}..{self.end_time_utc:.3f}"
        return f"TelemetryTrack({self.source!r}, {len(self)} samples, {span})"

    @property
    def start_time_utc(self) -> float:
        return float(self.samples.time_utc[0])

    @property
    def end_time_utc(self) -> float:
        return float(self.samples.time_utc[-1])

    # -- lookup --------------------------------------------------------------------
    def poses_at(self, times: np.ndarray, max_gap_s: float = 1.0) -> PoseSeries:
        """Poses at ``times`` (vectorised).

        Positions and heights are interpolated linearly; the aircraft attitude
        and the camera attitude each by quaternion slerp (an attitude with an
        unknown angle: each known angle along the shortest arc). An instant is
        unlocated when the nearest located sample is more than ``max_gap_s``
        away (this also bounds extrapolation past either end, which holds the
        end sample).
        """
        at = np.atleast_1d(np.asarray(times, dtype=float))
        s = self.samples
        t = s.time_utc
        right = np.clip(np.searchsorted(t, at), 0, len(t) - 1)
        left = np.clip(right - 1, 0, len(t) - 1)
        nearest = np.minimum(np.abs(at - t[left]), np.abs(at - t[right]))
        located = nearest <= max_gap_s
        cols: dict[str, np.ndarray] = {}
        for name in LINEAR_COLUMNS:
            cols[name] = _interp_linear(s.time_utc, getattr(s, name), at)
        for roll, pitch, yaw in ATTITUDE_COLUMNS:
            cols[roll], cols[pitch], cols[yaw] = interp_attitude_deg(
                t, getattr(s, roll), getattr(s, pitch), getattr(s, yaw), at
            )
        for name in ("lat", "lon"):
            cols[name] = np.where(located, cols[name], np.nan)
        return PoseSeries(time_utc=at, located=located, **cols)

    def pose_at(self, t: float, max_gap_s: float = 1.0) -> Pose | None:
        """The pose at ``t`` (POSIX seconds UTC), or None when no sample is within ``max_gap_s``."""
        return self.poses_at(np.array([t]), max_gap_s).pose(0)


def _interp_linear(t: np.ndarray, values: np.ndarray, at: np.ndarray) -> np.ndarray:
    if len(t) == 1:
        return np.full(at.shape, values[0])
    return np.interp(at, t, values)


def _speed_from_positions(t: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Ground speed (m/s) from consecutive fixes, equirectangular approximation (short steps)."""
    earth_r = 6_371_008.8
    dn = np.radians(np.diff(lat)) * earth_r
    de = np.radians(np.diff(lon)) * earth_r * np.cos(np.radians((lat[1:] + lat[:-1]) / 2))
    step = np.hypot(dn, de) / np.diff(t)
    # Each sample gets the mean speed of its neighbouring steps.
    padded = np.concatenate(([step[0]], step, [step[-1]]))
    return np.asarray((padded[:-1] + padded[1:]) / 2)
