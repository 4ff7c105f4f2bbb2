"""`roadsight cases export|work-order` and `roadsight evidence report` on a small site (CliRunner)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
import typer
import yaml
from fixtures_evidence import Site, build_site
from fixtures_geo import ORIGIN_LAT, ORIGIN_LON
from typer.testing import CliRunner

from dashboard.roles import AccountBook, users_path_for
from roadsight.cli_exports import register

PASSWORD = "s3cret-pass"


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    evidence = typer.Typer()
    app.add_typer(evidence, name="evidence")
    register(app, evidence_app=evidence)
    return app


@pytest.fixture
def site(tmp_path: Path) -> Site:
    site = build_site(tmp_path)
    (tmp_path / "evidence").rename(tmp_path / "roadsight.evidence")  # where the pipeline puts it
    with AccountBook(users_path_for(site.store_path)) as accounts:
        for name, role in (("officer", "enforcement"), ("li", "road_manager"), ("crew", "field_crew")):
            accounts.add_user(name, role, PASSWORD)
    return site


def invoke(cli: typer.Typer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env={"ROADSIGHT_PASSWORD": PASSWORD})
    return result.exit_code, result.output


def test_cases_export_follows_the_user_role_and_filters(cli: typer.Typer, site: Site, tmp_path: Path) -> None:
    store = str(site.store_path)
    out = tmp_path / "officer.gpkg"
    code, output = invoke(cli, "cases", "export", "--out", str(out), "--user", "officer", "--store", store)
    assert code == 0, output
    back = gpd.read_file(out)
    assert list(back["case_id"]) == [site.case.case_id] and back.crs.to_epsg() == 4326
    assert list(back["review_state"]) == ["new"]
    # The case is enforcement evidence: a road manager's and a public export hold none of it.
    for extra in (["--user", "li"], []):
        public = tmp_path / f"p{len(extra)}.geojson"
        code, output = invoke(cli, "cases", "export", "--out", str(public), "--store", store, *extra)
        assert code == 0, output
        assert json.loads(public.read_text())["features"] == []
    code, output = invoke(
        cli, "cases", "export", "--out", str(tmp_path / "c.csv"), "--user", "crew", "--store", store
    )
    assert code == 1 and "may not export cases" in output
    code, _ = invoke(cli, "cases", "export", "--out", str(tmp_path / "f.csv"), "--user", "officer",
                     "--store", store, "--class", "pothole,rutting")  # fmt: skip
    assert code == 0 and (tmp_path / "f.csv").read_text().count("\n") == 1  # the header only
    code, output = invoke(cli, "cases", "export", "--out", str(tmp_path / "x.kml"), "--store", store)
    assert code == 1 and "x.kml" in output


def test_work_order_with_a_road_file(cli: typer.Typer, site: Site, tmp_path: Path) -> None:
    roads = tmp_path / "roads.geojson"
    line = shapely.LineString([(ORIGIN_LON - 1e-3, ORIGIN_LAT), (ORIGIN_LON + 1e-3, ORIGIN_LAT)])
    gpd.GeoDataFrame({"road_id": ["r1"], "name": ["Jiefang Rd"]}, geometry=[line], crs=4326).to_file(roads)
    pdf = tmp_path / "wo.pdf"
    store = str(site.store_path)
    code, output = invoke(cli, "cases", "work-order", "--road", "Jiefang Rd", "--out", str(pdf),
                          "--user", "officer", "--roads", str(roads), "--store", store)  # fmt: skip
    assert code == 0, output
    assert "1 open case" in output and pdf.read_bytes().startswith(b"%PDF")
    code, output = invoke(cli, "cases", "work-order", "--road", "Jiefang Rd", "--out", str(pdf),
                          "--store", str(site.store_path))  # fmt: skip
    assert code == 1 and "road network" in output
    # The store and the road file from a run config instead.
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"store": str(site.store_path), "roads": {"path": str(roads)}}))
    code, output = invoke(cli, "cases", "work-order", "--road", "r1", "--out", str(pdf), "--user", "officer",
                          "--config", str(config))  # fmt: skip
    assert code == 0 and "1 open case" in output, output
    config.write_text(yaml.safe_dump({"roads": {"max_distance_m": -1}}))
    code, output = invoke(
        cli, "cases", "work-order", "--road", "r1", "--out", str(pdf), "--config", str(config)
    )
    assert code == 1 and "roads.max_distance_m" in output


def test_evidence_report_command(cli: typer.Typer, site: Site, tmp_path: Path) -> None:
    pdf = tmp_path / "case.pdf"
    case = site.case.case_id
    code, output = invoke(cli, "evidence", "report", case, "--out", str(pdf), "--user", "officer",
                          "--store", str(site.store_path))  # fmt: skip
    assert code == 0, output
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b(?!s)", data)) == 3
    code, output = invoke(cli, "evidence", "report", case, "--out", str(tmp_path / "c.pdf"), "--user", "crew",
                          "--store", str(site.store_path))  # fmt: skip
    assert code == 1 and "enforcement case" in output and not (tmp_path / "c.pdf").exists()
