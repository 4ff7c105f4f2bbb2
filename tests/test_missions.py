"""Road inspection missions: footprint arithmetic, curves, passes, keep-out zones, MAVLink and .plan."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from pymavlink import mavutil
from shapely.geometry import LineString, Point

from geo.crs import LocalFrame
from hardware.device_profiles import load_drone_profile
from hardware.missions import (
    KeepOutZone,
    MissionError,
    MissionPlan,
    plan_road_mission,
    read_road_geojson,
)
from hardware.profiles import load_camera_profile

mav = mavutil.mavlink
CAM = load_camera_profile("dji_m3e_wide")
LON0, LAT0 = 13.40, 52.50
FRAME = LocalFrame.centred_on(np.array([LON0]), np.array([LAT0]))


def _lonlat(xy: np.ndarray) -> np.ndarray:
    return np.column_stack(FRAME.to_lonlat(xy[:, 0], xy[:, 1]))


def _local(lonlat: np.ndarray) -> np.ndarray:
    return np.column_stack(FRAME.to_local(lonlat[:, 0], lonlat[:, 1]))


STRAIGHT_XY = np.array([[0.0, -500.0], [0.0, 500.0]])  # 1 km due north
RADIUS = 250.0
_theta = np.linspace(0.0, 1000.0 / RADIUS, 201)  # 1 km of arc, 5 m vertices
CURVE_XY = np.column_stack([RADIUS * np.cos(_theta) - RADIUS, RADIUS * np.sin(_theta)])


def _expected_spacing(altitude_m: float, overlap: float) -> float:
    # Nadir along-track footprint 2 h tan(vfov / 2) = h * sensor height / focal length.
    return altitude_m * CAM.sensor_height_mm / CAM.focal_length_mm * (1 - overlap)


def _trigger_distances(plan: MissionPlan) -> list[float]:
    return [i.params[0] for i in plan.mission_items() if i.command == mav.MAV_CMD_DO_SET_CAM_TRIGG_DIST]


@pytest.mark.parametrize("road_xy", [STRAIGHT_XY, CURVE_XY], ids=["straight", "curved"])
def test_trigger_spacing_for_1km_road_at_40m_and_70_percent_overlap(road_xy: np.ndarray) -> None:
    plan = plan_road_mission(_lonlat(road_xy), camera=CAM, altitude_m=40, speed_mps=8, forward_overlap=0.7)
    spacing = _expected_spacing(40, 0.7)
    assert spacing == pytest.approx(9.5004, abs=1e-3)
    assert plan.coverage.trigger_spacing_m == pytest.approx(spacing, rel=1e-9)
    assert _trigger_distances(plan) == [pytest.approx(spacing), 0.0]  # on for the pass, then off
    assert len(plan.passes) == 1  # a two-lane road fits in one 56 m swath
    # The flown pass follows the road: its length is the road's, give or take the chords on the curve.
    assert plan.pass_lengths_m[0] == pytest.approx(1000.0, rel=3e-3)
    assert plan.triggers_per_pass == [math.floor(plan.pass_lengths_m[0] / spacing) + 1]
    assert 104 <= plan.triggers_per_pass[0] <= 106


def test_curve_is_densified_by_turn_angle_and_stays_on_the_road() -> None:
    plan = plan_road_mission(_lonlat(CURVE_XY), camera=CAM, altitude_m=40, speed_mps=8, max_turn_deg=10)
    xy = _local(plan.passes[0])
    heading = np.arctan2(np.diff(xy[:, 1]), np.diff(xy[:, 0]))
    turns = np.degrees(np.abs(np.angle(np.exp(1j * np.diff(heading)))))
    assert turns.max() <= 10.5
    total_turn = math.degrees(1000.0 / RADIUS)
    assert len(xy) == pytest.approx(total_turn / 10 + 2, abs=2)
    # Each leg is a chord of the arc: its middle is at most the sagitta R (1 - cos(5 deg)) off the road.
    road = LineString(CURVE_XY)
    mids = (xy[1:] + xy[:-1]) / 2
    worst = max(road.distance(Point(p)) for p in mids)
    assert worst <= RADIUS * (1 - math.cos(math.radians(5))) + 0.3
    # A straight road gets no intermediate waypoints at all.
    straight = plan_road_mission(_lonlat(STRAIGHT_XY), camera=CAM, altitude_m=40, speed_mps=8)
    assert len(straight.passes[0]) == 2


def test_side_overlap_and_width_give_parallel_serpentine_passes() -> None:
    plan = plan_road_mission(
        _lonlat(STRAIGHT_XY), camera=CAM, altitude_m=40, speed_mps=8, side_overlap=0.6, road_width_m=80
    )
    swath = 2 * 40 * math.tan(math.radians(CAM.fov_deg()[0]) / 2)
    step = swath * 0.4
    count = math.ceil((80 - swath) / step) + 1
    assert count == 3 and len(plan.passes) == 3
    xs = [float(_local(p)[:, 0].mean()) for p in plan.passes]
    assert xs == pytest.approx([step, 0.0, -step], abs=0.05)  # left of a northbound road is west
    ys = [_local(p)[:, 1] for p in plan.passes]
    assert [bool(y[-1] > y[0]) for y in ys] == [True, False, True]  # serpentine
    both = plan_road_mission(
        _lonlat(STRAIGHT_XY), camera=CAM, altitude_m=40, speed_mps=8, both_directions=True
    )
    assert len(both.passes) == 2
    np.testing.assert_allclose(both.passes[1], both.passes[0][::-1])


def test_keep_out_zone_on_the_road_is_an_error_naming_it() -> None:
    box = _lonlat(np.array([[-20.0, -10.0], [20.0, -10.0], [20.0, 10.0], [-20.0, 10.0]]))
    zone = KeepOutZone("school", tuple(map(tuple, box)))
    with pytest.raises(MissionError, match=r"pass 0 enters keep-out zone 'school'"):
        plan_road_mission(_lonlat(STRAIGHT_XY), camera=CAM, altitude_m=40, speed_mps=8, keep_out=[zone])
    far = KeepOutZone("heliport", tuple(map(tuple, _lonlat(np.array([[300.0, 0], [350, 0], [350, 50]])))))
    plan = plan_road_mission(_lonlat(STRAIGHT_XY), camera=CAM, altitude_m=40, speed_mps=8, keep_out=[far])
    fence = plan.to_qgc_plan()["geoFence"]["polygons"]
    assert len(fence) == 1 and fence[0]["inclusion"] is False and len(fence[0]["polygon"]) == 3
    # Home on the far side of a zone: the transit leg crosses it.
    home = tuple(_lonlat(np.array([[0.0, -600.0]]))[0])
    across = KeepOutZone(
        "stadium", tuple(map(tuple, _lonlat(np.array([[-5.0, -560], [5, -560], [5, -540]]))))
    )
    with pytest.raises(MissionError, match=r"transit from home to pass 0 enters keep-out zone 'stadium'"):
        plan_road_mission(
            _lonlat(STRAIGHT_XY), camera=CAM, altitude_m=40, speed_mps=8, keep_out=[across], home=home
        )


def test_mavlink_items_and_qgc_plan(tmp_path: Path) -> None:
    plan = plan_road_mission(_lonlat(CURVE_XY), camera=CAM, altitude_m=40, speed_mps=8)
    items = plan.mission_items()
    commands = [i.command for i in items]
    assert commands[:2] == [mav.MAV_CMD_NAV_TAKEOFF, mav.MAV_CMD_DO_CHANGE_SPEED]
    assert commands[-1] == mav.MAV_CMD_NAV_RETURN_TO_LAUNCH
    assert commands.count(mav.MAV_CMD_NAV_WAYPOINT) == len(plan.passes[0])
    assert plan.mavlink_items()[0].frame == mav.MAV_FRAME_GLOBAL  # ArduPilot's item 0: home
    path = plan.write_qgc_plan(tmp_path / "mission.plan")
    doc = json.loads(path.read_text())  # strict JSON: NaN yaw became null
    assert (doc["fileType"], doc["version"], doc["groundStation"]) == ("Plan", 1, "QGroundControl")
    assert doc["rallyPoints"] == {"points": [], "version": 2}
    mission = doc["mission"]
    assert mission["plannedHomePosition"][:2] == pytest.approx([plan.home[1], plan.home[0]])
    assert [it["doJumpId"] for it in mission["items"]] == list(range(1, len(items) + 1))
    first_wp = mission["items"][2]
    assert first_wp["type"] == "SimpleItem" and first_wp["command"] == 16 and first_wp["frame"] == 3
    assert (
        first_wp["AMSLAltAboveTerrain"] is None
        and first_wp["Altitude"] == 40
        and first_wp["AltitudeMode"] == 1
    )
    assert first_wp["params"][3] is None and first_wp["params"][4:] == pytest.approx(
        [plan.passes[0][0, 1], plan.passes[0][0, 0], 40]
    )
    assert all(it["autoContinue"] for it in mission["items"])
    assert "NaN" not in path.read_text()


def test_drone_limits_are_enforced() -> None:
    drone = load_drone_profile("dji_mavic_3_enterprise")
    with pytest.raises(MissionError, match=r"exceeds dji_mavic_3_enterprise's max_speed_mps"):
        plan_road_mission(_lonlat(STRAIGHT_XY), camera=CAM, altitude_m=40, speed_mps=30, drone=drone)
    long_road = _lonlat(np.array([[0.0, 0.0], [0.0, 20000.0]]))
    with pytest.raises(MissionError, match=r"25 % low-battery RTL: split the road"):
        plan_road_mission(long_road, camera=CAM, altitude_m=40, speed_mps=8, drone=drone)
    px4 = plan_road_mission(
        _lonlat(STRAIGHT_XY),
        camera=CAM,
        altitude_m=40,
        speed_mps=8,
        drone=load_drone_profile("generic_px4_quad"),
    )
    assert px4.to_qgc_plan()["mission"]["firmwareType"] == mav.MAV_AUTOPILOT_PX4


def test_read_road_geojson(tmp_path: Path) -> None:
    road = _lonlat(STRAIGHT_XY).tolist()
    zone = [[*p] for p in _lonlat(np.array([[300.0, 0], [350, 0], [350, 50], [300.0, 0]]))]
    features: list[dict[str, object]] = [
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": road}, "properties": {}},
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [zone]},
            "properties": {"name": "pad"},
        },
    ]
    doc = {"type": "FeatureCollection", "features": features}
    path = tmp_path / "road.geojson"
    path.write_text(json.dumps(doc))
    lonlat, zones = read_road_geojson(path)
    np.testing.assert_allclose(lonlat, road)
    assert [z.name for z in zones] == ["pad"]
    features.append(features[0])
    path.write_text(json.dumps(doc))
    with pytest.raises(MissionError, match=r"road\.geojson: need exactly one road LineString, found 2"):
        read_road_geojson(path)
    features[2] = {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}}
    path.write_text(json.dumps(doc))
    with pytest.raises(MissionError, match=r"road\.geojson: features\[2\]\.geometry\.type: 'Point'"):
        read_road_geojson(path)
