"""Case exports: GeoPackage, GeoJSON, CSV and Excel round trips, filters, roles, and work-order PDFs."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from fixtures_geo import ORIGIN_LAT, ORIGIN_LON, make_event

from dashboard.exports import (
    WKT_COLUMN,
    WORK_ORDER_ROWS_PER_PAGE,
    ExportError,
    cases_for,
    export_cases,
    export_cases_bytes,
    filter_cases,
    with_review_states,
    work_order_pdf,
)
from dashboard.review import ReviewLog, ReviewState
from dashboard.roles import Role, User
from geo.cases import CASE_COLUMNS, CaseBook
from geo.roads import road_network_from_frame

CLASSES = (("pothole", 4), ("alligator_crack", 2), ("illegal_parking_vehicle", 18))


def build_cases(n: int) -> gpd.GeoDataFrame:
    """``n`` cases 20 m apart along one east-west line, classes in turn, one day apart."""
    events = []
    for i in range(n):
        key, cid = CLASSES[i % len(CLASSES)]
        e = make_event(i, class_key=key, class_id=cid, lon=ORIGIN_LON + i * 2e-4, lat=ORIGIN_LAT)
        events.append(replace(e, time_utc=e.time_utc + timedelta(days=i)))
    book = CaseBook()
    book.ingest(events)
    assert len(book) == n
    return book.to_geodataframe()


def snap_to_road(cases: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    line = shapely.LineString([(ORIGIN_LON - 1e-3, ORIGIN_LAT), (ORIGIN_LON + 0.02, ORIGIN_LAT)])
    roads = gpd.GeoDataFrame(
        {"road_id": ["r1"], "name": ["Jiefang Rd"], "stake_origin_m": [1000.0]}, geometry=[line], crs=4326
    )
    return road_network_from_frame(roads).annotate(cases)


def move(review: Path, cases: gpd.GeoDataFrame, i: int, to: ReviewState) -> str:
    """Move case ``i`` to ``to`` as a road manager; its case id."""
    case = CaseBook.from_geodataframe(cases[[*CASE_COLUMNS, "geometry"]]).cases[i]
    with ReviewLog(review) as log:
        log.transition(case, to, user=User("li", Role.road_manager), comment="looked at it")
    return case.case_id


@pytest.fixture
def cases() -> gpd.GeoDataFrame:
    return build_cases(9)


def test_geopackage_read_back_equals_the_filtered_cases(cases: gpd.GeoDataFrame, tmp_path: Path) -> None:
    chosen = filter_cases(cases, classes=["pothole", "alligator_crack"], since="2026-11-24")
    assert 0 < len(chosen) < len(cases)
    out = export_cases(chosen, tmp_path / "cases.gpkg")
    back = gpd.read_file(out, layer="cases")
    assert back.crs.to_epsg() == 4326
    assert list(back.columns) == list(chosen.columns)
    pd.testing.assert_frame_equal(
        pd.DataFrame(back.drop(columns="geometry")),
        pd.DataFrame(chosen.drop(columns="geometry")).reset_index(drop=True),
        check_dtype=False,
    )
    assert back.geometry.geom_equals_exact(chosen.geometry.reset_index(drop=True), tolerance=1e-9).all()


def test_geojson_csv_and_excel_round_trip(cases: gpd.GeoDataFrame, tmp_path: Path) -> None:
    geojson = export_cases(cases, tmp_path / "c.geojson")
    doc = json.loads(geojson.read_text())
    assert len(doc["features"]) == len(cases)
    back = gpd.read_file(geojson)
    assert sorted(back["case_id"]) == sorted(cases["case_id"])
    assert back.geometry.geom_equals_exact(cases.geometry, tolerance=1e-9).all()

    as_bytes = export_cases_bytes(cases, "geojson")
    assert json.loads(as_bytes)["features"] == doc["features"]

    csv = pd.read_csv(export_cases(cases, tmp_path / "c.csv"))
    assert list(csv["case_id"]) == list(cases["case_id"])
    assert list(csv["class_key"]) == list(cases["class_key"])
    assert gpd.GeoSeries.from_wkt(csv[WKT_COLUMN], crs=4326).geom_equals_exact(cases.geometry, 1e-9).all()

    xlsx = pd.read_excel(export_cases(cases, tmp_path / "c.xlsx"), sheet_name="cases")
    assert list(xlsx["case_id"]) == list(cases["case_id"])
    assert xlsx["lon"].to_numpy() == pytest.approx(cases["lon"].to_numpy())
    assert list(xlsx["first_seen_utc"]) == list(cases["first_seen_utc"])


def test_unknown_format_is_named_and_nothing_is_written(cases: gpd.GeoDataFrame, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match=r"cases\.shp.*'\.shp'"):
        export_cases(cases, tmp_path / "cases.shp")
    with pytest.raises(ExportError, match="unknown export format 'kml'"):
        export_cases(cases, tmp_path / "cases.gpkg", fmt="kml")
    assert list(tmp_path.iterdir()) == []


def test_filters_by_review_state_road_and_time(cases: gpd.GeoDataFrame, tmp_path: Path) -> None:
    review = tmp_path / "roadsight.review.sqlite"
    first = move(review, cases, 0, ReviewState.confirmed)
    states = with_review_states(cases, review)
    assert list(filter_cases(states, statuses=["confirmed"])["case_id"]) == [first]
    assert len(filter_cases(states, statuses=["new"])) == len(cases) - 1
    until = filter_cases(states, until="2026-11-25T00:00:00")
    assert len(until) == 2  # first seen on the 23rd and the 24th
    with pytest.raises(ExportError, match="road network"):
        filter_cases(states, roads=["Jiefang Rd"])
    on_road = filter_cases(snap_to_road(states), roads=["Jiefang Rd"])
    assert len(on_road) == len(cases)
    with pytest.raises(ExportError, match="since: not a date"):
        filter_cases(states, since="yesterday-ish")


def test_public_and_role_exports_leave_out_what_they_may_not_see(cases: gpd.GeoDataFrame) -> None:
    public = cases_for(None, cases)
    assert "enforcement" not in set(public["kind"]) and "evidence" not in public.columns
    manager = cases_for(User("li", Role.road_manager), cases)
    assert "enforcement" not in set(manager["kind"]) and "evidence" in manager.columns
    officer = cases_for(User("wang", Role.enforcement), cases)
    assert len(officer) == len(cases)


def pdf_pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", path.read_bytes()))


def test_work_order_pdf_lists_open_cases_of_the_road_by_chainage(tmp_path: Path) -> None:
    many = snap_to_road(build_cases(WORK_ORDER_ROWS_PER_PAGE + 5))
    review = tmp_path / "r.sqlite"
    move(review, many, 0, ReviewState.rejected)
    states = with_review_states(many, review)
    pdf = work_order_pdf(states, "Jiefang Rd", tmp_path / "wo.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and data.rstrip().endswith(b"%%EOF")
    assert pdf_pages(pdf) == 2  # 29 open cases (one rejected) at 25 a page
    empty = work_order_pdf(states, "No Such Rd", tmp_path / "none.pdf")
    assert pdf_pages(empty) == 1
    with pytest.raises(ExportError, match="road network"):
        work_order_pdf(build_cases(2), "Jiefang Rd", tmp_path / "x.pdf")
