"""Per-still looks of the training set: motion blur along the direction of travel, wet asphalt."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.sim.blur import travel_blur, travel_flow
from hardware.sim.camera import CameraPose
from hardware.sim.road import RoadSpec
from hardware.sim.wet import pixel_ground_view, wet_asphalt
from hardware.sim.world import World, WorldSpec, build_world

K = np.array([[300.0, 0, 160], [0, 300.0, 90], [0, 0, 1]])


@pytest.fixture(scope="module")
def world() -> World:
    road = RoadSpec(length_m=60.0, heading_deg=0.0, lanes_per_direction=1, verge_m=6.0)
    return build_world(WorldSpec(road=road, gsd=0.05, objects_per_class={}, n_distractors=0), seed=2)


def test_nadir_drone_smear_is_uniform_and_against_the_travel():
    pose = CameraPose(0.0, 0.0, 20.0, yaw_deg=0.0, pitch_deg=-90.0)
    flow = travel_flow(K, pose, heading_deg=90.0, travel_m=0.4, width=320, height=180)  # flying east
    # 0.4 m at 20 m with f = 300 px is 6 px; east is right, so the ground slides left
    assert np.allclose(flow[..., 0], -6.0, atol=1e-3) and np.allclose(flow[..., 1], 0.0, atol=1e-3)


def test_forward_camera_smear_zooms_out_from_the_horizon():
    pose = CameraPose(0.0, 0.0, 1.6, yaw_deg=0.0, pitch_deg=-5.0)
    flow = travel_flow(K, pose, heading_deg=0.0, travel_m=0.3, width=320, height=180, max_px=1000.0)
    length = np.hypot(flow[..., 0], flow[..., 1])
    horizon_row = int(90 - 300 * np.tan(np.radians(5.0)))  # pitch -5: horizon 26 px above the centre
    assert length[: horizon_row - 1].max() == 0.0  # the sky does not move
    assert length[-1].mean() > 10 * length[horizon_row + 10].mean()  # near ground smears most
    assert flow[-1, 0, 0] < 0 < flow[-1, -1, 0] and flow[-1, 160, 1] > 0  # away from the vanishing point
    capped = travel_flow(K, pose, heading_deg=0.0, travel_m=0.3, width=320, height=180, max_px=5.0)
    assert np.hypot(capped[..., 0], capped[..., 1]).max() <= 5.0 + 1e-4


def test_travel_blur_smears_only_along_the_flow():
    stripes = np.zeros((60, 80, 3), np.uint8)
    stripes[:, ::4] = 255  # vertical stripes
    along = travel_blur(stripes, np.dstack([np.zeros((60, 80)), np.full((60, 80), 8.0)]).astype(np.float32))
    across = travel_blur(stripes, np.dstack([np.full((60, 80), 8.0), np.zeros((60, 80))]).astype(np.float32))
    assert np.array_equal(along[10:50, 10:70], stripes[10:50, 10:70])  # vertical motion keeps the stripes
    assert across[10:50, 10:70].std() < 0.3 * stripes[10:50, 10:70].std()  # horizontal motion washes them out


def test_wet_asphalt_darkens_the_road_only(world: World):
    pose = CameraPose(0.0, 0.0, 30.0, yaw_deg=0.0, pitch_deg=-90.0)  # 32 m wide view, road 8.5 m wide
    view = pixel_ground_view(world, K, pose, 320, 180)
    img = np.full((180, 320, 3), 120, np.uint8)
    wet = wet_asphalt(img, view, wetness=1.0, rng=np.random.default_rng(0)).astype(float)
    half = world.road.spec.half_width_m * 300 / 30  # asphalt half width in pixels
    assert wet[:, 160 - int(half) + 3 : 160 + int(half) - 3].mean() < 100
    edge = int(half) + 12  # the mask is coarse (0.4 m cells here) and soft at the kerb
    assert np.array_equal(wet[:, : 160 - edge], img[:, : 160 - edge])
    assert np.array_equal(wet[:, 160 + edge :], img[:, 160 + edge :])


def test_wet_sheen_grows_towards_grazing_angles(world: World):
    pose = CameraPose(0.0, -20.0, 1.6, yaw_deg=0.0, pitch_deg=-10.0)  # on the road, looking along it
    view = pixel_ground_view(world, K, pose, 320, 180)
    assert view.cos_incidence[:10].max() == 0.0  # sky at the top
    assert view.cos_incidence[-1, 160] > view.cos_incidence[80, 160] > 0
    dark = np.full((180, 320, 3), 40, np.uint8)
    wet = wet_asphalt(dark, view, wetness=1.0, rng=np.random.default_rng(1)).astype(float)
    ground = view.asphalt > 0.99
    rows = np.nonzero(ground[:, 160])[0]
    far, near = wet[rows[:5], 160].mean(), wet[rows[-5:], 160].mean()
    assert far > near  # the sky's reflection brightens the far, grazing road
