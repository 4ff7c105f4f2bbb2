"""Ray casting against known answers and an independent forward projection."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_geo import GEOD, ORIGIN_LAT, ORIGIN_LON, offset_lonlat

from geo.camera import camera_axes
from geo.raycast import cast_rays, ground_offsets


def cast_one(
    x: float, y: float, *, h: float = 30.0, yaw: float = 0.0, pitch: float = -90.0, roll: float = 0.0
):
    return cast_rays(
        np.array([x]),
        np.array([y]),
        lon=np.array([ORIGIN_LON]),
        lat=np.array([ORIGIN_LAT]),
        height_m=np.array([h]),
        yaw_deg=np.array([yaw]),
        pitch_deg=np.array([pitch]),
        roll_deg=np.array([roll]),
    )


def east_north_of(lon: float, lat: float) -> tuple[float, float]:
    """Geodesic east/north metres of a point from the origin (independent of our CRS code)."""
    az, _, dist = GEOD.inv(ORIGIN_LON, ORIGIN_LAT, lon, lat)
    return dist * np.sin(np.radians(az)), dist * np.cos(np.radians(az))


def test_nadir_centre_lands_under_the_camera():
    hit = cast_one(0.0, 0.0)
    assert hit.hit.tolist() == [True]
    assert hit.lon[0] == pytest.approx(ORIGIN_LON, abs=1e-9)
    assert hit.lat[0] == pytest.approx(ORIGIN_LAT, abs=1e-9)
    assert hit.slant_m[0] == pytest.approx(30.0)


def test_image_right_lands_east_at_yaw_0_and_south_at_yaw_90():
    # x_norm 0.5 at 30 m: 15 m to the camera's right.
    e, n = east_north_of(*(float(v[0]) for v in (cast_one(0.5, 0.0).lon, cast_one(0.5, 0.0).lat)))
    assert (e, n) == pytest.approx((15.0, 0.0), abs=1e-3)
    hit = cast_one(0.5, 0.0, yaw=90.0)
    e, n = east_north_of(float(hit.lon[0]), float(hit.lat[0]))
    assert (e, n) == pytest.approx((0.0, -15.0), abs=1e-3)


def test_nadir_image_top_is_north():
    hit = cast_one(0.0, -0.5)
    e, n = east_north_of(float(hit.lon[0]), float(hit.lat[0]))
    assert (e, n) == pytest.approx((0.0, 15.0), abs=1e-3)


@pytest.mark.parametrize("yaw", [0.0, 37.0, 200.0])
def test_oblique_pitch_minus_45_puts_centre_h_metres_ahead(yaw: float):
    hit = cast_one(0.0, 0.0, h=12.0, yaw=yaw, pitch=-45.0)
    e, n = east_north_of(float(hit.lon[0]), float(hit.lat[0]))
    assert (e, n) == pytest.approx((12 * np.sin(np.radians(yaw)), 12 * np.cos(np.radians(yaw))), abs=1e-3)
    assert hit.slant_m[0] == pytest.approx(12 * np.sqrt(2))


def test_rays_at_or_above_the_horizon_are_masked_not_projected():
    # pitch -10: the centre looks down 10 deg; y_norm -0.2 looks ~1.3 deg above the horizon,
    # -tan(10deg) exactly at it.
    y = np.array([0.0, -np.tan(np.radians(10.0)), -0.2, -5.0])
    off = ground_offsets(np.zeros(4), y, 2.0, 0.0, -10.0, 0.0)
    assert off.hit.tolist() == [True, False, False, False]
    assert np.isfinite(off.east[0]) and np.isnan(off.east[1:]).all() and np.isnan(off.slant_m[1:]).all()


def test_grazing_rays_beyond_max_range_are_masked():
    off = ground_offsets(0.0, 0.0, 2.0, 0.0, -0.5, 0.0, max_range_m=100.0)  # would land ~229 m ahead
    assert not off.hit[0] and np.isnan(off.north[0])
    off = ground_offsets(0.0, 0.0, 2.0, 0.0, -0.5, 0.0, max_range_m=1000.0)
    assert off.hit[0] and off.north[0] == pytest.approx(2.0 / np.tan(np.radians(0.5)))


def test_positive_roll_tips_image_right_side_down():
    # Looking north at the horizon, positive roll: the image right axis points below the horizon.
    f, r, d = camera_axes(np.array([0.0]), np.array([0.0]), np.array([10.0]))
    assert r[0, 2] < 0
    assert np.allclose(np.linalg.norm(r, axis=1), 1) and np.allclose((f * r).sum(1), 0)
    assert np.allclose((r * d).sum(1), 0) and np.allclose((f * d).sum(1), 0)


def forward_project(
    east: np.ndarray, north: np.ndarray, h: np.ndarray, yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground point (metres from the nadir) -> normalised image x, y and depth; written independently.

    Closed forms of the architecture.md axes: d0 = f x r0 = (sin p sin y, sin p cos y, -cos p).
    """
    y, p, rl = np.radians(yaw), np.radians(pitch), np.radians(roll)
    f = np.stack([np.sin(y) * np.cos(p), np.cos(y) * np.cos(p), np.sin(p)], 1)
    r0 = np.stack([np.cos(y), -np.sin(y), np.zeros_like(y)], 1)
    d0 = np.stack([np.sin(p) * np.sin(y), np.sin(p) * np.cos(y), -np.cos(p)], 1)
    r = np.cos(rl)[:, None] * r0 + np.sin(rl)[:, None] * d0
    d = -np.sin(rl)[:, None] * r0 + np.cos(rl)[:, None] * d0
    w = np.stack([east, north, -h], 1)
    depth = (w * f).sum(1)
    return (w * r).sum(1) / depth, (w * d).sum(1) / depth, depth


def test_round_trip_against_independent_forward_projection_vectorised():
    rng = np.random.default_rng(7)
    n = 2000
    # Cameras spread over ~20 km so a batch-centred frame must correct for meridian convergence.
    cam_e, cam_n = rng.uniform(-10_000, 10_000, n), rng.uniform(-10_000, 10_000, n)
    az = np.degrees(np.arctan2(cam_e, cam_n))
    cam_lon, cam_lat, _ = GEOD.fwd(np.full(n, ORIGIN_LON), np.full(n, ORIGIN_LAT), az, np.hypot(cam_e, cam_n))
    h = rng.uniform(5, 120, n)
    yaw = rng.uniform(0, 360, n)
    pitch = rng.uniform(-90, -30, n)
    roll = rng.uniform(-15, 15, n)
    # Ground points in front of each camera, within its view.
    ge, gn = rng.uniform(-20, 20, n), rng.uniform(-20, 20, n)
    ahead = h / np.tan(np.radians(-pitch))
    ge = ge + ahead * np.sin(np.radians(yaw))
    gn = gn + ahead * np.cos(np.radians(yaw))
    xn, yn, depth = forward_project(ge, gn, h, yaw, pitch, roll)
    front = depth > 1.0  # points behind a steep camera have no pixel
    assert front.mean() > 0.9
    xn, yn, h, yaw, pitch, roll = (a[front] for a in (xn, yn, h, yaw, pitch, roll))
    cam_lon, cam_lat, ge, gn = (a[front] for a in (cam_lon, cam_lat, ge, gn))
    hits = cast_rays(
        xn, yn, lon=cam_lon, lat=cam_lat, height_m=h, yaw_deg=yaw, pitch_deg=pitch, roll_deg=roll
    )
    assert hits.hit.all()
    # Expected positions: geodesic offsets from each camera (true north by construction).
    gaz = np.degrees(np.arctan2(ge, gn))
    exp_lon, exp_lat, _ = GEOD.fwd(cam_lon, cam_lat, gaz, np.hypot(ge, gn))
    _, _, err = GEOD.inv(exp_lon, exp_lat, hits.lon, hits.lat)
    assert np.max(err) < 0.01  # 1 cm over 20 km batches


def test_offset_helper_matches_geodesic():
    lon, lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, 3.0, 4.0)
    assert east_north_of(lon, lat) == pytest.approx((3.0, 4.0), abs=1e-6)


def test_agrees_with_the_test_range_simulator_projection():
    """The simulator renders with hardware.sim.camera; casting its pixels back must land on the objects."""
    from hardware.sim.camera import CameraPose, project_ground_points

    rng = np.random.default_rng(11)
    K = np.array([[1364.0, 0, 960], [0, 1364.0, 540], [0, 0, 1]])
    for _ in range(5):
        pose = CameraPose(
            x=0.0,
            y=0.0,
            height=float(rng.uniform(2, 80)),
            yaw_deg=float(rng.uniform(0, 360)),
            pitch_deg=float(rng.uniform(-90, -20)),
            roll_deg=float(rng.uniform(-10, 10)),
        )
        ahead = pose.height / np.tan(np.radians(-pose.pitch_deg))
        yaw = np.radians(pose.yaw_deg)
        xy = np.column_stack(
            [ahead * np.sin(yaw) + rng.uniform(-3, 3, 50), ahead * np.cos(yaw) + rng.uniform(-3, 3, 50)]
        )
        uv, in_front = project_ground_points(K, pose, xy)
        off = ground_offsets(
            (uv[:, 0] - 960) / 1364,
            (uv[:, 1] - 540) / 1364,
            pose.height,
            pose.yaw_deg,
            pose.pitch_deg,
            pose.roll_deg,
        )
        ok = in_front & off.hit
        assert ok.mean() > 0.9
        assert np.allclose(np.column_stack([off.east, off.north])[ok], xy[ok], atol=1e-6)
