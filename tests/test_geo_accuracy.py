"""accuracy_m is the first-order propagation of the stated errors: checked against Monte Carlo."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from fixtures_geo import GEOD, ORIGIN_LAT, ORIGIN_LON, T0, pinhole

from capture import Pose
from geo import CameraModel, CameraPoses, georeference_arrays
from geo.crs import TangentOffsets
from hardware.profiles import load_camera_profile

POTHOLE = 4


def rotation(axis: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rodrigues rotation matrices ``(M, 3, 3)`` about one unit axis by ``angle`` ``(M,)``."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    a = angle[:, None, None]
    return np.eye(3) + np.sin(a) * k + (1 - np.cos(a)) * (k @ k)


@pytest.mark.parametrize(
    ("pose", "pixel"),
    [
        (Pose(T0, ORIGIN_LAT, ORIGIN_LON, alt_agl=40.0, camera_pitch=-90.0, camera_yaw=0.0), (500, 400)),
        (Pose(T0, ORIGIN_LAT, ORIGIN_LON, alt_agl=40.0, camera_pitch=-90.0, camera_yaw=20.0), (900, 100)),
        (
            Pose(
                T0, ORIGIN_LAT, ORIGIN_LON, alt_agl=40.0, camera_pitch=-45.0, camera_yaw=30.0, camera_roll=3.0
            ),
            (700, 500),
        ),
    ],
)
def test_accuracy_matches_monte_carlo(pose: Pose, pixel: tuple[int, int]):
    camera = pinhole()
    u, v = pixel
    box = np.array([[u, v, u, v]], np.float64)
    nominal = georeference_arrays(
        box, np.array([POTHOLE]), np.array([0]), CameraPoses.from_poses([pose], camera), camera
    )
    m = 20_000
    rng = np.random.default_rng(3)
    sig_pos, sig_h, sig_att, sig_px = (
        pose.horizontal_accuracy_m,
        pose.vertical_accuracy_m,
        np.radians(1.0),
        1.0,
    )
    base = CameraPoses.from_poses([pose] * m, camera)
    # Radial 1 sigma sig_pos: sig_pos / sqrt(2) per horizontal axis.
    de, dn = rng.normal(0, sig_pos / np.sqrt(2), (2, m))
    lon, lat = TangentOffsets.at(base.lon, base.lat).to_lonlat(de, dn)
    rot = np.eye(3)
    for axis in np.eye(3):
        rot = rotation(axis, rng.normal(0, sig_att, m)) @ rot
    perturbed = dataclasses.replace(
        base, lon=lon, lat=lat, height_m=base.height_m + rng.normal(0, sig_h, m), axes=rot @ base.axes
    )
    noisy_box = box + rng.normal(0, sig_px, (m, 2))[:, [0, 1, 0, 1]]
    batch = georeference_arrays(noisy_box, np.full(m, POTHOLE), np.arange(m), perturbed, camera)
    assert batch.located.all()
    _, _, dist = GEOD.inv(np.full(m, nominal.lon[0]), np.full(m, nominal.lat[0]), batch.lon, batch.lat)
    rms = float(np.sqrt(np.mean(np.square(dist))))
    assert nominal.accuracy_m[0] == pytest.approx(rms, rel=0.08)


def test_vehicle_accuracy_uses_the_mount_sigma_and_grows_with_range():
    cam = CameraModel.from_profile(load_camera_profile("vehicle_dashcam_1080p"), 1920, 1080)
    assert cam.mount is not None
    pose = Pose(T0, ORIGIN_LAT, ORIGIN_LON, yaw=0.0)
    boxes = np.array([[950, v, 970, v + 20] for v in (1000, 800, 650)], np.float64)  # near -> far
    poses = CameraPoses.from_poses([pose], cam)
    assert poses.attitude_sigma_rad[0] == pytest.approx(np.radians(cam.mount.attitude_sigma_deg))
    batch = georeference_arrays(boxes, np.full(3, POTHOLE), np.zeros(3, int), poses, cam)
    assert batch.located.all() and np.all(np.diff(batch.accuracy_m) > 0)
    tighter = georeference_arrays(
        boxes,
        np.full(3, POTHOLE),
        np.zeros(3, int),
        CameraPoses.from_poses([pose], cam, attitude_sigma_deg=0.05),
        cam,
    )
    assert np.all(tighter.accuracy_m < batch.accuracy_m)
