"""Case table, filters and map layers of the dashboard on real case books (no Streamlit runtime)."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from fixtures_evidence import build_site
from PIL import Image

from dashboard.case_media import annotate, case_media
from dashboard.case_table import (
    case_from_table,
    case_table,
    read_case_book,
    read_coverage,
    review_states,
    tracks_from_coverage,
)
from dashboard.demo_data import DEMO_USERS, write_demo_site
from dashboard.filters import AreaError, CaseFilter, apply_filter, bbox_wkt, parse_area
from dashboard.map_layers import COVERAGE_LIMIT, GRID_SIDE, MapPick, build_case_map, grid_cells, map_pick
from dashboard.review import ReviewLog, ReviewState, review_path_for
from dashboard.roles import Role, authenticate, users_path_for
from dashboard.session import oidc_role
from dashboard.site import SitePaths
from geo.gcj02 import wgs84_to_gcj02
from stream import open_store
from stream.evidence import LocalEvidenceStore


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    site = write_demo_site(tmp_path_factory.mktemp("demo"), 5000, seed=7)
    raw = read_case_book(site.cases_path)
    return site, raw, case_table(raw, review_states(site.review_path))


def test_site_paths_match_the_cli():
    paths = SitePaths.for_store("data/roadsight.gpkg")
    got = [str(p) for p in (paths.cases, paths.review, paths.users, paths.evidence, paths.site_key)]
    assert got == [
        "data/roadsight.cases.gpkg",
        "data/roadsight.review.sqlite",
        "data/roadsight.users.sqlite",
        "data/roadsight.evidence",
        "data/site_key.pem",
    ]
    db = SitePaths.for_store("postgresql://rs@db/roadsight")
    assert db.store == "postgresql://rs@db/roadsight" and str(db.cases) == "data/roadsight.cases.gpkg"
    got = [str(p) for p in (db.review, db.users, db.evidence, db.site_key)]
    assert got == ["data/roadsight.review.sqlite", "data/roadsight.users.sqlite", "data/roadsight.evidence",
                   "data/site_key.pem"]  # fmt: skip
    # The CLI's own look-ups give the same files for a database store (not a path made of the URL).
    assert review_path_for(db.store) == db.review and users_path_for(db.store) == db.users


def test_case_table_joins_review_states(demo, tmp_path: Path):
    site, raw, table = demo
    assert len(table) == 5000 and set(table["status"]) == {"new"}
    assert table["severity"].between(1, 3).all()
    assert table["stake"].str.match(r"^K\d+\+\d{3}$").all()
    case = case_from_table(raw, site.defect_case_id)
    assert case is not None and case.case_id == site.defect_case_id
    assert case_from_table(raw, "no-such-case") is None
    review = tmp_path / "r.sqlite"
    manager = authenticate(site.users_path, "manager", DEMO_USERS["manager"][1])
    with ReviewLog(review) as log:
        log.transition(case, ReviewState.confirmed, user=manager, comment="ok")
        log.transition(case, ReviewState.dispatched, user=manager, comment="go", assignee="crew-1")
    joined = case_table(raw, review_states(review))
    row = joined[joined["case_id"] == case.case_id].iloc[0]
    assert (row["status"], row["assignee"]) == ("dispatched", "crew-1")
    assert (joined["status"] == "new").sum() == 4999


def test_filters(demo):
    site, _raw, table = demo
    assert len(apply_filter(table, CaseFilter())) == 5000
    severe = apply_filter(table, CaseFilter(severities=(3,)))
    assert 0 < len(severe) < 5000 and set(severe["severity"]) == {3}
    road = table["road_name"].iloc[0]
    on_road = apply_filter(table, CaseFilter(roads=(road,)))
    assert set(on_road["road_name"]) == {road}
    mission = site.missions[0]
    of_mission = apply_filter(table, CaseFilter(missions=(mission,)))
    assert (
        0 < len(of_mission) < 5000 and of_mission["missions"].str.split(",").map(lambda m: mission in m).all()
    )
    lon, lat = table["lon"].median(), table["lat"].median()
    area = parse_area(bbox_wkt(table["lon"].min(), table["lat"].min(), lon, lat))
    inside = apply_filter(table, CaseFilter(area=area))
    expected = ((table["lon"] <= lon) & (table["lat"] <= lat)).sum()
    assert len(inside) == expected and (inside["lon"] <= lon).all()
    day = table["last_seen_utc"].iloc[0].date()
    one_day = apply_filter(table, CaseFilter(time_range=(day, day)))
    assert (one_day["last_seen_utc"].dt.date == day).all() and len(one_day) >= 1
    assert len(apply_filter(table, CaseFilter(time_range=(date(2000, 1, 1), date(2000, 1, 2))))) == 0


def test_rejected_cases_are_not_in_the_default_filter(demo):
    _site, _raw, table = demo
    marked = table.copy()
    marked.loc[marked.index[:10], "status"] = "rejected"
    assert len(apply_filter(marked, CaseFilter())) == 4990
    assert len(apply_filter(marked, CaseFilter(statuses=("rejected",)))) == 10


def test_area_parsing():
    wkt = "POLYGON ((120 30, 121 30, 121 31, 120 31, 120 30))"
    ring = [[120, 30], [121, 30], [121, 31], [120, 31], [120, 30]]
    geojson = json.dumps({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}})
    from_wkt, from_geojson = parse_area(wkt), parse_area(geojson)
    assert from_wkt is not None and from_geojson is not None and from_wkt.equals(from_geojson)
    assert parse_area("  ") is None
    for bad, why in (
        ("POINT (1 2)", "Point"),
        ("junk", "not WKT"),
        ("POLYGON ((0 0, 500 0, 500 1, 0 0))", "WGS84"),
    ):
        with pytest.raises(AreaError, match=why):
            parse_area(bad)


def test_grid_aggregation_counts_every_case():
    rng = np.random.default_rng(0)
    lon, lat = rng.uniform(120, 120.1, 100_000), rng.uniform(30, 30.05, 100_000)
    sev = rng.integers(1, 4, 100_000)
    cells = grid_cells(lon, lat, sev)
    assert cells["count"].sum() == 100_000 and len(cells) <= GRID_SIDE * GRID_SIDE
    assert set(cells["max_severity"]) <= {1, 2, 3}
    # each cell's count is the points inside its bounds (the max point falls in the last cell)
    first = cells.iloc[0]
    inside = (lon >= first.min_lon) & (lon < first.max_lon) & (lat >= first.min_lat) & (lat < first.max_lat)
    assert inside.sum() == first["count"]


def test_map_sends_points_when_few_and_cells_when_many(demo):
    site, _raw, table = demo
    many = build_case_map(table)
    assert many.mode == "grid" and many.points_sent == 0 and 0 < many.cells_sent <= GRID_SIDE**2
    spec = json.loads(many.deck.to_json())
    (cells,) = [layer for layer in spec["layers"] if layer["id"] == "cells"]
    assert sum(c["count"] for c in cells["data"]) == 5000
    assert spec.get("mapStyle") in (None, "")  # offline by default: no basemap tiles
    few = build_case_map(table.head(50), color_by="severity")
    assert few.mode == "points" and few.points_sent == 50
    (points,) = [layer for layer in json.loads(few.deck.to_json())["layers"] if layer["id"] == "cases"]
    assert {tuple(p["color"]) for p in points["data"]} <= {(255, 196, 0), (255, 112, 0), (214, 24, 48)}
    assert all(p["case_id"] in p["tooltip"] for p in points["data"])
    coverage = read_coverage(site.cases_path)
    assert coverage is not None
    tracks = tracks_from_coverage(coverage)
    assert set(tracks["mission_id"]) == set(site.missions)
    with_cov = build_case_map(table.head(10), coverage=coverage, tracks=tracks)
    assert with_cov.coverage_total == len(coverage) and 0 < with_cov.coverage_sent <= COVERAGE_LIMIT
    assert with_cov.tracks_sent == len(tracks)


def test_gcj02_shift_only_when_asked(demo):
    _site, _raw, table = demo
    rows = table.head(3)
    plain = json.loads(build_case_map(rows).deck.to_json())
    shifted = json.loads(
        build_case_map(rows, map_style="https://webapi.amap.com/s.json", gcj02=True).deck.to_json()
    )
    p0 = next(layer for layer in plain["layers"] if layer["id"] == "cases")["data"][0]
    s0 = next(layer for layer in shifted["layers"] if layer["id"] == "cases")["data"][0]
    assert (p0["lon"], p0["lat"]) == pytest.approx((rows["lon"].iloc[0], rows["lat"].iloc[0]), abs=1e-7)
    gx, gy = wgs84_to_gcj02(np.array([p0["lon"]]), np.array([p0["lat"]]))
    assert (s0["lon"], s0["lat"]) == pytest.approx((gx[0], gy[0]), abs=1e-7)
    assert abs(s0["lon"] - p0["lon"]) > 1e-4  # hundreds of metres in Hangzhou


def test_oidc_role_mapping():
    config = {
        "role_claim": "roadsight_role",
        "roles": {"admin": ["Chief@City.example"], "field_crew": ["w@x"]},
    }
    assert oidc_role({"roadsight_role": "enforcement"}, config) is Role.enforcement
    assert oidc_role({"roadsight_role": ["nonsense", "road_manager"]}, config) is Role.road_manager
    assert oidc_role({"email": "chief@city.example"}, config) is Role.admin
    assert oidc_role({"email": "w@x", "roadsight_role": "root"}, config) is Role.field_crew
    assert oidc_role({"email": "stranger@x"}, config) is None


def test_case_media_draws_the_box_and_blurs_for_other_roles(tmp_path: Path):
    site = build_site(tmp_path)
    with open_store(site.store_path, readonly=True) as store:
        events = store.read()
    evidence = LocalEvidenceStore(site.evidence_root)
    original = case_media(events, evidence, blur=False)
    assert original.frame_png is not None and original.crop_png is not None and not original.blurred
    assert original.event_id == events.sort_values("score", ascending=False).iloc[0]["event_id"]
    frame = np.asarray(Image.open(io.BytesIO(original.frame_png)))
    assert frame.shape[:2] == (720, 1280)
    assert tuple(frame[20, 20]) == (255, 40, 40)  # the box outline (make_event's box: x 10..30, y 20..40)
    crop = np.asarray(Image.open(io.BytesIO(original.crop_png)))
    assert crop.shape[0] < 720 and crop.shape[1] < 1280
    blurred = case_media(events, evidence, blur=True)
    # blurred when the privacy module can, otherwise withheld: never the original for other roles
    assert blurred.blurred if blurred.frame_png is not None else "withheld" in (blurred.note or "")
    assert (
        case_media(events.iloc[0:0], evidence, blur=False).note
        == "No events of this case in the event store."
    )


def test_annotate_crops_around_the_box():
    image = Image.new("RGB", (1280, 720), (90, 90, 90))
    frame_png, crop_png = annotate(image, (600.0, 300.0, 700.0, 380.0))
    crop = Image.open(io.BytesIO(crop_png))
    assert crop.size == (100 + 2 * 60, 80 + 2 * 48)  # 60 % of the box on each side
    assert Image.open(io.BytesIO(frame_png)).size == (1280, 720)


def test_map_pick_turns_cells_into_an_area_and_a_point_into_a_case(demo):
    _site, _raw, table = demo
    many = json.loads(build_case_map(table).deck.to_json())
    (cells,) = [layer["data"] for layer in many["layers"] if layer["id"] == "cells"]
    picked = map_pick({"selection": {"indices": {"cells": [0, 1]}, "objects": {"cells": cells[:2]}}})
    area = parse_area(picked.area_wkt or "")
    assert area is not None and picked.case_id is None
    inside = apply_filter(table, CaseFilter(area=area))
    assert len(inside) >= cells[0]["count"] + cells[1]["count"]  # the box of both cells holds them all
    few = json.loads(build_case_map(table.head(5)).deck.to_json())
    (points,) = [layer["data"] for layer in few["layers"] if layer["id"] == "cases"]
    assert map_pick({"selection": {"objects": {"cases": [points[3]]}}}) == MapPick(None, points[3]["case_id"])
    assert map_pick(None) == MapPick() == map_pick({"selection": {"indices": {}, "objects": {}}})
