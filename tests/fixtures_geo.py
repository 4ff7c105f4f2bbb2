"""Shared builders for the geo, store, evaluation and dashboard tests (small, synthetic data)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyproj

from capture import Frame, Pose
from detect import DetectedFrame, Detections
from geo import CameraModel, GeoEvent
from stream.store import GeoPackageStore

ORIGIN_LON, ORIGIN_LAT = 120.15, 30.27
GEOD = pyproj.Geod(ellps="WGS84")
T0 = 1_780_000_000.0


def pinhole(width: int = 1000, height: int = 800, f: float = 500.0) -> CameraModel:
    """A simple camera: fx = fy = f, principal point at the image centre."""
    K = np.array([[f, 0, width / 2], [0, f, height / 2], [0, 0, 1.0]])
    return CameraModel(K=K, width=width, height=height)


def offset_lonlat(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    """The point ``east_m``/``north_m`` metres from ``lon``/``lat`` (geodesic, true north)."""
    az = np.degrees(np.arctan2(east_m, north_m))
    lon2, lat2, _ = GEOD.fwd(lon, lat, az, float(np.hypot(east_m, north_m)))
    return float(lon2), float(lat2)


def nadir_pose(
    alt: float = 30.0,
    yaw: float = 0.0,
    lon: float = ORIGIN_LON,
    lat: float = ORIGIN_LAT,
    t: float = T0,
    **kw: float,
) -> Pose:
    return Pose(
        time_utc=t, lat=lat, lon=lon, alt_agl=alt, camera_pitch=-90.0, camera_yaw=yaw, camera_roll=0.0, **kw
    )


def detected_frame(
    pose: Pose | None,
    boxes: Sequence[Sequence[float]],
    class_ids: Sequence[int],
    *,
    index: int = 0,
    source_id: str = "cam0",
    size: tuple[int, int] = (1000, 800),
    t: float = T0,
) -> DetectedFrame:
    """A frame of ``size`` (w, h) with the given boxes (its image is a real, small black array)."""
    w, h = size
    image = np.zeros((h, w, 3), np.uint8)
    dets = Detections.from_arrays(
        np.asarray(boxes, np.float32).reshape(-1, 4),
        np.full(len(boxes), 0.8, np.float32),
        np.asarray(class_ids),
    )
    return DetectedFrame(Frame(source_id, index, index * 33_000_000, t, image, pose), dets)


def make_event(
    i: int,
    *,
    class_key: str = "pothole",
    class_id: int = 4,
    lon: float = ORIGIN_LON,
    lat: float = ORIGIN_LAT,
    with_footprint: bool = True,
    mission_id: str = "m1",
) -> GeoEvent:
    fp: tuple[tuple[float, float], ...] = ()
    if with_footprint:
        d = 2e-6
        corners = ((-d, -d), (d, -d), (d, d), (-d, d), (-d, -d))
        fp = tuple((lon + dx, lat + dy) for dx, dy in corners)
    return GeoEvent(
        event_id=f"00000000-0000-5000-8000-{i:012d}",
        class_id=class_id,
        class_key=class_key,
        score=0.5 + (i % 5) / 10,
        lon=lon,
        lat=lat,
        accuracy_m=0.8,
        time_utc=datetime(2026, 11, 23, 9, 0, tzinfo=UTC) + timedelta(milliseconds=250 * i),
        mission_id=mission_id,
        source_id="cam0",
        frame_index=i,
        box_xyxy=(10.0, 20.0, 30.0, 40.0),
        footprint=fp,
        track_id=i if i % 2 else None,
    )


def small_events(n_potholes: int = 3, n_debris: int = 2) -> list[GeoEvent]:
    """Potholes and road debris a few metres apart around the origin."""
    events = []
    for i in range(n_potholes + n_debris):
        lon, lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, 5.0 * i, 3.0 * i)
        if i < n_potholes:
            events.append(make_event(i, lon=lon, lat=lat))
        else:
            events.append(make_event(i, class_key="road_debris", class_id=16, lon=lon, lat=lat))
    return events


def write_store(path: Path, events: Sequence[GeoEvent]) -> Path:
    with GeoPackageStore(path) as store:
        store.write(events)
    return path
