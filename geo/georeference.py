"""Detections in pixels -> :class:`GeoEvent` on the earth (flat-ground ray casting).

All detections of a batch are cast in one vectorised pass: five rays per
detection (the taxonomy anchor point and the four box corners), in a local
metric frame centred on the batch.

Pose used per frame (see ``docs/architecture.md``):

* camera with a fixed ``mount``: yaw = vehicle ``Pose.yaw`` + mount yaw,
  pitch/roll = mount pitch/roll, height = mount height;
* otherwise the gimbal's earth-frame ``Pose.camera_pitch/yaw/roll`` (yaw falls
  back to the vehicle heading, roll to 0) and height = ``Pose.alt_agl``.

Frames without a pose, or without the height/pitch they need, are *unlocated*:
no events, but counted in :class:`GeoreferenceStats`.

Accuracy (``accuracy_m``, 1 sigma, metres) at a ground point at slant range
``s``, horizontal distance ``g`` from the nadir, camera height ``h``, focal
length ``f`` pixels::

    sigma^2 = sigma_pos^2                 # Pose.horizontal_accuracy_m
            + (s^2 / (f h))^2             # ground sample distance along the ray
            + (sigma_h * g / h)^2         # height error: d(g)/dh = g/h
            + (sigma_att * s^2 / h)^2     # attitude error (rad): d(g)/d(angle) = s^2/h

``sigma_h`` is ``Pose.vertical_accuracy_m`` (or ``MOUNT_HEIGHT_SIGMA_M`` for a
fixed mount); ``sigma_att`` is the ``attitude_sigma_deg`` argument. Flat-ground
model error (terrain relief, camera calibration) is not included.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from capture import Pose
from detect import DetectedFrame, Detections
from geo.camera import CameraModel
from geo.errors import GeoError
from geo.ids import event_id_for
from geo.raycast import DEFAULT_MAX_RANGE_M, cast_rays
from geo.types import GeoEvent
from taxonomy import Anchor, Taxonomy, load_taxonomy

MOUNT_HEIGHT_SIGMA_M = 0.05  # a measured fixed mount height
DEFAULT_ATTITUDE_SIGMA_DEG = 1.0  # gimbal/IMU attitude error, typical small UAV or vehicle


@dataclass
class GeoreferenceStats:
    """Running counters; pass the same object to successive :func:`georeference` calls."""

    frames: int = 0
    unlocated_frames: int = 0  # no pose, or no height / camera pitch to cast with
    detections: int = 0
    events: int = 0
    rejected_detections: int = 0  # anchor ray at/above the horizon or beyond max range
    events_without_footprint: int = 0  # some box corner missed the ground


@dataclass(frozen=True)
class CameraPose:
    """What ray casting needs of one frame: where the camera is and where it looks."""

    lon: float
    lat: float
    height_m: float
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    height_sigma_m: float
    position_sigma_m: float


def camera_pose(pose: Pose | None, camera: CameraModel) -> CameraPose | None:
    """The camera pose for ``pose`` under ``camera``'s mount rules; ``None`` if unlocated."""
    if pose is None or not (np.isfinite(pose.lat) and np.isfinite(pose.lon)):
        return None
    mount = camera.mount
    if mount is not None:
        return CameraPose(
            pose.lon,
            pose.lat,
            mount.height_m,
            pose.yaw + mount.yaw_deg,
            mount.pitch_deg,
            mount.roll_deg,
            MOUNT_HEIGHT_SIGMA_M,
            pose.horizontal_accuracy_m,
        )
    if pose.camera_pitch is None or pose.alt_agl is None or pose.alt_agl <= 0:
        return None
    yaw = pose.camera_yaw if pose.camera_yaw is not None else pose.yaw
    roll = pose.camera_roll if pose.camera_roll is not None else 0.0
    return CameraPose(
        pose.lon,
        pose.lat,
        pose.alt_agl,
        yaw,
        pose.camera_pitch,
        roll,
        pose.vertical_accuracy_m,
        pose.horizontal_accuracy_m,
    )


def _anchor_is_bottom(taxonomy: Taxonomy) -> np.ndarray:
    lookup = np.zeros(max(c.id for c in taxonomy.classes) + 1, dtype=bool)
    for c in taxonomy.classes:
        lookup[c.id] = c.anchor is Anchor.bottom_center
    return lookup


def _box_points(xyxy: np.ndarray, bottom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel u, v of shape (N, 5): anchor, then corners (x1,y1) (x1,y2) (x2,y2) (x2,y1).

    That order runs counter-clockwise as seen on the screen, and so on the
    ground seen from above (a camera above the ground never mirrors it): the
    GeoJSON (RFC 7946) exterior ring orientation.
    """
    x1, y1, x2, y2 = (xyxy[:, i].astype(np.float64) for i in range(4))
    au = (x1 + x2) / 2
    av = np.where(bottom, y2, (y1 + y2) / 2)
    return np.stack([au, x1, x1, x2, x2], axis=1), np.stack([av, y1, y2, y2, y1], axis=1)


def georeference(
    frames: Sequence[DetectedFrame],
    camera: CameraModel,
    *,
    mission_id: str,
    taxonomy: Taxonomy | None = None,
    stats: GeoreferenceStats | None = None,
    attitude_sigma_deg: float = DEFAULT_ATTITUDE_SIGMA_DEG,
    max_range_m: float = DEFAULT_MAX_RANGE_M,
) -> list[GeoEvent]:
    """Place every detection of ``frames`` on the ground; one :class:`GeoEvent` each.

    Detections whose anchor ray misses the ground are dropped (counted in
    ``stats.rejected_detections``); an event whose box corners do not all hit
    the ground has an empty ``footprint``.

    Example:
        >>> events = georeference(batch, camera, mission_id="m1", stats=stats)  # doctest: +SKIP
    """
    tax = taxonomy or load_taxonomy()
    stats = stats if stats is not None else GeoreferenceStats()
    bottom_lookup = _anchor_is_bottom(tax)
    keys = {c.id: c.key for c in tax.classes}

    located: list[tuple[DetectedFrame, CameraPose]] = []
    for df in frames:
        stats.frames += 1
        stats.detections += len(df.detections)
        cp = camera_pose(df.frame.pose, camera)
        if cp is None:
            stats.unlocated_frames += 1
        elif len(df.detections):
            located.append((df, cp))
    if not located:
        return []

    counts = np.array([len(df.detections) for df, _ in located])
    xyxy = np.concatenate([df.detections.xyxy for df, _ in located]).astype(np.float64)
    class_id = np.concatenate([df.detections.class_id for df, _ in located]).astype(np.int64)
    bad = (class_id < 0) | (class_id >= len(bottom_lookup))
    if bad.any():
        i = int(np.argmax(bad))
        frame_of = np.repeat(np.arange(len(located)), counts)[i]
        df = located[frame_of][0]
        raise GeoError(
            f"detections of {df.frame.source_id} frame {df.frame.index}: class_id "
            f"{class_id[i]} is not a taxonomy id"
        )
    pose_arr = np.array(
        [
            [
                cp.lon,
                cp.lat,
                cp.height_m,
                cp.yaw_deg,
                cp.pitch_deg,
                cp.roll_deg,
                cp.height_sigma_m,
                cp.position_sigma_m,
            ]
            for _, cp in located
        ]
    )
    per_det = np.repeat(pose_arr, counts, axis=0)
    # Frames may be resized relative to the camera model: scale pixels back.
    sizes = np.array([[camera.width / df.frame.width, camera.height / df.frame.height] for df, _ in located])
    scale = np.repeat(sizes, counts, axis=0)

    u, v = _box_points(xyxy, bottom_lookup[class_id])  # (N, 5)
    xn, yn = camera.normalized(u, v, scale[:, :1], scale[:, 1:])
    hits = cast_rays(
        xn.ravel(),
        yn.ravel(),
        lon=np.repeat(per_det[:, 0], 5),
        lat=np.repeat(per_det[:, 1], 5),
        height_m=np.repeat(per_det[:, 2], 5),
        yaw_deg=np.repeat(per_det[:, 3], 5),
        pitch_deg=np.repeat(per_det[:, 4], 5),
        roll_deg=np.repeat(per_det[:, 5], 5),
        max_range_m=max_range_m,
    )
    n = len(xyxy)
    hit = hits.hit.reshape(n, 5)
    lon, lat = hits.lon.reshape(n, 5), hits.lat.reshape(n, 5)
    slant, ground = hits.slant_m.reshape(n, 5)[:, 0], hits.ground_m.reshape(n, 5)[:, 0]
    h = per_det[:, 2]
    focal_px = (camera.fx / scale[:, 0] + camera.fy / scale[:, 1]) / 2
    att = np.radians(attitude_sigma_deg)
    accuracy = np.sqrt(
        per_det[:, 7] ** 2
        + (slant**2 / (focal_px * h)) ** 2
        + (per_det[:, 6] * ground / h) ** 2
        + (att * slant**2 / h) ** 2
    )

    anchor_hit = hit[:, 0]
    full_footprint: np.ndarray = np.all(hit, axis=1)
    stats.rejected_detections += int((~anchor_hit).sum())
    stats.events_without_footprint += int((anchor_hit & ~full_footprint).sum())
    stats.events += int(anchor_hit.sum())

    det_index = np.concatenate([np.arange(c) for c in counts])
    frame_of = np.repeat(np.arange(len(located)), counts)
    keep = np.flatnonzero(anchor_hit)
    # Building the records is the one per-detection loop: plain copies of values
    # converted to Python objects in bulk (``tolist``), no math.
    rings = np.stack([lon[:, [1, 2, 3, 4, 1]], lat[:, [1, 2, 3, 4, 1]]], axis=-1)[keep].tolist()
    columns = zip(
        keep.tolist(),
        frame_of[keep].tolist(),
        det_index[keep].tolist(),
        class_id[keep].tolist(),
        lon[keep, 0].tolist(),
        lat[keep, 0].tolist(),
        accuracy[keep].tolist(),
        xyxy[keep].tolist(),
        full_footprint[keep].tolist(),
        rings,
        strict=True,
    )
    times = [datetime.fromtimestamp(df.frame.time_utc, tz=UTC) for df, _ in located]
    events: list[GeoEvent] = []
    for _i, f, j, cid, ev_lon, ev_lat, acc, box, has_fp, ring in columns:
        frame, dets = located[f][0].frame, located[f][0].detections
        track = int(dets.tracker_id[j])
        events.append(
            GeoEvent(
                event_id=event_id_for(mission_id, frame.source_id, frame.index, j),
                class_id=cid,
                class_key=keys[cid],
                score=float(dets.confidence[j]),
                lon=ev_lon,
                lat=ev_lat,
                accuracy_m=acc,
                time_utc=times[f],
                mission_id=mission_id,
                source_id=frame.source_id,
                frame_index=frame.index,
                box_xyxy=(box[0], box[1], box[2], box[3]),
                footprint=tuple((p[0], p[1]) for p in ring) if has_fp else (),
                track_id=track if track >= 0 else None,
            )
        )
    return events


def bench_georeference(n: int = 10_000, per_frame: int = 20) -> float:
    """Detections per second that :func:`georeference` sustains on synthetic nadir frames."""
    from capture import Frame
    from hardware.profiles import load_camera_profile

    camera = CameraModel.from_profile(load_camera_profile("dji_m3e_wide"), 1920, 1080)
    rng = np.random.default_rng(0)
    image = np.zeros((1080, 1920, 3), np.uint8)
    frames = []
    for k in range(max(1, n // per_frame)):
        pose = Pose(
            time_utc=1.7e9 + k / 30,
            lat=30.27 + k * 1e-6,
            lon=120.15,
            alt_agl=40.0,
            camera_pitch=-90.0,
            camera_yaw=float(k % 360),
            camera_roll=0.0,
        )
        x1 = rng.uniform(0, 1800, per_frame)
        y1 = rng.uniform(0, 1000, per_frame)
        xyxy = np.stack([x1, y1, x1 + 60, y1 + 60], axis=1)
        dets = Detections.from_arrays(xyxy, rng.uniform(0.3, 1, per_frame), rng.integers(0, 28, per_frame))
        frames.append(DetectedFrame(Frame("bench", k, 0, pose.time_utc, image, pose), dets))
    total = sum(len(f.detections) for f in frames)
    start = time.perf_counter()
    georeference(frames, camera, mission_id="bench")
    return total / (time.perf_counter() - start)
