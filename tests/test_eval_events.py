"""evaluate_events() and load_ground_truth() on a small, hand-checked scene."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from fixtures_geo import ORIGIN_LAT, ORIGIN_LON, make_event, offset_lonlat, write_store

from geo import EvalReport, GeoError, evaluate_events, load_ground_truth
from stream.store import GeoPackageStore

# Ground truth in metres east/north of the origin.
OBJECTS = [
    ("A", "pothole", 4, 0.0, 0.0),
    ("B", "pothole", 4, 20.0, 0.0),
    ("C", "road_debris", 16, 0.0, 20.0),
    ("D", "illegal_parking_vehicle", 18, 40.0, 40.0),
]
# Events: (class_key, class_id, east, north): two hits on A, a miss near B (3 m off),
# a hit on C, and a pothole placed on C (wrong class).
EVENTS = [
    ("pothole", 4, 0.5, 0.0),
    ("pothole", 4, 0.0, 1.0),
    ("pothole", 4, 23.0, 0.0),
    ("road_debris", 16, 0.0, 21.5),
    ("pothole", 4, 0.0, 20.0),
]


def write_ground_truth(path: Path, objects=OBJECTS) -> Path:
    features = []
    for object_id, key, class_id, e, n in objects:
        lon, lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, e, n)
        ring = [[lon, lat], [lon + 1e-5, lat], [lon + 1e-5, lat + 1e-5], [lon, lat]]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {
                    "object_id": object_id,
                    "class_key": key,
                    "class_id": class_id,
                    "footprint": ring,
                    "size_m": [0.8, 0.6],
                },
            }
        )
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


@pytest.fixture
def scene(tmp_path: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    events = []
    for i, (key, class_id, e, n) in enumerate(EVENTS):
        lon, lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, e, n)
        events.append(make_event(i, class_key=key, class_id=class_id, lon=lon, lat=lat))
    with GeoPackageStore(write_store(tmp_path / "events.gpkg", events)) as store:
        read_back = store.read()
    return read_back, load_ground_truth(write_ground_truth(tmp_path / "ground_truth.geojson"))


def test_load_ground_truth_reads_points_and_properties(tmp_path: Path):
    gt = load_ground_truth(write_ground_truth(tmp_path / "gt.geojson"))
    assert gt.crs.to_epsg() == 4326 and len(gt) == 4
    assert list(gt["object_id"]) == ["A", "B", "C", "D"]
    assert gt.loc[3, "class_key"] == "illegal_parking_vehicle" and gt.loc[3, "class_id"] == 18
    assert len(gt.loc[0, "footprint"]) == 4 and gt.loc[0, "size_m"] == [0.8, 0.6]


def test_counts_ratios_and_errors(scene):
    events, gt = scene
    report = evaluate_events(events, gt, radius_m=2.0)
    assert isinstance(report, EvalReport)
    assert (report.events, report.objects, report.matched_events, report.matched_objects) == (5, 4, 3, 2)
    assert report.precision == pytest.approx(3 / 5)
    assert report.recall == pytest.approx(2 / 4)
    assert report.events_per_object == pytest.approx(1.5)
    assert report.geo_error_p50_m == pytest.approx(1.0, abs=1e-3)
    assert report.geo_error_p95_m == pytest.approx(np.percentile([0.5, 1.0, 1.5], 95), abs=1e-3)


def test_per_class_breakdown_and_json_ready_dict(scene):
    events, gt = scene
    report = evaluate_events(events, gt)
    pothole, debris, vehicle = (
        report.per_class[k] for k in ("pothole", "road_debris", "illegal_parking_vehicle")
    )
    assert (pothole.events, pothole.matched_events, pothole.objects, pothole.matched_objects) == (4, 2, 2, 1)
    assert (debris.precision, debris.recall) == (1.0, 1.0)
    assert vehicle.recall == 0.0 and np.isnan(vehicle.precision)
    d = report.to_dict()
    json.dumps(d, allow_nan=False)  # NaN became None
    assert d["per_class"]["illegal_parking_vehicle"]["precision"] is None
    assert d["radius_m"] == 2.0 and d["matched_events"] == 3


def test_larger_radius_matches_the_near_miss(scene):
    events, gt = scene
    report = evaluate_events(events, gt, radius_m=4.0)
    assert report.matched_events == 4 and report.matched_objects == 3
    assert report.per_class["pothole"].geo_error_p95_m > 2.0


def test_empty_inputs_and_bad_input(scene):
    events, gt = scene
    none = evaluate_events(events.iloc[:0], gt)
    assert none.events == 0 and none.recall == 0.0 and np.isnan(none.precision)
    with pytest.raises(GeoError, match="radius_m"):
        evaluate_events(events, gt, radius_m=0)
    with pytest.raises(GeoError, match="ground_truth has no 'class_key'"):
        evaluate_events(events, gt.drop(columns=["class_key"]))


def test_load_ground_truth_errors_name_file_and_key(tmp_path: Path):
    path = write_ground_truth(tmp_path / "gt.geojson")
    doc = json.loads(path.read_text())
    del doc["features"][1]["properties"]["class_key"]
    path.write_text(json.dumps(doc))
    with pytest.raises(GeoError, match=r"gt\.geojson: features\[1\]\.properties\.class_key: missing"):
        load_ground_truth(path)
    with pytest.raises(GeoError, match="not found"):
        load_ground_truth(tmp_path / "nope.geojson")
    (tmp_path / "bad.geojson").write_text("{not json")
    with pytest.raises(GeoError, match=r"bad\.geojson: not valid JSON"):
        load_ground_truth(tmp_path / "bad.geojson")
