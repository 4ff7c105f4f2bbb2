"""Vehicle ground-plane homography: calibration from known points, its use in geo-referencing, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fixtures_geo import GEOD, ORIGIN_LAT, ORIGIN_LON, T0, offset_lonlat

from capture import Pose
from geo import CameraModel, CameraPoses, GeoError, georeference_arrays
from geo.homography import GroundHomography, calibrate_ground_homography, homography_path
from hardware.profiles import load_camera_profile
from hardware.sim.camera import CameraPose, project_ground_points

POTHOLE = 4
YAW = 35.0
# The camera as actually mounted: 1.55 m high, pitched 21.5 deg down, rolled 0.8 deg, yawed 1.2 deg right.
# The profile says 1.6 m / -20 / 0 / 0: a typical gap between nominal and real mounting.
TRUE_MOUNT = {"height": 1.55, "pitch": -21.5, "roll": 0.8, "yaw": 1.2}


def body_to_enu(right: np.ndarray, forward: np.ndarray, yaw_deg: float) -> tuple[np.ndarray, np.ndarray]:
    y = np.radians(yaw_deg)
    return right * np.cos(y) + forward * np.sin(y), -right * np.sin(y) + forward * np.cos(y)


def true_pixels(camera: CameraModel, body: np.ndarray) -> np.ndarray:
    """Pixels of body-frame ground points seen by the truly mounted camera (the simulator's projection)."""
    east, north = body_to_enu(body[:, 0], body[:, 1], YAW)
    pose = CameraPose(
        0.0, 0.0, TRUE_MOUNT["height"], YAW + TRUE_MOUNT["yaw"], TRUE_MOUNT["pitch"], TRUE_MOUNT["roll"]
    )
    uv, front = project_ground_points(camera.K, pose, np.column_stack([east, north]))
    assert front.all()
    return uv


def survey_points() -> np.ndarray:
    """Body (right, forward) metres of painted calibration marks: a grid over two lanes, 5-25 m ahead."""
    r, f = np.meshgrid([-3.5, -1.0, 1.5, 4.0], [5.0, 9.0, 14.0, 20.0, 25.0])
    return np.column_stack([r.ravel(), f.ravel()])


def errors(camera: CameraModel, body: np.ndarray) -> np.ndarray:
    uv = true_pixels(camera, body)
    pose = Pose(T0, ORIGIN_LAT, ORIGIN_LON, yaw=YAW)
    boxes = np.column_stack([uv, uv])
    n = len(uv)
    batch = georeference_arrays(
        boxes, np.full(n, POTHOLE), np.zeros(n, int), CameraPoses.from_poses([pose], camera), camera
    )
    east, north = body_to_enu(body[:, 0], body[:, 1], YAW)
    truth = np.array(
        [offset_lonlat(ORIGIN_LON, ORIGIN_LAT, e, nn) for e, nn in zip(east, north, strict=True)]
    )
    _, _, d = GEOD.inv(batch.lon, batch.lat, truth[:, 0], truth[:, 1])
    return np.asarray(d)


def test_calibrated_homography_places_the_road_where_nominal_mount_angles_do_not(tmp_path: Path):
    profile = load_camera_profile("vehicle_dashcam_1080p")
    nominal = CameraModel.from_profile(profile, 1920, 1080)
    pts = survey_points()
    hom = calibrate_ground_homography(true_pixels(nominal, pts), pts, frame_size=(1920, 1080))
    assert hom.n_points == 20 and hom.rmse_m < 1e-5 and hom.rmse_px < 1e-3
    calibrated = CameraModel.from_profile(profile, 1920, 1080, ground_homography=hom)
    check = np.array(
        [[-2.0, 7.0], [0.5, 11.0], [3.0, 17.0], [-0.5, 22.0], [2.2, 30.0]]
    )  # not calibration points
    assert float(errors(calibrated, check).max()) < 0.01
    assert float(errors(nominal, check).max()) > 1.0  # what 1.5 deg of pitch and 5 cm of height cost
    # Saved next to the profile and loaded back: same placement.
    path = hom.save(tmp_path / "dashcam.homography.yaml")
    again = GroundHomography.load(path)
    assert pytest.approx(hom.H) == again.H and (again.width, again.height, again.n_points) == (1920, 1080, 20)
    # Frames at another size than the calibration are scaled.
    half = CameraModel.from_profile(profile, 960, 540, ground_homography=again)
    uv = true_pixels(calibrated, check) / 2
    pose = Pose(T0, ORIGIN_LAT, ORIGIN_LON, yaw=YAW)
    batch = georeference_arrays(
        np.column_stack([uv, uv]),
        np.full(5, POTHOLE),
        np.zeros(5, int),
        CameraPoses.from_poses([pose], half),
        half,
    )
    full = georeference_arrays(
        np.column_stack([uv * 2, uv * 2]),
        np.full(5, POTHOLE),
        np.zeros(5, int),
        CameraPoses.from_poses([pose], calibrated),
        calibrated,
    )
    assert batch.lon == pytest.approx(full.lon, abs=1e-9) and batch.lat == pytest.approx(full.lat, abs=1e-9)


def test_calibration_from_lonlat_points_and_the_vehicle_pose_matches_body_points():
    camera = CameraModel.from_profile(load_camera_profile("vehicle_dashcam_1080p"), 1920, 1080)
    pts = survey_points()
    uv = true_pixels(camera, pts)
    east, north = body_to_enu(pts[:, 0], pts[:, 1], YAW)
    lonlat = np.array([offset_lonlat(ORIGIN_LON, ORIGIN_LAT, e, n) for e, n in zip(east, north, strict=True)])
    from_body = calibrate_ground_homography(uv, pts, frame_size=(1920, 1080))
    from_lonlat = calibrate_ground_homography(
        uv, lonlat, frame_size=(1920, 1080), vehicle_pose=Pose(T0, ORIGIN_LAT, ORIGIN_LON, yaw=YAW)
    )
    assert from_lonlat.rmse_m < 1e-3
    check = np.array([[960.0, 700.0], [400.0, 900.0]])
    a = np.column_stack(from_body.to_body(check[:, 0], check[:, 1])[:2])
    b = np.column_stack(from_lonlat.to_body(check[:, 0], check[:, 1])[:2])
    assert a == pytest.approx(b, abs=2e-3)


def test_pixels_above_the_horizon_are_rejected_with_a_homography():
    camera = CameraModel.from_profile(load_camera_profile("vehicle_dashcam_1080p"), 1920, 1080)
    pts = survey_points()
    hom = calibrate_ground_homography(true_pixels(camera, pts), pts, frame_size=(1920, 1080))
    # The horizon lies just above this camera's frame (pitch -21.5 deg, half the vertical FOV 21.5 deg):
    # a point 300 px above the top edge is sky; the bottom of the frame is road.
    _, _, ok = hom.to_body(np.array([960.0, 960.0]), np.array([-300.0, 900.0]))
    assert ok.tolist() == [False, True]


def test_bad_calibration_input_is_a_clear_error(tmp_path: Path):
    img = np.array([[100.0, 700], [900, 700], [600, 400], [400, 400]])
    with pytest.raises(GeoError, match="at least 4 point pairs, got 3"):
        calibrate_ground_homography(img[:3], img[:3], frame_size=(1000, 800))
    line = np.array([[0.0, 5.0], [0.0, 10.0], [0.0, 15.0], [0.0, 20.0]])
    with pytest.raises(GeoError, match="ground points are \\(nearly\\) on a line"):
        calibrate_ground_homography(img, line, frame_size=(1000, 800))
    with pytest.raises(GeoError, match="point 2 is not finite"):
        calibrate_ground_homography(
            img, np.array([[0, 5], [np.nan, 5], [1, 9], [-1, 9.0]]), frame_size=(1000, 800)
        )
    with pytest.raises(GeoError, match="4 image points but 5 ground points"):
        calibrate_ground_homography(img, np.zeros((5, 2)), frame_size=(1000, 800))
    bad = tmp_path / "bad.yaml"
    bad.write_text("width: 10\nheight: 10\nH: [[1, 0], [0, 1]]\n")
    with pytest.raises(GeoError, match=r"bad\.yaml: H: expected an invertible 3x3"):
        GroundHomography.load(bad)
    assert homography_path(tmp_path / "cam.yaml") == tmp_path / "cam.homography.yaml"
    assert homography_path("vehicle_dashcam_1080p").name == "vehicle_dashcam_1080p.yaml"


def test_calibrate_command_writes_a_homography_that_loads(tmp_path: Path) -> None:
    import subprocess
    import sys

    import cv2

    profile = load_camera_profile("vehicle_dashcam_1080p")
    nominal = CameraModel.from_profile(profile, 1920, 1080)
    pts = survey_points()
    uv = true_pixels(nominal, pts)
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), np.zeros((1080, 1920, 3), np.uint8))
    csv = tmp_path / "points.csv"
    rows = ["u,v,right_m,forward_m"] + [f"{u},{v},{r},{f}" for (u, v), (r, f) in zip(uv, pts, strict=True)]
    csv.write_text("\n".join(rows) + "\n")
    out = tmp_path / "dashcam.homography.yaml"
    args = [sys.executable, "-m", "roadsight", "calibrate", "--frame", str(frame), "--points", str(csv)]
    args += ["--camera", "vehicle_dashcam_1080p", "--out", str(out)]
    run = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "rmse 0.000 m" in run.stderr and str(out) in run.stderr
    assert GroundHomography.load(out).n_points == len(pts)
    csv.write_text("a,b\n1,2\n")
    bad = subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "needs columns u,v,right_m,forward_m" in bad.stderr
