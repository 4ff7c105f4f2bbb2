"""A pass as Kafka messages: case updates, frame footprints, platform tracks (versioned JSON)."""

from __future__ import annotations

import json

import geopandas as gpd
import pytest
from fixtures_geo import make_event
from shapely.geometry import Polygon

from geo.cases import CaseBook
from stream.pass_messages import case_update_message, footprint_messages, track_messages


def test_case_update_carries_the_case_after_the_pass() -> None:
    book = CaseBook()
    (update,) = book.ingest([make_event(0)], pass_id="p1")
    message = case_update_message(update, "p1")
    body = json.loads(message.value)
    assert message.kind == "cases" and message.key == update.case.case_id.encode()
    assert body["schema"] == "roadsight.case-update" and body["version"] == 1
    assert body["action"] == "new" and body["pass_id"] == "p1" and body["status"] == update.case.status.value
    assert body["lon"] == update.case.lon and body["first_seen_utc"].endswith("Z")


def test_footprints_are_geojson_in_wgs84_and_refuse_other_crs() -> None:
    square = Polygon([(120.0, 30.0), (120.001, 30.0), (120.001, 30.001), (120.0, 30.0)])
    rows = {
        "mission_id": ["m"],
        "source_id": ["cam0"],
        "frame_index": [7],
        "time_utc": ["2026-01-01T00:00:00+00:00"],
    }
    coverage = gpd.GeoDataFrame(rows, geometry=[square], crs=4326)
    (message,) = footprint_messages(coverage)
    body = json.loads(message.value)
    assert message.key == b"m/cam0" and body["frame_index"] == 7
    assert body["footprint"]["type"] == "Polygon" and body["footprint"]["coordinates"][0][0] == [120.0, 30.0]
    with pytest.raises(ValueError, match="EPSG:4326"):
        footprint_messages(coverage.to_crs(32651))
    assert footprint_messages(coverage.iloc[:0]) == []


def test_tracks_are_one_line_per_source_in_time_order() -> None:
    messages = track_messages(
        "m", ["a", "b", "a"], [20.0, 10.0, 10.0], [1.0, 5.0, 0.0], [2.0, 6.0, 1.0], [100.0, None, 99.0]
    )
    bodies = {json.loads(m.value)["source_id"]: json.loads(m.value) for m in messages}
    assert bodies["a"]["track"]["coordinates"] == [[0.0, 1.0, 99.0], [1.0, 2.0, 100.0]]  # sorted by time
    assert bodies["b"]["track"]["coordinates"] == [[5.0, 6.0]]  # no altitude: 2-D vertex
    assert bodies["a"]["times_utc"][0] == "1970-01-01T00:00:10Z"
