"""Which frames to process: a new one each time the camera's ground footprint has moved on.

Processing every frame of a 30 fps video from a moving platform repeats the
same ground many times over. :class:`DistanceSelector` keeps a frame when the
platform has moved a fraction ``advance_fraction`` of the footprint's
along-track depth (:func:`footprint_depth_m`) since the last kept frame, with a
time cap while moving and nothing new while standing still.

Why ``advance_fraction = 0.5`` by default: an object of along-track length
``L`` lies fully inside some kept frame when consecutive kept footprints
(depth ``D``) advance by at most ``D - L``, i.e. ``advance_fraction <= 1 - L / D``.
At 0.5 every ground point is in about two kept frames and any object up to half
the usable depth (metres for a vehicle camera, tens of metres for a drone) is
whole in at least one of them, whatever the platform or camera.

Rules (the same for :meth:`DistanceSelector.select`, called per decoded frame,
and :meth:`DistanceSelector.select_series`, for a recorded track):

* the first frame is kept, and so is the first located frame (one with a pose);
* a located frame is kept when its straight-line ground distance from the last
  kept located frame is at least ``advance_fraction`` times the smaller of the
  two frames' footprint depths (*distance*). Straight-line displacement, not path
  length: GNSS jitter inflates a path's length while standing still, not the
  displacement (on a curve it is shorter, so frames come a little early);
* or when ``max_interval_s`` has passed since the last kept frame *and* the
  platform is moving (*time cap*): its mean ground speed since the last kept
  frame, and its reported speed where telemetry gives one, are at least
  ``stationary_speed_mps``. A platform standing still (a vehicle at a light, a
  hovering drone) sees the same ground, so no frame is kept however long it
  stands: those frames count as ``skipped_stationary``. Turning the camera in
  place (gimbal or yaw only) is not movement here;
* where the footprint depth is unknown (no height or camera pitch in the
  telemetry) only the time cap applies;
* an unlocated frame (no pose) is kept every ``max_interval_s`` (*unlocated*)
  so that the pipeline sees, and counts, that telemetry is missing;
* when the stream ends, its last frame is kept if it was skipped and the
  platform moved since the last kept frame (:meth:`DistanceSelector.select_final`):
  the ground that came into view since is in no kept frame otherwise;
* no two frames closer than ``min_interval_s`` are kept (0 by default; it
  bounds the processing rate at the cost of coverage at speed).

Example:
    >>> from capture.types import Pose
    >>> selector = DistanceSelector(depth_m=10.0)  # keep a frame every 5 m
    >>> east = 1e-4  # degrees of longitude per second: about 9.6 m/s at 30 degrees north
    >>> [selector.select(t, Pose(t, 30.0, 120.0 + t * east)) for t in (0.0, 0.25, 0.5, 0.75, 1.0)]
    [True, False, False, True, False]
    >>> selector.select(9.0, Pose(9.0, 30.0, 120.0 + 0.75 * east))  # stopped since t = 0.75
    False
    >>> c = selector.counts
    >>> c.frames_selected, c.selected_distance, c.skipped_stationary
    (2, 1, 1)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Protocol, overload

import numpy as np

from capture.telemetry.track import PoseSeries
from capture.types import Pose

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
# A ground sample distance beyond which the far part of an oblique view is not used: along the
# track, 5 cm per pixel row still resolves a pothole (~6 rows) but no longer a crack.
DEFAULT_MAX_GSD_M = 0.05
DEFAULT_MAX_RANGE_M = 50.0  # horizontal distance from the camera; beyond it, no usable ground

# Why a frame was kept (> 0) or skipped (<= 0).
_SKIP, _STATIONARY = 0, -1
_FIRST, _DISTANCE, _TIME, _UNLOCATED = 1, 2, 3, 4


class MountGeometry(Protocol):
    """A fixed camera mount (duck-typed ``hardware.profiles.CameraMount``)."""

    @property
    def height_m(self) -> float: ...

    @property
    def pitch_deg(self) -> float: ...


class CameraGeometry(Protocol):
    """What the footprint needs of a camera (duck-typed ``hardware.profiles.CameraProfile``)."""

    @property
    def sensor_height_mm(self) -> float: ...

    @property
    def focal_length_mm(self) -> float: ...

    @property
    def height_px(self) -> int: ...

    @property
    def mount(self) -> MountGeometry | None: ...


@overload
def footprint_depth_m(
    height_m: float,
    pitch_deg: float,
    vfov_deg: float,
    *,
    pixel_angle_rad: float | None = None,
    max_gsd_m: float = DEFAULT_MAX_GSD_M,
    max_range_m: float = DEFAULT_MAX_RANGE_M,
) -> float: ...


@overload
def footprint_depth_m(
    height_m: np.ndarray,
    pitch_deg: np.ndarray | float,
    vfov_deg: float,
    *,
    pixel_angle_rad: float | None = None,
    max_gsd_m: float = DEFAULT_MAX_GSD_M,
    max_range_m: float = DEFAULT_MAX_RANGE_M,
) -> np.ndarray: ...


def footprint_depth_m(
    height_m: float | np.ndarray,
    pitch_deg: float | np.ndarray,
    vfov_deg: float,
    *,
    pixel_angle_rad: float | None = None,
    max_gsd_m: float = DEFAULT_MAX_GSD_M,
    max_range_m: float = DEFAULT_MAX_RANGE_M,
) -> float | np.ndarray:
    """Usable along-track ground extent (metres) of a frame over flat ground; NaN where none.

    ``height_m`` is the camera's height above the ground, ``pitch_deg`` its
    earth-frame pitch (-90 straight down, 0 at the horizon), ``vfov_deg`` the
    vertical field of view; arrays broadcast. The extent runs along the
    camera's ground heading, from where the bottom image edge meets the ground
    to the far limit, the nearest of:

    * where the top image edge meets the ground (nadir: depth ``2 h tan(vfov/2)``);
    * ``max_range_m`` from the camera (horizontal);
    * where the along-track ground sample distance ``h * pixel_angle_rad / sin^2(depression)``
      exceeds ``max_gsd_m`` (given ``pixel_angle_rad``, the angle of one pixel row):
      an oblique view's far part, up to the horizon, is too coarse to use. This
      limit never cuts nearer than the optical axis, so a camera flown too high
      for ``max_gsd_m`` still counts at least the near half of its frame.

    Example:
        >>> round(footprint_depth_m(30.0, -90.0, 60.0), 2)  # 2 * 30 * tan(30 deg)
        34.64
        >>> round(footprint_depth_m(1.6, -20.0, 43.0, pixel_angle_rad=7.3e-4), 2)  # 1.81 m .. 10.35 m
        8.54
    """
    h = np.asarray(height_m, dtype=np.float64)
    depression = -np.radians(np.asarray(pitch_deg, dtype=np.float64))
    half = math.radians(vfov_deg) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        near_dep = depression + half
        far_dep = depression - half
        # Signed ground distance ahead of the camera where a ray of depression a meets the ground.
        x_near = np.where(near_dep > 0, h / np.tan(near_dep), np.nan)
        x_top = np.where(far_dep > 1e-9, h / np.tan(far_dep), np.inf)
        far = np.minimum(x_top, max_range_m)
        if pixel_angle_rad is not None:
            sin2 = h * pixel_angle_rad / max_gsd_m
            a_gsd = np.arcsin(np.sqrt(np.clip(sin2, 0.0, 1.0)))
            x_gsd = np.where(sin2 < 1.0, h / np.tan(a_gsd), -np.inf)
            x_axis = np.where(depression > 1e-9, h / np.tan(depression), -np.inf)
            far = np.minimum(far, np.maximum(x_gsd, x_axis))
        depth = far - x_near
    ok = np.isfinite(depth) & (depth > 0) & (h > 0)
    out = np.where(ok, depth, np.nan)
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True, slots=True)
class FootprintDepth:
    """The footprint depth of a camera at each pose: fixed mount, or height and gimbal pitch from telemetry.

    With a mount (a vehicle camera) its height and pitch apply, as in geo's
    camera pose; without one the pose's ``alt_agl`` and ``camera_pitch`` do,
    and the depth is unknown (NaN) where either is missing.
    """

    vfov_deg: float
    pixel_angle_rad: float | None = None
    mount_height_m: float | None = None
    mount_pitch_deg: float | None = None
    max_gsd_m: float = DEFAULT_MAX_GSD_M
    max_range_m: float = DEFAULT_MAX_RANGE_M

    @classmethod
    def from_profile(
        cls,
        profile: CameraGeometry,
        image_height_px: int | None = None,
        *,
        max_gsd_m: float = DEFAULT_MAX_GSD_M,
        max_range_m: float = DEFAULT_MAX_RANGE_M,
    ) -> FootprintDepth:
        """From a camera profile, for frames ``image_height_px`` rows high (default: native)."""
        rows = image_height_px or profile.height_px
        ratio = profile.sensor_height_mm / profile.focal_length_mm
        mount = profile.mount
        return cls(
            vfov_deg=math.degrees(2.0 * math.atan(ratio / 2.0)),
            pixel_angle_rad=ratio / rows,  # at the image centre; off-axis rows subtend less
            mount_height_m=mount.height_m if mount is not None else None,
            mount_pitch_deg=mount.pitch_deg if mount is not None else None,
            max_gsd_m=max_gsd_m,
            max_range_m=max_range_m,
        )

    def of_series(self, poses: PoseSeries) -> np.ndarray:
        """Depth (metres) at every pose of ``poses``; NaN where unknown."""
        return self.at(poses.alt_agl, poses.camera_pitch)

    def at(self, alt_agl: np.ndarray, camera_pitch: np.ndarray) -> np.ndarray:
        """Depth (metres) for telemetry heights above ground and gimbal pitches (NaN: unknown)."""
        height = np.asarray(alt_agl, dtype=np.float64)
        pitch = np.asarray(camera_pitch, dtype=np.float64)
        if self.mount_height_m is not None and self.mount_pitch_deg is not None:
            height = np.full(height.shape, self.mount_height_m)
            pitch = np.full(height.shape, self.mount_pitch_deg)
        return footprint_depth_m(
            height,
            pitch,
            self.vfov_deg,
            pixel_angle_rad=self.pixel_angle_rad,
            max_gsd_m=self.max_gsd_m,
            max_range_m=self.max_range_m,
        )


@dataclass(slots=True)
class SelectionCounts:
    """What the selector did with the frames it saw; every frame is one of selected or skipped."""

    frames_seen: int = 0
    frames_selected: int = 0
    selected_first: int = 0  # the first frame, and the first located one
    selected_distance: int = 0
    selected_time: int = 0  # time cap while moving (or depth unknown)
    selected_unlocated: int = 0  # no pose: kept every max_interval_s
    selected_final: int = 0  # the last frame of a stream, when it shows ground no kept frame did
    skipped_stationary: int = 0  # time cap due, but the platform stood still

    @property
    def frames_skipped(self) -> int:
        return self.frames_seen - self.frames_selected

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "frames_skipped": self.frames_skipped}


@dataclass(frozen=True, slots=True)
class _Anchor:
    """The last kept located frame: where distances are measured from."""

    lat: float
    lon: float
    depth_m: float  # NaN when unknown


@dataclass(frozen=True, slots=True)
class _Columns:
    """Per-frame inputs of a decision, as arrays."""

    time_utc: np.ndarray
    located: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    depth_m: np.ndarray
    speed_mps: np.ndarray

    def __getitem__(self, part: slice) -> _Columns:
        return _Columns(*(getattr(self, f.name)[part] for f in fields(self)))


def _ground_distance_m(lat0: float, lon0: float, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Great-circle distance (haversine) from one point to many, metres."""
    p0, p = math.radians(lat0), np.radians(lat)
    a = np.sin((p - p0) / 2) ** 2 + math.cos(p0) * np.cos(p) * np.sin(np.radians(lon - lon0) / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


class DistanceSelector:
    """Keeps a frame each time the ground footprint has advanced (rules in the module docstring).

    ``depth_m`` is the footprint's along-track depth: a constant in metres, or
    a :class:`FootprintDepth` evaluated at each pose (a drone's height and
    gimbal pitch change through a flight). The depth runs along the camera's
    ground heading, i.e. the track for forward, backward and nadir cameras
    whose image rows cross the direction of travel; for a camera looking
    sideways pass the across-track width as a constant instead.
    """

    def __init__(
        self,
        depth_m: float | FootprintDepth,
        *,
        advance_fraction: float = 0.5,
        max_interval_s: float = 2.0,
        min_interval_s: float = 0.0,
        stationary_speed_mps: float = 0.3,
    ) -> None:
        if not 0.0 < advance_fraction <= 1.0:
            raise ValueError(f"advance_fraction must be in (0, 1], got {advance_fraction!r}")
        if not max_interval_s > 0.0:
            raise ValueError(f"max_interval_s must be > 0 (math.inf: no time cap), got {max_interval_s!r}")
        if not 0.0 <= min_interval_s <= max_interval_s:
            raise ValueError(f"min_interval_s must be in [0, max_interval_s], got {min_interval_s!r}")
        if not stationary_speed_mps >= 0.0:
            raise ValueError(f"stationary_speed_mps must be >= 0, got {stationary_speed_mps!r}")
        if isinstance(depth_m, (int, float)) and not (math.isfinite(depth_m) and depth_m > 0):
            raise ValueError(f"depth_m must be a positive number of metres, got {depth_m!r}")
        self.depth_m = depth_m
        self.advance_fraction = float(advance_fraction)
        self.max_interval_s = float(max_interval_s)
        self.min_interval_s = float(min_interval_s)
        self.stationary_speed_mps = float(stationary_speed_mps)
        self.counts = SelectionCounts()
        self._last_time: float | None = None  # last kept frame, located or not
        self._anchor: _Anchor | None = None
        self._last_seen: _Columns | None = None  # the latest frame decided, while it was skipped

    @classmethod
    def from_profile(
        cls,
        profile: CameraGeometry,
        image_height_px: int | None = None,
        *,
        advance_fraction: float = 0.5,
        max_interval_s: float = 2.0,
        min_interval_s: float = 0.0,
        stationary_speed_mps: float = 0.3,
        max_gsd_m: float = DEFAULT_MAX_GSD_M,
        max_range_m: float = DEFAULT_MAX_RANGE_M,
    ) -> DistanceSelector:
        """A selector whose depth follows ``profile`` (a ``hardware`` camera profile) at each pose."""
        depth = FootprintDepth.from_profile(
            profile, image_height_px, max_gsd_m=max_gsd_m, max_range_m=max_range_m
        )
        return cls(
            depth,
            advance_fraction=advance_fraction,
            max_interval_s=max_interval_s,
            min_interval_s=min_interval_s,
            stationary_speed_mps=stationary_speed_mps,
        )

    # -- per frame -----------------------------------------------------------------
    def select(self, time_utc: float, pose: Pose | None) -> bool:
        """Whether to process the frame captured at ``time_utc`` (POSIX s) with ``pose`` (None: unlocated)."""
        if pose is None:
            return bool(self._select(self._columns(np.array([time_utc]), np.zeros(1, dtype=bool)))[0])

        def column(value: float | None) -> np.ndarray:
            return np.array([np.nan if value is None else value], dtype=np.float64)

        cols = self._columns(
            np.array([time_utc], dtype=np.float64),
            np.ones(1, dtype=bool),
            lat=column(pose.lat),
            lon=column(pose.lon),
            alt_agl=column(pose.alt_agl),
            camera_pitch=column(pose.camera_pitch),
            speed_mps=column(pose.speed_mps),
        )
        return bool(self._select(cols)[0])

    # -- recorded tracks -----------------------------------------------------------
    def select_final(self) -> bool:
        """The stream has ended: whether to process its last frame after all, though it was skipped.

        The ground that came into view after the last kept frame is in no kept
        frame yet; the last frame shows it when the platform moved since then
        (the time cap's notion of moving). False when the last frame was kept,
        is unlocated, or the platform stood still; counts as ``selected_final``.
        Call it once, after the last :meth:`select`, and process the frame it refers to.
        """
        last, self._last_seen = self._last_seen, None
        if last is None or self._anchor is None or self._last_time is None or not last.located[0]:
            return False
        if not self._moving(last)[0]:
            return False
        self._keep_state(last, 0)
        self.counts.selected_final += 1
        self.counts.frames_selected += 1
        return True

    def select_series(self, poses: PoseSeries, *, final: bool = False) -> np.ndarray:
        """Keep-mask for consecutive frames with ``poses`` (e.g. ``track.poses_at(frame_times)``).

        Equivalent to calling :meth:`select` on each frame in order (state and
        counts carry on), then :meth:`select_final` when ``final`` (the series
        ends the recording), but vectorised: each step evaluates the rules for
        a block of frames at once and jumps to the first one kept, so the
        Python loop runs about once per kept frame, not per frame.
        """
        cols = self._columns(
            poses.time_utc,
            poses.located,
            lat=poses.lat,
            lon=poses.lon,
            alt_agl=poses.alt_agl,
            camera_pitch=poses.camera_pitch,
            speed_mps=poses.speed_mps,
        )
        keep = self._select(cols)
        if final and len(keep) and self.select_final():
            keep[-1] = True
        return keep

    def _columns(
        self,
        time_utc: np.ndarray,
        located: np.ndarray,
        *,
        lat: np.ndarray | None = None,
        lon: np.ndarray | None = None,
        alt_agl: np.ndarray | None = None,
        camera_pitch: np.ndarray | None = None,
        speed_mps: np.ndarray | None = None,
    ) -> _Columns:
        t = np.asarray(time_utc, dtype=np.float64)
        nan = np.full(t.shape, np.nan)
        lat = nan if lat is None else np.asarray(lat, dtype=np.float64)
        lon = nan if lon is None else np.asarray(lon, dtype=np.float64)
        if isinstance(self.depth_m, FootprintDepth):
            depth = self.depth_m.at(
                nan if alt_agl is None else alt_agl, nan if camera_pitch is None else camera_pitch
            )
        else:
            depth = np.full(t.shape, float(self.depth_m))
        return _Columns(
            time_utc=t,
            located=np.asarray(located, dtype=bool) & np.isfinite(lat) & np.isfinite(lon),
            lat=lat,
            lon=lon,
            depth_m=depth,
            speed_mps=nan if speed_mps is None else np.asarray(speed_mps, dtype=np.float64),
        )

    def _select(self, cols: _Columns) -> np.ndarray:
        n = len(cols.time_utc)
        keep = np.zeros(n, dtype=bool)
        start, block = 0, 16
        while start < n:
            stop = min(n, start + block)
            reasons = self._reasons(cols[start:stop])
            kept = np.flatnonzero(reasons > 0)
            decided = reasons if kept.size == 0 else reasons[: kept[0] + 1]
            self._count(decided)
            if kept.size == 0:
                start, block = stop, min(2 * block, 4096)
                continue
            i = start + int(kept[0])
            keep[i] = True
            self._keep_state(cols, i)
            # The next kept frame is likely about as far on as this one was.
            start, block = i + 1, max(16, 2 * (int(kept[0]) + 1))
        self._last_seen = None if n == 0 or keep[-1] else cols[n - 1 :]
        return keep

    def _reasons(self, c: _Columns) -> np.ndarray:
        """Why each frame would be kept (> 0) or skipped (<= 0), judged against the current state alone."""
        reasons = np.full(len(c.time_utc), _SKIP, dtype=np.int8)
        if self._last_time is None:
            reasons[:] = _FIRST
            return reasons
        elapsed = c.time_utc - self._last_time
        allowed = elapsed >= self.min_interval_s
        due = elapsed >= self.max_interval_s
        reasons[~c.located & due] = _UNLOCATED
        if self._anchor is None:
            reasons[c.located & allowed] = _FIRST
            return reasons
        moving, moved = self._moving(c)
        with np.errstate(invalid="ignore"):
            # False where the depth is unknown
            far_enough = moved >= self.advance_fraction * np.fmin(self._anchor.depth_m, c.depth_m)
        timed = c.located & due & ~far_enough
        reasons[timed & ~moving] = _STATIONARY
        reasons[timed & moving] = _TIME
        reasons[c.located & allowed & far_enough] = _DISTANCE
        return reasons

    def _moving(self, c: _Columns) -> tuple[np.ndarray, np.ndarray]:
        """Whether the platform moves (mean speed since the last kept frame; reported speed) and how far."""
        assert self._anchor is not None and self._last_time is not None
        moved = _ground_distance_m(self._anchor.lat, self._anchor.lon, c.lat, c.lon)
        with np.errstate(invalid="ignore"):
            slow = c.speed_mps < self.stationary_speed_mps  # False where no speed is reported
        mean_speed_ok = moved >= self.stationary_speed_mps * (c.time_utc - self._last_time)
        return mean_speed_ok & ~slow, moved

    def _count(self, reasons: np.ndarray) -> None:
        counts = self.counts
        counts.frames_seen += len(reasons)
        counts.skipped_stationary += int(np.count_nonzero(reasons == _STATIONARY))
        for code, name in (
            (_FIRST, "selected_first"),
            (_DISTANCE, "selected_distance"),
            (_TIME, "selected_time"),
            (_UNLOCATED, "selected_unlocated"),
        ):
            n = int(np.count_nonzero(reasons == code))
            setattr(counts, name, getattr(counts, name) + n)
            counts.frames_selected += n

    def _keep_state(self, c: _Columns, i: int) -> None:
        self._last_time = float(c.time_utc[i])
        if c.located[i]:
            self._anchor = _Anchor(float(c.lat[i]), float(c.lon[i]), float(c.depth_m[i]))
