"""Simulator camera and renderer: the documented angle convention and exact ground geometry."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.sim.camera import CameraPose, image_to_ground, project_ground_points
from hardware.sim.labels import visible_objects
from hardware.sim.render import SKY_TOP, render_view
from hardware.sim.road import RoadSpec
from hardware.sim.world import GroundTruthObject, World, WorldSpec, build_world

K = np.array([[500.0, 0.0, 320.0], [0.0, 500.0, 180.0], [0.0, 0.0, 1.0]])
W, H = 640, 360


@pytest.fixture(scope="module")
def bare_world() -> World:
    """A small world without objects (fast): 40 m of road at 5 cm/px."""
    spec = WorldSpec(
        road=RoadSpec(length_m=40.0, heading_deg=0.0, verge_m=4.0),
        gsd=0.05,
        objects_per_class={},
        n_distractors=0,
    )
    return build_world(spec, seed=5)


def _with_marker(world: World, xy: tuple[float, float], radius_px: int = 3) -> World:
    """A copy of ``world`` whose ortho has a pure red square centred on local point ``xy``."""
    img = world.image.copy()
    c, r = np.round(world.frame.to_px(np.array([xy]))[0]).astype(int)
    img[r - radius_px : r + radius_px + 1, c - radius_px : c + radius_px + 1] = (0, 0, 255)
    return World(world.spec, world.seed, world.road, world.frame, img, [], [])


def _red_centroid(img: np.ndarray) -> np.ndarray:
    b, g, r = (img[..., i].astype(int) for i in range(3))
    weight = np.clip(r - np.maximum(g, b) - 60, 0, None).astype(float)
    assert weight.sum() > 0, "marker not rendered"
    ys, xs = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    return np.array([(xs * weight).sum(), (ys * weight).sum()]) / weight.sum()


def test_nadir_yaw_zero_puts_north_up_and_east_right():
    pose = CameraPose(0.0, 0.0, 20.0, yaw_deg=0.0, pitch_deg=-90.0)
    uv, ok = project_ground_points(K, pose, np.array([[0.0, 2.0], [2.0, 0.0]]))
    assert ok.all()
    assert uv[0][1] < 180 and uv[0][0] == pytest.approx(320)  # north: up
    assert uv[1][0] > 320 and uv[1][1] == pytest.approx(180)  # east: right


def test_yaw_turns_the_top_of_the_image_towards_it_and_roll_tips_the_right_side_down():
    east_up = CameraPose(0.0, 0.0, 20.0, yaw_deg=90.0, pitch_deg=-90.0)
    uv, _ = project_ground_points(K, east_up, np.array([[3.0, 0.0]]))
    assert uv[0][1] < 180 and uv[0][0] == pytest.approx(320)
    level = CameraPose(0.0, 0.0, 1.6, yaw_deg=0.0, pitch_deg=0.0, roll_deg=0.0)
    rolled = CameraPose(0.0, 0.0, 1.6, yaw_deg=0.0, pitch_deg=0.0, roll_deg=10.0)
    # a ground point ahead and to the right: with positive roll it appears higher in the image
    # (the right side tipped down brings the ground on the right up in the frame)
    p = np.array([[5.0, 20.0]])
    assert project_ground_points(K, rolled, p)[0][0][1] < project_ground_points(K, level, p)[0][0][1]


@pytest.mark.parametrize(
    "pose",
    [
        CameraPose(1.0, -2.0, 15.0, yaw_deg=0.0, pitch_deg=-90.0),
        CameraPose(-3.0, -12.0, 12.0, yaw_deg=20.0, pitch_deg=-50.0, roll_deg=3.0),
        CameraPose(2.0, -14.0, 1.6, yaw_deg=350.0, pitch_deg=-20.0, roll_deg=-1.0),
        CameraPose(0.0, 0.0, 90.0, yaw_deg=30.0, pitch_deg=-90.0),  # reads pyramid level 2
    ],
)
def test_rendered_marker_lands_where_the_camera_projects_it(bare_world: World, pose: CameraPose):
    # a point some way in front of the camera, on the road
    target = (1.5, 1.0)
    world = _with_marker(bare_world, target, radius_px=3 if pose.height < 50 else 12)
    uv, ok = project_ground_points(K, pose, np.array([target]))
    assert ok[0] and 10 < uv[0][0] < W - 10 and 10 < uv[0][1] < H - 10
    img = render_view(world, K, pose, W, H)
    found = _red_centroid(img)
    assert np.hypot(*(found - uv[0])) < 0.6  # sub-pixel: the warp is the exact homography
    # the inverse (ray casting) takes the projected pixel back onto the marker
    back, hit = image_to_ground(K, pose, uv)
    assert hit[0] and np.allclose(back[0], target, atol=1e-9)


def test_oblique_view_has_sky_above_the_horizon_and_no_wrapped_ground(bare_world: World):
    pose = CameraPose(0.0, -15.0, 1.6, yaw_deg=0.0, pitch_deg=-5.0)  # horizon well inside the frame
    img = render_view(bare_world, K, pose, W, H).astype(int)
    horizon_v = 180 - 500 * np.tan(np.radians(5.0))  # rows above it look up
    sky_rows = img[: int(horizon_v) - 3]
    assert sky_rows.size
    # blue over red everywhere above the horizon: sky, never a mirrored road behind the camera
    assert np.all(sky_rows[..., 0] > sky_rows[..., 2])
    top = img[0].mean(axis=0)
    assert np.allclose(top, SKY_TOP, atol=25)
    # the ground under the horizon is the road (grey asphalt right of the yellow centre line), not sky
    ground = img[-20:, W // 2 + 80 : W // 2 + 120]
    assert np.abs(ground[..., 0] - ground[..., 2]).mean() < 20


def test_visible_objects_clips_to_the_frame_and_reports_the_visible_share():
    obj = GroundTruthObject("o", "pothole", 4, (0.0, 0.0), ((-1, -1), (1, -1), (1, 1), (-1, 1)), 2.8, 0.1)
    # camera shifted so the square's right half is outside the image
    pose = CameraPose(-1.0 * 640 / 2 / 25 + 0.0, 0.0, 20.0, yaw_deg=0.0, pitch_deg=-90.0)
    k = np.array([[500.0, 0, 320], [0, 500.0, 180], [0, 0, 1]])
    seen = visible_objects([obj], k, pose, W, H)
    assert len(seen) == 1
    x2 = seen[0].box[2]
    assert x2 == pytest.approx(W) and seen[0].visible_fraction == pytest.approx(0.5, abs=0.01)
    assert visible_objects([obj], k, pose, W, H, min_visible=0.6) == []
    assert seen[0].feature_px == pytest.approx(0.1 * 25, rel=1e-6)


def test_random_views_render_completely_and_repeatably(bare_world: World):
    """Many oblique views mix pyramid levels; every pixel is written (two renders agree) and none crash."""
    rng = np.random.default_rng(3)
    k = np.array([[300.0, 0, 80], [0, 300.0, 45], [0, 0, 1]])
    for _ in range(40):
        pose = CameraPose(
            float(rng.uniform(-20, 20)),
            float(rng.uniform(-30, 30)),
            float(rng.uniform(1.5, 80)),
            float(rng.uniform(0, 360)),
            float(rng.uniform(-90, -2)),
            float(rng.uniform(-5, 5)),
        )
        a = render_view(bare_world, k, pose, 160, 90)
        noise = np.empty((90, 160, 3), np.uint8)  # dirty the allocator between the two renders
        noise[:] = 255
        b = render_view(bare_world, k, pose, 160, 90)
        assert np.array_equal(a, b), pose
