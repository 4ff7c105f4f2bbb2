"""The simulated world: object placement, sizes, appearance and determinism; the scenario loader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shapely import contains_xy
from shapely.geometry import Polygon

from hardware.sim.classes import CLASS_SIZES_M, SIM_CLASSES
from hardware.sim.road import RoadSpec
from hardware.sim.scenario import ScenarioError, load_scenario
from hardware.sim.world import World, WorldError, WorldSpec, build_world
from taxonomy import load_taxonomy

SPEC = WorldSpec(
    road=RoadSpec(length_m=70.0, heading_deg=40.0, curvature_deg_per_100m=5.0, verge_m=3.0),
    gsd=0.03,
    objects_per_class=dict.fromkeys(SIM_CLASSES, 2),
    n_distractors=8,
)


@pytest.fixture(scope="module")
def world() -> World:
    return build_world(SPEC, seed=21)


def test_all_classes_placed_with_taxonomy_ids(world: World):
    tax = load_taxonomy()
    keys = [o.class_key for o in world.objects]
    assert sorted(keys) == sorted(k for k in SIM_CLASSES for _ in range(2))
    assert all(tax.get(o.class_key).id == o.class_id for o in world.objects)
    assert len({o.object_id for o in world.objects}) == len(world.objects)
    assert len(world.distractors) > 0 and all(d.class_id == -1 for d in world.distractors)


def test_objects_do_not_overlap_and_lie_on_the_asphalt(world: World):
    polys = [Polygon(o.footprint_xy) for o in world.objects + world.distractors]
    for i in range(len(polys)):
        for j in range(i + 1, len(polys)):
            assert not polys[i].intersects(polys[j]), (i, j)
    asphalt = Polygon(world.road.band(-SPEC.road.half_width_m, SPEC.road.half_width_m, step=1.0))
    for o in world.objects:
        assert asphalt.buffer(1e-6).contains(Polygon(o.footprint_xy)), o.object_id


def test_sizes_are_realistic_and_anchor_is_the_centroid(world: World):
    for o in world.objects:
        lo, hi = CLASS_SIZES_M[o.class_key]
        assert o.size_m <= hi * 1.05 + 0.15, (o.class_key, o.size_m)
        assert o.size_m >= lo * 0.4, (o.class_key, o.size_m)
        c = Polygon(o.footprint_xy).centroid
        assert (c.x, c.y) == pytest.approx(o.center_xy, abs=1e-9)


def _pixels(world: World, poly: Polygon) -> np.ndarray:
    """BGR values ``(n, 3)`` of the ortho pixels whose centres fall in ``poly`` (local metres)."""
    minx, miny, maxx, maxy = poly.bounds
    corners = world.frame.to_px(np.array([[minx, miny], [maxx, maxy], [minx, maxy], [maxx, miny]]))
    c0, r0 = np.floor(corners.min(axis=0)).astype(int)
    c1, r1 = np.ceil(corners.max(axis=0)).astype(int)
    cols, rows = np.meshgrid(np.arange(c0, c1 + 1), np.arange(r0, r1 + 1))
    local = world.frame.to_local(np.column_stack([cols.ravel(), rows.ravel()]))
    inside = contains_xy(poly, local[:, 0], local[:, 1])
    return np.asarray(world.image[rows.ravel()[inside], cols.ravel()[inside]], dtype=float)


def _look(pix: np.ndarray) -> np.ndarray:
    """Mean B, G, R and the grey level's spread: enough to tell a painted thing from bare asphalt."""
    return np.array([*pix.mean(axis=0), pix.mean(axis=1).std()])


def test_painted_objects_are_where_the_ground_truth_says(world: World):
    """Every object looks different from the road just around it; potholes are darker."""
    for o in world.objects:
        fp = Polygon(o.footprint_xy)
        ring = fp.buffer(0.5).difference(fp.buffer(0.1))
        inside, around = _pixels(world, fp), _pixels(world, ring)
        if o.class_key == "pothole":
            assert inside.mean() < around.mean() - 10, o.object_id
        if o.class_key not in ("longitudinal_crack", "transverse_crack"):  # cracks are thin lines in a buffer
            assert np.abs(_look(inside) - _look(around)).max() > 6, (o.object_id, o.class_key)


def test_same_seed_same_world_other_seed_other_world(world: World):
    again = build_world(SPEC, seed=21)
    assert [o for o in again.objects] == [o for o in world.objects]
    assert np.array_equal(again.image, world.image)
    other = build_world(SPEC, seed=22)
    assert [o.center_xy for o in other.objects] != [o.center_xy for o in world.objects]


def test_world_to_lonlat_is_a_local_tmerc_with_true_north_up(world: World):
    (lon0, lat0), (lon_n, lat_n) = world.to_lonlat(np.array([[0.0, 0.0], [0.0, 100.0]]))
    assert (lon0, lat0) == pytest.approx((SPEC.origin_lon, SPEC.origin_lat), abs=1e-12)
    assert lon_n == pytest.approx(lon0, abs=1e-12)  # +y is true north: same meridian
    assert (lat_n - lat0) * 110_850 == pytest.approx(100.0, rel=2e-3)
    assert world.to_local(world.to_lonlat(np.array([[12.5, -7.25]])))[0] == pytest.approx(
        [12.5, -7.25], abs=1e-6
    )


def test_unknown_class_is_a_clear_error():
    with pytest.raises(WorldError, match="objects_per_class: unknown simulated class 'unicorn'"):
        build_world(WorldSpec(objects_per_class={"unicorn": 1}), seed=0)


def test_bundled_scenarios_load_and_bad_ones_name_file_and_key(tmp_path: Path):
    drone = load_scenario("drone")
    assert drone.name == "drone_sample" and drone.camera_profile == "dji_m3e_wide"
    assert (drone.video.width, drone.video.height, drone.video.fps) == (1920, 1080, 30.0)
    assert 30 <= drone.duration_s <= 40 and drone.motion.altitude_agl_m == 30
    vehicle = load_scenario("vehicle")
    assert vehicle.camera_profile == "vehicle_dashcam_1080p" and vehicle.motion.speed_mps == pytest.approx(
        16.67
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nplatform: drone\ncamera_profile: dji_m3e_wide\nstart_time_utc: '2025-01-01T00:00:00.5Z'\n"
        "duration_s: 3\n"
    )
    with pytest.raises(ScenarioError, match=r"bad\.yaml: start_time_utc: .*whole second"):
        load_scenario(bad)
    bad.write_text(
        "name: x\nplatform: boat\ncamera_profile: c\nstart_time_utc: '2025-01-01T00:00:00Z'\nduration_s: 3\n"
    )
    with pytest.raises(ScenarioError, match=r"bad\.yaml: platform"):
        load_scenario(bad)
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'"):
        load_scenario("nope")
