"""Detections in pixels -> WGS84 points, footprints and accuracies, column-wise.

:func:`georeference_arrays` is the hot path: every detection of a batch in one
vectorised pass over NumPy columns, five rays each (the taxonomy anchor point
and the four box corners), giving a :class:`GeoEventBatch`.
:func:`georeference` wraps it for :class:`DetectedFrame` lists and returns
:class:`GeoEvent` records (materialised from the batch).

Geometry per frame (see :mod:`geo.camera_poses` for heights and angles): the
ray of pixel ``(u, v)`` is ``R (x_n, y_n, 1)`` with ``R`` the camera axes and
``(x_n, y_n)`` the undistorted normalised coordinates; flat ground is the
plane ``h`` below the camera, terrain a DEM (:mod:`geo.dem`). Ground offsets
east/north of the camera become lon/lat by a second-order tangent expansion
(:class:`geo.crs.TangentOffsets`, < 0.1 mm at 100 m), so no PROJ call per point.

Frames without a usable pose are *unlocated*, anchors at/above the horizon or
beyond ``max_range_m`` *rejected*: no pin, but counted (:class:`GeoreferenceStats`).
Accuracy: first-order propagation, see :mod:`geo.accuracy`.

Example:
    >>> import numpy as np
    >>> from capture import Pose
    >>> cam = CameraModel(K=np.array([[500.0, 0, 500], [0, 500, 400], [0, 0, 1]]), width=1000, height=800)
    >>> poses = CameraPoses.from_poses([Pose(0.0, 30.27, 120.15, alt_agl=30.0, camera_pitch=-90.0)], cam)
    >>> box = np.array([[450.0, 350, 550, 450]])
    >>> batch = georeference_arrays(box, np.array([4]), np.array([0]), poses, cam)
    >>> round(float(batch.lon[0]), 6), round(float(batch.lat[0]), 6), batch.footprint.shape
    (120.15, 30.27, (1, 5, 2))
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from capture import PoseSeries
from detect import DetectedFrame, Detections
from geo.accuracy import DEFAULT_ANCHOR_SIGMA_PX, DEFAULT_ATTITUDE_SIGMA_DEG, ground_sigma_m
from geo.camera import CameraModel
from geo.camera_poses import CameraPoses
from geo.crs import TangentOffsets
from geo.dem import Terrain
from geo.errors import GeoError
from geo.raycast import DEFAULT_MAX_RANGE_M
from geo.types import GeoEvent, GeoEventBatch
from taxonomy import Anchor, Taxonomy, load_taxonomy

__all__ = [
    "DEFAULT_ATTITUDE_SIGMA_DEG",
    "GeoreferenceStats",
    "GroundPoints",
    "bench_georeference",
    "cast_pixels",
    "georeference",
    "georeference_arrays",
]

_CHUNK = 16_384  # detections per kernel pass: keeps the (chunk, 5) temporaries in cache
_RING = [1, 2, 3, 4, 1]  # box corners of the five points, closed


@dataclass
class GeoreferenceStats:
    """Running counters; pass the same object to successive :func:`georeference` calls."""

    frames: int = 0
    unlocated_frames: int = 0  # no pose, or no height / camera pitch to cast with
    detections: int = 0
    events: int = 0
    rejected_detections: int = 0  # anchor ray at/above the horizon, beyond max range or off the DEM
    events_without_footprint: int = 0  # some box corner missed the ground

    def add(self, batch: GeoEventBatch) -> None:
        """Count ``batch`` (its frames, detections and outcomes)."""
        located_frames = batch.frame_located
        self.frames += len(located_frames)
        self.unlocated_frames += int((~located_frames).sum())
        self.detections += len(batch)
        in_located = located_frames[batch.frame_of] if len(batch) else np.zeros(0, bool)
        self.events += int(batch.located.sum())
        self.rejected_detections += int((in_located & ~batch.located).sum())
        self.events_without_footprint += int((batch.located & ~batch.footprint_ok).sum())


_TABLES: dict[int, tuple[Taxonomy, np.ndarray, tuple[str, ...]]] = {}


def _taxonomy_tables(taxonomy: Taxonomy) -> tuple[np.ndarray, tuple[str, ...]]:
    """Per class id: is the anchor the bottom centre; and the class key (cached per taxonomy object)."""
    cached = _TABLES.get(id(taxonomy))
    if cached is not None and cached[0] is taxonomy:
        return cached[1], cached[2]
    size = max(c.id for c in taxonomy.classes) + 1
    bottom = np.zeros(size, dtype=bool)
    keys = [""] * size
    for c in taxonomy.classes:
        bottom[c.id] = c.anchor is Anchor.bottom_center
        keys[c.id] = c.key
    if len(_TABLES) > 16:
        _TABLES.clear()
    _TABLES[id(taxonomy)] = (taxonomy, bottom, tuple(keys))
    return bottom, tuple(keys)


def _pixels(xyxy: np.ndarray, bottom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel u, v of shape (N, 5): anchor, then corners (x1,y1) (x1,y2) (x2,y2) (x2,y1).

    That order runs counter-clockwise as seen on the screen, and so on the
    ground seen from above (a camera above the ground never mirrors it): the
    GeoJSON (RFC 7946) exterior ring orientation.
    """
    n = len(xyxy)
    x1, y1, x2, y2 = xyxy[:, 0], xyxy[:, 1], xyxy[:, 2], xyxy[:, 3]
    u = np.empty((n, 5))
    v = np.empty((n, 5))
    u[:, 0] = (x1 + x2) * 0.5
    v[:, 0] = np.where(bottom, y2, (y1 + y2) * 0.5)
    u[:, 1] = u[:, 2] = x1
    u[:, 3] = u[:, 4] = x2
    v[:, 1] = v[:, 4] = y1
    v[:, 2] = v[:, 3] = y2
    return u, v


@dataclass(frozen=True)
class GroundPoints:
    """Where pixel rays of ``n`` detections (``k`` points each) meet flat ground."""

    lon: np.ndarray  # (n, k) degrees, meaningless where not ``hit``
    lat: np.ndarray
    hit: np.ndarray  # (n, k): below the horizon and within range
    ray: tuple[np.ndarray, np.ndarray, np.ndarray]  # ENU components (n, k)
    axes: np.ndarray  # (n, 3, 3)
    height_m: np.ndarray  # (n,) camera above the anchor's ground point (flat: above the plane)


def cast_pixels(
    u: np.ndarray,
    v: np.ndarray,
    frames: np.ndarray,
    poses: CameraPoses,
    camera: CameraModel,
    *,
    scale: np.ndarray | None = None,
    tangent: TangentOffsets | None = None,
    max_range_m: float = DEFAULT_MAX_RANGE_M,
    terrain: Terrain | None = None,
    camera_z: np.ndarray | None = None,
) -> GroundPoints:
    """Cast pixels ``u``/``v`` ``(n, k)`` of frames ``frames`` ``(n,)`` (rows of located ``poses``).

    Flat ground ``poses.height_m`` below each camera, or ``terrain`` with the
    cameras at elevations ``camera_z`` ``(F,)`` (:meth:`Terrain.camera_elevation`).
    """
    if scale is None:
        sx = sy = np.ones((len(frames), 1))
    else:
        sx, sy = scale[frames, 0:1], scale[frames, 1:2]
    if camera.has_distortion:
        xn, yn = camera.normalized(u, v, sx, sy)
    else:
        K = camera.K
        xn = u * (sx / K[0, 0]) - K[0, 2] / K[0, 0]
        yn = v * (sy / K[1, 1]) - K[1, 2] / K[1, 1]
    A = poses.axes[frames]  # (n, 3, 3): columns right, down, forward
    rx = A[:, 0, 0:1] * xn + A[:, 0, 1:2] * yn + A[:, 0, 2:3]
    ry = A[:, 1, 0:1] * xn + A[:, 1, 1:2] * yn + A[:, 1, 2:3]
    rz = A[:, 2, 0:1] * xn + A[:, 2, 1:2] * yn + A[:, 2, 2:3]
    h = poses.height_m[frames]
    tan = (tangent if tangent is not None else TangentOffsets.at(poses.lon, poses.lat)).rows(frames[:, None])
    hom = camera.ground_homography
    if terrain is None and hom is not None and poses.mounted:
        # Calibrated road plane: undistorted pixels at the calibration size -> body metres -> east/north.
        K = camera.K
        hu = (K[0, 0] * xn + K[0, 2]) * (hom.width / camera.width)
        hv = (K[1, 1] * yn + K[1, 2]) * (hom.height / camera.height)
        right, forward, ok = hom.to_body(hu, hv)
        yaw = np.radians(poses.heading_deg[frames])[:, None]
        cos, sin = np.cos(yaw), np.sin(yaw)
        east = right * cos + forward * sin
        north = -right * sin + forward * cos
        hit = ok & (east * east + north * north <= max_range_m * max_range_m)
    elif terrain is None:
        with np.errstate(divide="ignore", invalid="ignore"):
            t = h[:, None] / -rz
            east = t * rx
            north = t * ry
        hit = (rz < 0) & (east * east + north * north <= max_range_m * max_range_m)
    else:
        if camera_z is None:
            raise GeoError("cast_pixels: terrain casting needs camera_z (camera elevations per frame)")
        k = rx.shape[1]
        per_ray = np.repeat(frames, k)
        full = tangent if tangent is not None else TangentOffsets.at(poses.lon, poses.lat)
        hits = terrain.intersect(
            full.rows(per_ray), camera_z[per_ray], rx.ravel(), ry.ravel(), rz.ravel(), max_range_m=max_range_m
        )
        east, north = hits.east.reshape(rx.shape), hits.north.reshape(rx.shape)
        hit = hits.hit.reshape(rx.shape)
        h = hits.height_above_m.reshape(rx.shape)[:, 0]  # local height above the anchor's ground point
    lon, lat = tan.to_lonlat(east, north)
    return GroundPoints(lon, lat, hit, (rx, ry, rz), A, h)


def _frame_scale(
    frame_size: np.ndarray | tuple[int, int] | None, camera: CameraModel, n_frames: int
) -> np.ndarray:
    """Model pixels per frame pixel, ``(F, 2)``: frames may be resized relative to the camera model."""
    if frame_size is None:
        return np.ones((n_frames, 2))
    size = np.broadcast_to(np.asarray(frame_size, np.float64), (n_frames, 2))
    if not np.all(size > 0):
        raise GeoError(f"frame sizes must be positive, got {size[~np.all(size > 0, axis=1)][0].tolist()}")
    return np.asarray(np.array([camera.width, camera.height], np.float64) / size)


def georeference_arrays(
    xyxy: np.ndarray,
    class_id: np.ndarray,
    frame_of: np.ndarray,
    poses: CameraPoses,
    camera: CameraModel,
    *,
    frame_size: np.ndarray | tuple[int, int] | None = None,
    score: np.ndarray | None = None,
    det_index: np.ndarray | None = None,
    track_id: np.ndarray | None = None,
    frame_source: Sequence[str] | str = "",
    frame_index: np.ndarray | None = None,
    mission_id: str = "",
    taxonomy: Taxonomy | None = None,
    anchor_sigma_px: float = DEFAULT_ANCHOR_SIGMA_PX,
    max_range_m: float = DEFAULT_MAX_RANGE_M,
    terrain: Terrain | None = None,
) -> GeoEventBatch:
    """Place ``N`` detections of ``F`` frames on the ground (flat, or ``terrain``), column-wise.

    ``xyxy`` ``(N, 4)`` are boxes in frame pixels, ``class_id`` taxonomy ids,
    ``frame_of`` each detection's row in ``poses`` (``F`` frames).
    ``frame_size`` ``(F, 2)`` or one ``(w, h)``: frame pixel sizes when they
    differ from the camera model's. ``det_index`` (position within the frame,
    for event ids) defaults to the running index per frame; ``frame_source``
    (one id or one per frame) and ``frame_index`` (default ``0..F-1``) name
    the frames of the events. Attitude sigmas come with ``poses``.
    """
    tax = taxonomy or load_taxonomy()
    bottom_lookup, keys = _taxonomy_tables(tax)
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    class_id = np.asarray(class_id, np.int64)
    frame_of = np.asarray(frame_of, np.intp)
    n, n_frames = len(xyxy), len(poses)
    sources = (frame_source,) * n_frames if isinstance(frame_source, str) else tuple(frame_source)
    f_index = np.arange(n_frames) if frame_index is None else np.asarray(frame_index, np.int64)
    if len(sources) != n_frames or f_index.shape != (n_frames,):
        raise GeoError(f"frame_source/frame_index: expected {n_frames} frames")
    if class_id.shape != (n,) or frame_of.shape != (n,):
        raise GeoError(f"class_id/frame_of: expected shape ({n},), got {class_id.shape} and {frame_of.shape}")
    if n and (frame_of.min() < 0 or frame_of.max() >= n_frames):
        raise GeoError(f"frame_of: indices must lie in 0..{n_frames - 1}")
    bad = (class_id < 0) | (class_id >= len(bottom_lookup))
    if bad.any():
        i = int(np.argmax(bad))
        f = int(frame_of[i])
        raise GeoError(
            f"detections of {sources[f]} frame {f_index[f]}: class_id {class_id[i]} is not a taxonomy id"
        )
    if det_index is None:
        # Running index within each frame (stable in input order).
        order = np.argsort(frame_of, kind="stable")
        starts = np.searchsorted(frame_of[order], np.arange(n_frames))
        det_index = np.empty(n, np.int64)
        det_index[order] = np.arange(n) - starts[frame_of[order]]
    scale = _frame_scale(frame_size, camera, n_frames)

    lon = np.full((n, 5), np.nan)
    lat = np.full((n, 5), np.nan)
    hit = np.zeros((n, 5), bool)
    accuracy = np.full(n, np.nan)
    frame_ok = poses.located[frame_of] if n else np.zeros(0, bool)
    tangent = TangentOffsets.at(poses.lon, poses.lat)
    camera_z = None
    if terrain is not None:
        camera_z = terrain.camera_elevation(
            poses.lon, poses.lat, poses.height_m, poses.alt_msl, mounted=poses.mounted
        )
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(n, start + _CHUNK))
        rows = np.flatnonzero(frame_ok[sl]) + start
        if rows.size == 0:
            continue
        u, v = _pixels(xyxy[rows], bottom_lookup[class_id[rows]])
        frames = frame_of[rows]
        g = cast_pixels(
            u,
            v,
            frames,
            poses,
            camera,
            scale=scale,
            tangent=tangent,
            max_range_m=max_range_m,
            terrain=terrain,
            camera_z=camera_z,
        )
        lon[rows], lat[rows], hit[rows] = g.lon, g.lat, g.hit
        accuracy[rows] = ground_sigma_m(
            np.stack([c[:, 0] for c in g.ray], axis=1),
            g.height_m,
            g.axes[:, :, 0],
            g.axes[:, :, 1],
            focal_px=(camera.K[0, 0] / scale[frames, 0] + camera.K[1, 1] / scale[frames, 1]) * 0.5,
            sigma_pos_m=poses.position_sigma_m[frames],
            sigma_h_m=poses.height_sigma_m[frames],
            sigma_att_rad=poses.attitude_sigma_rad[frames],
            sigma_px=anchor_sigma_px,
        )
    located = hit[:, 0]
    footprint_ok = np.asarray(hit.all(axis=1))
    footprint = np.stack([lon[:, _RING], lat[:, _RING]], axis=-1)
    footprint[~footprint_ok] = np.nan
    return GeoEventBatch(
        mission_id=mission_id,
        frame_of=frame_of,
        det_index=np.asarray(det_index, np.int64),
        class_id=class_id,
        score=np.ones(n, np.float32) if score is None else np.asarray(score),
        xyxy=xyxy,
        track_id=np.full(n, -1, np.int64) if track_id is None else np.asarray(track_id, np.int64),
        located=located,
        lon=np.where(located, lon[:, 0], np.nan),
        lat=np.where(located, lat[:, 0], np.nan),
        accuracy_m=np.where(located, accuracy, np.nan),
        footprint=footprint,
        footprint_ok=footprint_ok,
        frame_located=np.asarray(poses.located, bool),
        frame_source=sources,
        frame_index=f_index,
        frame_time=np.asarray(poses.time_utc, np.float64),
        class_keys=keys,
    )


def georeference_frames(
    frames: Sequence[DetectedFrame],
    camera: CameraModel,
    *,
    mission_id: str,
    taxonomy: Taxonomy | None = None,
    attitude_sigma_deg: float | None = None,
    anchor_sigma_px: float = DEFAULT_ANCHOR_SIGMA_PX,
    max_range_m: float = DEFAULT_MAX_RANGE_M,
    terrain: Terrain | None = None,
) -> GeoEventBatch:
    """:func:`georeference_arrays` over the detections of ``frames`` (poses from ``frame.pose``)."""
    dets: list[Detections] = [df.detections for df in frames]
    counts = np.array([len(d) for d in dets], np.intp)
    n = int(counts.sum())
    poses = CameraPoses.from_poses(
        [df.frame.pose for df in frames],
        camera,
        [df.frame.time_utc for df in frames],
        attitude_sigma_deg=attitude_sigma_deg,
    )

    def cat(name: str, width: int = 0) -> np.ndarray:
        parts = [getattr(d, name) for d in dets if len(d)]
        if not parts:
            return np.zeros((0, width) if width else 0)
        return np.concatenate(parts)

    return georeference_arrays(
        cat("xyxy", 4),
        cat("class_id").astype(np.int64),
        np.repeat(np.arange(len(frames)), counts),
        poses,
        camera,
        frame_size=np.array([[df.frame.width, df.frame.height] for df in frames], np.float64).reshape(-1, 2),
        score=cat("confidence"),
        det_index=np.concatenate([np.arange(c) for c in counts]) if n else np.zeros(0, np.int64),
        track_id=cat("tracker_id").astype(np.int64),
        frame_source=[df.frame.source_id for df in frames],
        frame_index=np.array([df.frame.index for df in frames], np.int64),
        mission_id=mission_id,
        taxonomy=taxonomy,
        anchor_sigma_px=anchor_sigma_px,
        max_range_m=max_range_m,
        terrain=terrain,
    )


def georeference(
    frames: Sequence[DetectedFrame],
    camera: CameraModel,
    *,
    mission_id: str,
    taxonomy: Taxonomy | None = None,
    stats: GeoreferenceStats | None = None,
    attitude_sigma_deg: float | None = None,
    anchor_sigma_px: float = DEFAULT_ANCHOR_SIGMA_PX,
    max_range_m: float = DEFAULT_MAX_RANGE_M,
    terrain: Terrain | None = None,
) -> list[GeoEvent]:
    """Place every detection of ``frames`` on the ground; one :class:`GeoEvent` each.

    Detections whose anchor ray misses the ground are dropped (counted in
    ``stats.rejected_detections``); an event whose box corners do not all hit
    the ground has an empty ``footprint``.

    Example:
        >>> events = georeference(batch, camera, mission_id="m1", stats=stats)  # doctest: +SKIP
    """
    batch = georeference_frames(
        frames,
        camera,
        mission_id=mission_id,
        taxonomy=taxonomy,
        attitude_sigma_deg=attitude_sigma_deg,
        anchor_sigma_px=anchor_sigma_px,
        max_range_m=max_range_m,
        terrain=terrain,
    )
    if stats is not None:
        stats.add(batch)
    return batch.events()


def _bench_inputs(
    n: int, per_frame: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, CameraPoses, CameraModel]:
    """Synthetic nadir frames with ``per_frame`` 60 px boxes each, as columns."""
    from hardware.profiles import load_camera_profile

    camera = CameraModel.from_profile(load_camera_profile("dji_m3e_wide"), 1920, 1080)
    rng = np.random.default_rng(0)
    n_frames = max(1, n // per_frame)
    k = np.arange(n_frames, dtype=np.float64)
    nan = np.full(n_frames, np.nan)
    series = {
        "time_utc": 1.7e9 + k / 30,
        "lat": 30.27 + k * 1e-6,
        "lon": np.full(n_frames, 120.15),
        "alt_msl": nan,
        "alt_agl": np.full(n_frames, 40.0),
        "roll": np.zeros(n_frames),
        "pitch": np.zeros(n_frames),
        "yaw": np.zeros(n_frames),
        "camera_pitch": np.full(n_frames, -90.0),
        "camera_yaw": k % 360,
        "camera_roll": np.zeros(n_frames),
        "horizontal_accuracy_m": np.full(n_frames, 0.5),
        "vertical_accuracy_m": np.full(n_frames, 1.0),
    }
    located = np.ones(n_frames, bool)
    poses = CameraPoses.from_series(PoseSeries(located=located, speed_mps=nan, **series), camera)
    total = n_frames * per_frame
    x1 = rng.uniform(0, 1800, total)
    y1 = rng.uniform(0, 1000, total)
    xyxy = np.stack([x1, y1, x1 + 60, y1 + 60], axis=1)
    class_id = rng.integers(0, 28, total)
    frame_of = np.repeat(np.arange(n_frames), per_frame)
    return xyxy, class_id, frame_of, poses, camera


def bench_georeference(n: int = 10_000, per_frame: int = 20, *, records: bool = False) -> float:
    """Detections per second of :func:`georeference_arrays` on synthetic nadir frames.

    With ``records=True`` the rate includes materialising :class:`GeoEvent` records.
    """
    xyxy, class_id, frame_of, poses, camera = _bench_inputs(n, per_frame)
    start = time.perf_counter()
    batch = georeference_arrays(
        xyxy, class_id, frame_of, poses, camera, mission_id="bench", frame_source="bench"
    )
    if records:
        batch.events()
    return len(xyxy) / (time.perf_counter() - start)
