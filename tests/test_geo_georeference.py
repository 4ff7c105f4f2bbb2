"""georeference(): anchors, footprints, ids, counters, accuracy, fixed mounts, coverage."""

from __future__ import annotations

from datetime import UTC, datetime

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fixtures_geo import GEOD, ORIGIN_LAT, ORIGIN_LON, T0, detected_frame, nadir_pose, pinhole

from capture import Pose
from geo import (
    CameraModel,
    GeoError,
    GeoreferenceStats,
    bench_georeference,
    event_id_for,
    frame_footprint,
    georeference,
    local_crs,
)
from hardware.profiles import load_camera_profile

POTHOLE, VEHICLE = 4, 18  # anchors: centre / bottom centre


def east_north(lon: float, lat: float) -> tuple[float, float]:
    az, _, dist = GEOD.inv(ORIGIN_LON, ORIGIN_LAT, lon, lat)
    return dist * np.sin(np.radians(az)), dist * np.cos(np.radians(az))


def test_anchor_centre_and_bottom_centre_from_taxonomy():
    box = [450, 350, 550, 450]  # centred on the principal point (500, 400)
    frame = detected_frame(nadir_pose(30.0), [box, box], [POTHOLE, VEHICLE])
    pothole, vehicle = georeference([frame], pinhole(), mission_id="m1")
    assert east_north(pothole.lon, pothole.lat) == pytest.approx((0.0, 0.0), abs=1e-3)
    # Bottom edge v=450: 50 px below centre at f=500, 30 m high -> 3 m south (image down = south).
    assert east_north(vehicle.lon, vehicle.lat) == pytest.approx((0.0, -3.0), abs=1e-3)
    assert (pothole.class_key, vehicle.class_key) == ("pothole", "illegal_parking_vehicle")


def test_footprint_is_the_box_corners_on_the_ground():
    frame = detected_frame(nadir_pose(30.0, yaw=90.0), [[400, 300, 600, 500]], [POTHOLE])
    (event,) = georeference([frame], pinhole(), mission_id="m1")
    ring = event.footprint
    assert len(ring) == 5 and ring[0] == ring[-1]
    # Yaw 90: image right = south, image up = east. Corner (x1, y1) = left/top -> north-east.
    corners = [east_north(lon, lat) for lon, lat in ring[:4]]
    assert corners[0] == pytest.approx((6.0, 6.0), abs=1e-3)
    assert corners[2] == pytest.approx((-6.0, -6.0), abs=1e-3)
    assert shapely.Polygon(ring).contains(shapely.Point(event.lon, event.lat))
    assert shapely.LinearRing(ring).is_ccw  # RFC 7946 exterior ring orientation
    oblique = Pose(
        T0, ORIGIN_LAT, ORIGIN_LON, alt_agl=10.0, camera_pitch=-40.0, camera_yaw=250.0, camera_roll=8.0
    )
    (tilted,) = georeference(
        [detected_frame(oblique, [[400, 500, 600, 700]], [POTHOLE])], pinhole(), mission_id="m1"
    )
    assert len(tilted.footprint) == 5 and shapely.LinearRing(tilted.footprint).is_ccw


def test_event_ids_are_deterministic_uuid5_and_fields_copied():
    frames = [
        detected_frame(
            nadir_pose(30.0, t=T0 + k),
            [[0, 0, 10, 10], [20, 20, 40, 40]],
            [POTHOLE, VEHICLE],
            index=k,
            t=T0 + k,
        )
        for k in range(3)
    ]
    first = georeference(frames, pinhole(), mission_id="mission-a")
    again = georeference(frames, pinhole(), mission_id="mission-a")
    other = georeference(frames, pinhole(), mission_id="mission-b")
    assert [e.event_id for e in first] == [e.event_id for e in again]
    assert len({e.event_id for e in first}) == 6
    assert not {e.event_id for e in first} & {e.event_id for e in other}
    e = first[3]
    assert e.event_id == event_id_for("mission-a", "cam0", 1, 1)
    assert (e.frame_index, e.source_id, e.mission_id) == (1, "cam0", "mission-a")
    assert e.time_utc == datetime.fromtimestamp(T0 + 1, tz=UTC)
    assert e.box_xyxy == (20.0, 20.0, 40.0, 40.0) and e.score == pytest.approx(0.8)


def test_unlocated_frames_make_no_events_but_are_counted():
    stats = GeoreferenceStats()
    frames = [
        detected_frame(None, [[0, 0, 10, 10]], [POTHOLE], index=0),
        detected_frame(
            Pose(T0, ORIGIN_LAT, ORIGIN_LON, alt_agl=None, camera_pitch=-90.0),
            [[0, 0, 10, 10]],
            [POTHOLE],
            index=1,
        ),  # no height above ground
        detected_frame(nadir_pose(), [[0, 0, 10, 10]], [POTHOLE], index=2),
    ]
    events = georeference(frames, pinhole(), mission_id="m", stats=stats)
    georeference(frames[:1], pinhole(), mission_id="m", stats=stats)  # counters accumulate
    assert [e.frame_index for e in events] == [2]
    assert (stats.frames, stats.unlocated_frames, stats.detections, stats.events) == (4, 3, 4, 1)


def test_above_horizon_anchor_rejected_and_partial_footprint_flagged():
    stats = GeoreferenceStats()
    pose = Pose(T0, ORIGIN_LAT, ORIGIN_LON, alt_agl=2.0, camera_pitch=-5.0, camera_yaw=0.0)
    cam = pinhole()  # tan(5 deg) * 500 = 43.7 px: the horizon is at v = 356
    boxes = [
        [450, 100, 550, 200],  # entirely above the horizon
        [450, 300, 550, 500],
    ]  # a sign: bottom on the ground, top above the horizon
    events = georeference([detected_frame(pose, boxes, [POTHOLE, VEHICLE])], cam, mission_id="m", stats=stats)
    assert len(events) == 1 and events[0].class_key == "illegal_parking_vehicle"
    assert events[0].footprint == ()
    assert (stats.rejected_detections, stats.events_without_footprint, stats.events) == (1, 1, 1)
    assert np.isfinite([events[0].lon, events[0].lat, events[0].accuracy_m]).all()


def test_accuracy_is_finite_documented_and_grows_with_height():
    box = [480, 380, 520, 420]
    acc = []
    for h in (10.0, 30.0, 60.0, 120.0):
        (e,) = georeference(
            [detected_frame(nadir_pose(h), [box], [POTHOLE])],
            pinhole(),
            mission_id="m",
            attitude_sigma_deg=1.0,
        )
        acc.append(e.accuracy_m)
    assert np.isfinite(acc).all() and np.all(np.diff(acc) > 0)
    # At nadir centre (radial 1 sigma): position, 1 px anchor error along both image axes (h/f each),
    # tilt about east and north (h * sigma_att each); heading and height move the nadir point nowhere.
    h = 120.0
    expected = np.sqrt(0.5**2 + 2 * (h / 500) ** 2 + 2 * (np.radians(1.0) * h) ** 2)
    assert acc[-1] == pytest.approx(expected)


def test_accuracy_grows_off_nadir():
    boxes = [[490, 390, 510, 410], [940, 390, 960, 410]]
    centre, edge = georeference(
        [detected_frame(nadir_pose(50.0), boxes, [POTHOLE, POTHOLE])], pinhole(), mission_id="m"
    )
    assert edge.accuracy_m > centre.accuracy_m


def test_fixed_vehicle_mount_uses_heading_plus_mount_angles():
    cam = CameraModel.from_profile(load_camera_profile("vehicle_dashcam_1080p"), 1920, 1080)
    assert cam.mount is not None
    pose = Pose(T0, ORIGIN_LAT, ORIGIN_LON, alt_agl=None, yaw=90.0)  # vehicle heading east
    frame = detected_frame(pose, [[950, 530, 970, 550]], [POTHOLE], size=(1920, 1080))
    (event,) = georeference([frame], cam, mission_id="m")
    ahead = 1.6 / np.tan(np.radians(20.0))
    assert east_north(event.lon, event.lat) == pytest.approx((ahead, 0.0), abs=1e-3)


def test_resized_frames_are_scaled_back_to_the_camera_model():
    # A 500x400 frame for a 1000x800 model: frame pixel 500 is model pixel 1000, x_norm 1.
    frame = detected_frame(nadir_pose(30.0), [[495, 195, 505, 205]], [POTHOLE], size=(500, 400))
    (event,) = georeference([frame], pinhole(), mission_id="m")
    assert east_north(event.lon, event.lat) == pytest.approx((30.0, 0.0), abs=1e-3)


def test_unknown_class_id_is_a_clear_error():
    frame = detected_frame(nadir_pose(), [[0, 0, 10, 10]], [99], index=7, source_id="drone-1")
    with pytest.raises(GeoError, match=r"drone-1 frame 7: class_id 99"):
        georeference([frame], pinhole(), mission_id="m")


def test_frame_footprint_nadir_area_and_oblique_and_unlocated():
    poly = frame_footprint(nadir_pose(30.0), pinhole())
    assert poly is not None and poly.is_valid
    area = gpd.GeoSeries([poly], crs=4326).to_crs(local_crs(ORIGIN_LON, ORIGIN_LAT)).area.iloc[0]
    assert area == pytest.approx(60.0 * 48.0, rel=1e-3)  # 30 m * 1000/500 by 30 m * 800/500
    assert poly.contains(shapely.Point(ORIGIN_LON, ORIGIN_LAT))
    cam = CameraModel.from_profile(load_camera_profile("vehicle_dashcam_1080p"), 1920, 1080)
    oblique = frame_footprint(Pose(T0, ORIGIN_LAT, ORIGIN_LON, yaw=0.0), cam, max_range_m=200.0)
    assert oblique is not None and oblique.is_valid
    assert oblique.centroid.y > ORIGIN_LAT  # looking north
    assert frame_footprint(None, pinhole()) is None


def test_bench_reports_detections_per_second():
    assert bench_georeference(200) > 0


def test_attitude_sigma_reaches_the_accuracy_estimate():
    """A worse attitude estimate makes an off-centre pin less accurate (it was once ignored)."""
    frame = detected_frame(nadir_pose(30.0), [[850, 650, 900, 700]], [POTHOLE])
    (tight,) = georeference([frame], pinhole(), mission_id="m1", attitude_sigma_deg=0.1)
    (loose,) = georeference([frame], pinhole(), mission_id="m1", attitude_sigma_deg=3.0)
    assert loose.accuracy_m > tight.accuracy_m + 0.5
