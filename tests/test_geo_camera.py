"""Camera model: lens distortion, body-mounted cameras, and poses the telemetry cannot vouch for."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from fixtures_geo import GEOD, ORIGIN_LAT, ORIGIN_LON, T0

from capture import Pose, PoseSeries
from geo import CameraModel, CameraPoses, GeoreferenceStats, georeference_arrays
from geo.camera import axes_matrix, mounted_axes
from hardware.profiles import CameraMount

POTHOLE = 4


def east_north(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    az, _, dist = GEOD.inv(np.full(len(lon), ORIGIN_LON), np.full(len(lon), ORIGIN_LAT), lon, lat)
    az = np.radians(az)
    return np.column_stack([dist * np.sin(az), dist * np.cos(az)])


def test_distorted_pixels_land_where_the_lens_saw_them():
    K = np.array([[800.0, 0, 640], [0, 800.0, 360], [0, 0, 1]])
    dist = np.array([-0.28, 0.09, 0.0008, -0.0005, -0.012])  # a wide-angle action-camera lens
    camera = CameraModel(K=K, width=1280, height=720, distortion=dist)
    h = 35.0
    # Ground points east/north of a nadir camera (yaw 0: image right = east, image up = north).
    ground = np.array([[0.0, 0.0], [12.0, 5.0], [-25.0, -13.0], [26.0, 14.0]])
    # Camera frame: x right = east, y down = south, z forward = down.
    obj = np.column_stack([ground[:, 0], -ground[:, 1], np.full(len(ground), h)])
    uv, _ = cv2.projectPoints(obj, np.zeros(3), np.zeros(3), K, dist)
    uv = uv.reshape(-1, 2)
    assert np.abs(uv - (obj[:, :2] / h * 800 + [640, 360])).max() > 20  # the distortion is real here
    pose = Pose(T0, ORIGIN_LAT, ORIGIN_LON, alt_agl=h, camera_pitch=-90.0, camera_yaw=0.0)
    boxes = np.column_stack([uv, uv])
    batch = georeference_arrays(
        boxes,
        np.full(len(uv), POTHOLE),
        np.zeros(len(uv), int),
        CameraPoses.from_poses([pose], camera),
        camera,
    )
    assert east_north(batch.lon, batch.lat) == pytest.approx(ground, abs=2e-3)


def test_level_body_mount_is_heading_plus_mount_angles():
    mount = CameraMount(height_m=1.6, pitch_deg=-20.0, roll_deg=1.5, yaw_deg=-10.0)
    got = mounted_axes(np.array([75.0]), np.array([0.0]), np.array([0.0]), mount)
    want = axes_matrix(np.array([65.0]), np.array([-20.0]), np.array([1.5]))
    assert got == pytest.approx(want, abs=1e-12)


def test_body_pitch_and_roll_tilt_a_mounted_camera():
    mount = CameraMount(height_m=1.6, pitch_deg=-20.0)
    # Nose up 3 degrees: a forward camera looks 3 degrees higher.
    nose_up = mounted_axes(np.array([0.0]), np.array([3.0]), np.array([0.0]), mount)
    assert nose_up == pytest.approx(
        axes_matrix(np.array([0.0]), np.array([-17.0]), np.array([0.0])), abs=1e-12
    )
    # Right side down 90 degrees turns a forward camera's "down" into the body's right (west -> ... east).
    rolled = mounted_axes(
        np.array([0.0]), np.array([0.0]), np.array([90.0]), CameraMount(height_m=1.0, pitch_deg=0.0)
    )
    assert rolled[0, :, 1] == pytest.approx(
        [-1.0, 0.0, 0.0], abs=1e-12
    )  # image down -> west (body's left is up)
    assert rolled[0, :, 2] == pytest.approx([0.0, 1.0, 0.0], abs=1e-12)  # still looking north


def series(**cols: np.ndarray) -> PoseSeries:
    n = len(next(iter(cols.values())))
    base = {
        "time_utc": T0 + np.arange(n, dtype=float),
        "located": np.ones(n, bool),
        "lat": np.full(n, ORIGIN_LAT),
        "lon": np.full(n, ORIGIN_LON),
        "alt_msl": np.full(n, np.nan),
        "alt_agl": np.full(n, 30.0),
        "roll": np.zeros(n),
        "pitch": np.zeros(n),
        "yaw": np.zeros(n),
        "camera_pitch": np.full(n, -90.0),
        "camera_yaw": np.zeros(n),
        "camera_roll": np.zeros(n),
        "speed_mps": np.full(n, np.nan),
        "horizontal_accuracy_m": np.full(n, 0.5),
        "vertical_accuracy_m": np.full(n, 1.0),
    }
    base.update(cols)
    return PoseSeries(**base)


def test_nan_and_impossible_telemetry_makes_unlocated_frames_never_pins():
    nan = np.nan
    poses = CameraPoses.from_series(
        series(
            lat=np.array([ORIGIN_LAT, nan, ORIGIN_LAT, ORIGIN_LAT, ORIGIN_LAT, 95.0, ORIGIN_LAT]),
            camera_pitch=np.array([-90.0, -90.0, nan, -90.0, -90.0, -90.0, -90.0]),
            alt_agl=np.array([30.0, 30.0, 30.0, nan, -2.0, 30.0, 30.0]),
            camera_yaw=np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, nan]),
            yaw=np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, nan]),
        ),
        CameraModel(K=np.array([[500.0, 0, 500], [0, 500, 400], [0, 0, 1]]), width=1000, height=800),
    )
    assert poses.located.tolist() == [True, False, False, False, False, False, False]
    camera = CameraModel(K=np.array([[500.0, 0, 500], [0, 500, 400], [0, 0, 1]]), width=1000, height=800)
    boxes = np.tile([[480.0, 380, 520, 420]], (7, 1))
    batch = georeference_arrays(boxes, np.full(7, POTHOLE), np.arange(7), poses, camera)
    stats = GeoreferenceStats()
    stats.add(batch)
    assert batch.located.tolist() == [True] + [False] * 6
    assert np.isnan(batch.lon[1:]).all() and np.isnan(batch.footprint[1:]).all()
    assert (stats.frames, stats.unlocated_frames, stats.events, stats.rejected_detections) == (7, 6, 1, 0)
    assert len(batch.events()) == 1


def test_missing_accuracy_falls_back_to_defaults_not_nan():
    camera = CameraModel(K=np.array([[500.0, 0, 500], [0, 500, 400], [0, 0, 1]]), width=1000, height=800)
    poses = CameraPoses.from_series(
        series(horizontal_accuracy_m=np.array([np.nan]), vertical_accuracy_m=np.array([np.nan])), camera
    )
    batch = georeference_arrays(
        np.array([[480.0, 380, 520, 420]]), np.array([POTHOLE]), np.array([0]), poses, camera
    )
    assert np.isfinite(batch.accuracy_m).all() and batch.accuracy_m[0] > 0.5
