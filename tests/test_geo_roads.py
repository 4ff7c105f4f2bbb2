"""Road referencing: stake chainage, side and offset on a curved simulated road and an OSM-like file.

The curved road is the simulator's centre line (``hardware.sim.road``) of a
scenario with its curvature set; objects are placed at exact arc lengths and
lateral offsets, so their ground-truth chainage is the arc length itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from geo import GeoError
from geo.roads import OSM_COLUMNS, RoadColumns, format_stake, load_road_network, parse_stake
from hardware.sim.generate import road_spec
from hardware.sim.road import Road
from hardware.sim.scenario import load_scenario
from hardware.sim.world import local_crs

STAKE_ORIGIN_M = 12_000.0


def curved_road(curvature_deg_per_100m: float) -> tuple[Road, Transformer]:
    """The centre line of ``drone_sample`` (seed 0) made 600 m long with the given curvature."""
    sc = load_scenario("drone_sample")
    shape = sc.road.model_copy(update={"curvature_deg_per_100m": curvature_deg_per_100m, "length_m": 600.0})
    sc = sc.model_copy(update={"road": shape})
    to_wgs84 = Transformer.from_crs(local_crs(sc.origin.lat, sc.origin.lon), "EPSG:4326", always_xy=True)
    return Road(road_spec(sc, 0)), to_wgs84


def lonlat(to_wgs84: Transformer, xy: np.ndarray) -> np.ndarray:
    lon, lat = to_wgs84.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def write_geojson(path: Path, features: list[dict[str, object]]) -> Path:
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}), encoding="utf-8")
    return path


def line_feature(coords: np.ndarray, **props: object) -> dict[str, object]:
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": "LineString", "coordinates": coords.tolist()},
    }


@pytest.mark.parametrize("reverse", [False, True], ids=["digitised-with-stakes", "digitised-against"])
def test_chainage_within_1_m_of_ground_truth_on_a_curved_road(tmp_path: Path, reverse: bool) -> None:
    road, to_wgs84 = curved_road(curvature_deg_per_100m=20.0)  # radius ~290 m, 120 degrees of turn
    s_line = np.arange(0.0, road.spec.length_m + 1e-9, 2.0)
    centre = lonlat(to_wgs84, road.points(s_line))
    props: dict[str, object] = {"road_id": "R12", "name": "Curved Rd", "direction": "forward",
                                "stake_origin_m": STAKE_ORIGIN_M}  # fmt: skip
    if reverse:  # digitised from the far end: stakes decrease along the line
        centre = centre[::-1]
        props |= {
            "direction": "backward",
            "stake_origin_m": format_stake(STAKE_ORIGIN_M + road.spec.length_m),
        }
    network = load_road_network(write_geojson(tmp_path / "roads.geojson", [line_feature(centre, **props)]))

    rng = np.random.default_rng(7)
    s = rng.uniform(5.0, road.spec.length_m - 5.0, 200)
    t = rng.uniform(-12.0, 12.0, 200)
    pts = lonlat(to_wgs84, road.points(s, t))
    cases = gpd.GeoDataFrame({"case_id": np.arange(200)}, geometry=gpd.points_from_xy(*pts.T), crs=4326)
    out = network.annotate(cases, max_distance_m=20.0)

    truth = STAKE_ORIGIN_M + s
    err = np.abs(out["chainage_m"].to_numpy(float) - truth)
    assert err.max() < 1.0
    assert np.median(err) < 0.1
    assert (out["road_id"] == "R12").all() and (out["road_name"] == "Curved Rd").all()
    stakes = out["stake"].map(parse_stake).to_numpy(float)
    assert np.abs(stakes - truth).max() <= 1.5  # whole metres
    # Side and offset: the simulator's t is positive to the right of its direction of travel.
    sign = -1.0 if reverse else 1.0
    assert np.abs(out["offset_m"].to_numpy(float) - sign * t).max() < 0.1
    clear = np.abs(t) > 0.1
    expect = np.where(sign * t > 0, "right", "left")
    assert (out["side"].to_numpy()[clear] == expect[clear]).all()


def test_points_far_from_every_road_keep_null_road_fields(tmp_path: Path) -> None:
    road, to_wgs84 = curved_road(curvature_deg_per_100m=-8.0)
    centre = lonlat(to_wgs84, road.points(np.arange(0.0, road.spec.length_m + 1e-9, 5.0)))
    network = load_road_network(
        write_geojson(tmp_path / "r.geojson", [line_feature(centre, road_id=7, name="Ring")])
    )
    assert network.roads["stake_origin_m"].tolist() == [0.0]
    assert "direction" in network.defaulted and "stake_origin_m" in network.defaulted
    pts = lonlat(to_wgs84, road.points(np.array([100.0, 100.0, 300.0]), np.array([5.0, 45.0, -19.0])))
    cases = gpd.GeoDataFrame(geometry=gpd.points_from_xy(*pts.T), crs=4326, index=[10, 11, 12])
    out = network.snap(cases, max_distance_m=20.0)
    assert out.loc[10, "road_id"] == "7" and out.loc[12, "road_id"] == "7"
    assert out.loc[11, ["road_id", "road_name", "stake", "side"]].isna().all()
    assert np.isnan(out.loc[11, "chainage_m"]) and np.isnan(out.loc[11, "offset_m"])
    assert out.loc[10, "stake"] == "K0+100" and out.loc[12, "side"] == "left"


def osm_extract(path: Path) -> Path:
    """Two crossing OSM ways near Hangzhou's West Lake, as an Overpass/ogr2ogr export would give them."""
    lon0, lat0 = 120.1551, 30.2741
    dlat = 1.0 / 111_000.0
    dlon = dlat / np.cos(np.radians(lat0))
    east_west = np.array([[lon0 - 200 * dlon, lat0], [lon0 + 200 * dlon, lat0]])
    north_south = np.array([[lon0 + 100 * dlon, lat0 - 150 * dlat], [lon0 + 100 * dlon, lat0 + 150 * dlat]])
    return write_geojson(
        path,
        [
            line_feature(east_west, osm_id=28434571, name="文一路", ref=None, highway="primary"),
            line_feature(north_south, osm_id=40071234, name=None, ref="S101", highway="secondary"),
        ],
    )


def test_an_osm_extract_maps_osm_id_name_and_ref(tmp_path: Path) -> None:
    network = load_road_network(osm_extract(tmp_path / "osm.geojson"), OSM_COLUMNS)
    assert network.roads["road_id"].tolist() == ["28434571", "40071234"]
    assert network.roads["road_name"].tolist() == ["文一路", "S101"]  # no name: the road number
    lat0 = 30.2741
    dlat = 1.0 / 111_000.0
    dlon = dlat / np.cos(np.radians(lat0))
    # 50 m from the east-west way's start, 3 m north (left of its west-to-east digitising).
    pts = gpd.GeoSeries(
        gpd.points_from_xy(
            [120.1551 - 150 * dlon, 120.1551 + 104 * dlon], [lat0 + 3 * dlat, lat0 + 80 * dlat]
        ),
        crs=4326,
    )
    out = network.snap(pts, max_distance_m=15.0)
    assert out.loc[0, "road_id"] == "28434571" and out.loc[0, "side"] == "left"
    assert out.loc[0, "chainage_m"] == pytest.approx(50.0, abs=0.5)
    assert out.loc[0, "offset_m"] == pytest.approx(-3.0, abs=0.1)
    assert out.loc[1, "road_id"] == "40071234" and out.loc[1, "side"] == "right"
    assert out.loc[1, "chainage_m"] == pytest.approx(230.0, abs=0.5)


def test_a_road_file_without_ids_names_the_file_and_the_column(tmp_path: Path) -> None:
    path = osm_extract(tmp_path / "osm.geojson")
    with pytest.raises(GeoError, match=r"osm\.geojson: road file has no road id column 'road_id'.*osm_id"):
        load_road_network(path)  # default columns expect road_id; the file has osm_id
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["features"][1]["properties"]["osm_id"] = None
    path.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(GeoError, match=r"osm\.geojson: feature 1: osm_id: missing road id"):
        load_road_network(path, OSM_COLUMNS)


def test_bad_geometry_direction_and_stake_origin_are_named(tmp_path: Path) -> None:
    line = np.array([[120.15, 30.27], [120.151, 30.27]])
    point: dict[str, object] = {"type": "Feature", "properties": {"road_id": "P"},
             "geometry": {"type": "Point", "coordinates": [120.15, 30.27]}}  # fmt: skip
    path = write_geojson(tmp_path / "bad.geojson", [line_feature(line, road_id="A"), point])
    with pytest.raises(GeoError, match=r"bad\.geojson: feature 1 \(road_id=P\): geometry is a Point"):
        load_road_network(path)
    path = write_geojson(tmp_path / "dir.geojson", [line_feature(line, road_id="A", direction="sideways")])
    with pytest.raises(GeoError, match=r"feature 0 \(road_id=A\): direction 'sideways'"):
        load_road_network(path)
    path = write_geojson(tmp_path / "k.geojson", [line_feature(line, road_id="A", stake_origin_m="K1-200")])
    with pytest.raises(GeoError, match="stake origin 'K1-200'"):
        load_road_network(path)
    with pytest.raises(GeoError, match="road network file not found"):
        load_road_network(tmp_path / "missing.gpkg")


def test_geopackage_roads_with_custom_columns(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame(
        {"gid": ["G1"], "lu_ming": ["Tianmushan Rd"], "zh_qd": ["K3+250"]},
        geometry=[shapely.LineString([(0.0, 0.0), (500.0, 0.0)])],
        crs="EPSG:32651",  # UTM 51N metres: loaded and snapped via WGS84 all the same
    )
    gdf.to_file(tmp_path / "roads.gpkg", layer="centrelines", engine="pyogrio")
    cols = RoadColumns(road_id="gid", name="lu_ming", ref=None, direction=None, stake_origin="zh_qd")
    network = load_road_network(tmp_path / "roads.gpkg", cols, layer="centrelines")
    pts = gpd.GeoSeries([shapely.Point(120.0, 2.0)], crs="EPSG:32651")
    out = network.snap(pts)
    assert out.loc[0, "stake"] == "K3+370" and out.loc[0, "side"] == "left"
    assert out.loc[0, "offset_m"] == pytest.approx(-2.0, abs=0.05)


def test_format_and_parse_stakes() -> None:
    assert format_stake(12345.4) == "K12+345"
    assert format_stake(999.6) == "K1+000"
    assert format_stake(-12.3) == "-K0+012"
    assert format_stake(5.25, decimals=1) == "K0+005.2"
    assert parse_stake(" k12+345.5 ") == 12345.5
    with pytest.raises(GeoError, match="not a stake"):
        parse_stake("12+345")
