"""End to end through this stage: boxes of known ground objects -> georeference -> store -> evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from fixtures_geo import GEOD, ORIGIN_LAT, ORIGIN_LON, T0, detected_frame, nadir_pose, offset_lonlat, pinhole

from geo import GeoreferenceStats, evaluate_events, georeference, load_ground_truth
from stream.store import GeoPackageStore

# (object_id, class_key, class_id, east, north): flat things anchor at the box centre,
# upright ones (id 18) at the bottom centre.
OBJECTS = [
    ("p1", "pothole", 4, 3.0, 2.0),
    ("p2", "pothole", 4, -8.0, 5.0),
    ("d1", "road_debris", 16, 6.0, -7.0),
    ("v1", "illegal_parking_vehicle", 18, -4.0, -6.0),
]


def pixel_of(
    east: float,
    north: float,
    cam_e: float,
    cam_n: float,
    h: float,
    yaw: float,
    f: float = 500.0,
    cx: float = 500.0,
    cy: float = 400.0,
) -> tuple[float, float]:
    """Nadir camera forward projection: image right = yaw direction rotated, image down = back."""
    de, dn = east - cam_e, north - cam_n
    y = np.radians(yaw)
    right = de * np.cos(y) - dn * np.sin(y)
    back = -(de * np.sin(y) + dn * np.cos(y))
    return cx + f * right / h, cy + f * back / h


def test_known_objects_are_recovered_within_centimetres(tmp_path: Path):
    features = []
    for oid, key, cid, e, n in OBJECTS:
        lon, lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, e, n)
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {"object_id": oid, "class_key": key, "class_id": cid},
            }
        )
    gt_path = tmp_path / "ground_truth.geojson"
    gt_path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))

    frames = []
    h = 25.0
    for k, (cam_e, cam_n, yaw) in enumerate([(0.0, 0.0, 0.0), (1.0, 0.5, 30.0), (-1.0, 1.0, 200.0)]):
        cam_lon, cam_lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, cam_e, cam_n)
        boxes, ids = [], []
        for _, _, cid, e, n in OBJECTS:
            u, v = pixel_of(e, n, cam_e, cam_n, h, yaw)
            boxes.append([u - 15, v - 30, u + 15, v] if cid == 18 else [u - 15, v - 15, u + 15, v + 15])
            ids.append(cid)
        pose = nadir_pose(h, yaw=yaw, lon=cam_lon, lat=cam_lat, t=T0 + k)
        frames.append(detected_frame(pose, boxes, ids, index=k, t=T0 + k))
    frames.append(detected_frame(None, [[0, 0, 5, 5]], [4], index=3))  # unlocated

    stats = GeoreferenceStats()
    events = georeference(frames, pinhole(), mission_id="e2e", stats=stats)
    assert (stats.events, stats.unlocated_frames) == (12, 1)
    with GeoPackageStore(tmp_path / "events.gpkg") as store:
        assert store.write(events) == 12
        assert store.write(georeference(frames, pinhole(), mission_id="e2e")) == 0  # replay
        report = evaluate_events(store.read(), load_ground_truth(gt_path), radius_m=1.0)
    assert report.recall == 1.0 and report.precision == 1.0
    assert report.events_per_object == pytest.approx(3.0)
    assert report.geo_error_p95_m < 0.01
    # Every event is also individually within a centimetre of its object (geodesic check).
    by_id = {o[0]: o for o in OBJECTS}
    for i, event in enumerate(events):
        _, _, _, obj_e, obj_n = by_id[OBJECTS[i % 4][0]]
        lon, lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, obj_e, obj_n)
        assert GEOD.inv(lon, lat, event.lon, event.lat)[2] < 0.01
