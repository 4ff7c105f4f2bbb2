"""Cases: one per physical object across passes and platforms; size; "possibly fixed"; persistence.

The multi-pass tests take the ground truth of a simulated mission plan
(``plan_mission("drone_sample", 0)``: its world, road and flight) and emit per
pass what the tracker would: one event per object seen, with a per-pass
telemetry bias, per-object noise, missed detections, split tracks and class
confusion inside a category. The drone's coverage is the exact ground footprint
of its frames; the patrol vehicle's is a forward view over its half of the road.
They exercise the case logic on simulated tracker output, not the detector.
(``drone_sample`` and ``vehicle_sample`` share an origin but not a road, so a
drone and a vehicle "over the same road" are two platforms over this one world.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from fixtures_geo import GEOD, ORIGIN_LAT, ORIGIN_LON, make_event, offset_lonlat
from fixtures_sim_truth import truth_detections

from geo import (
    CameraModel,
    CameraPoses,
    GeoError,
    GeoEvent,
    GroundTracker,
    frame_footprints,
    georeference_arrays,
)
from geo.cases import (
    CaseAction,
    CaseBook,
    CaseSettings,
    CaseStatus,
    case_id_for,
    footprint_measures,
    load_cases,
    save_cases,
)
from hardware.profiles import load_camera_profile
from hardware.sim.generate import MissionPlan, frame_homographies, plan_mission
from hardware.sim.world import GroundTruthObject
from taxonomy import load_taxonomy

TAX = load_taxonomy()
T_PASS1 = datetime(2025, 6, 3, 2, 30, tzinfo=UTC)


# -- simulated passes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Platform:
    name: str
    bias_m: float  # per-pass telemetry bias (1 sigma, each axis)
    noise_m: float  # per-object position noise (1 sigma, each axis)
    accuracy_m: float  # what geo-referencing reports
    p_detect: float


DRONE = Platform("drone", bias_m=0.1, noise_m=0.2, accuracy_m=0.3, p_detect=0.95)
VEHICLE = Platform("vehicle", bias_m=0.15, noise_m=0.3, accuracy_m=0.4, p_detect=0.9)
CONFUSABLE = {"longitudinal_crack": "transverse_crack", "transverse_crack": "longitudinal_crack"}


@pytest.fixture(scope="module")
def plan() -> MissionPlan:
    return plan_mission("drone_sample", 0)


def drone_coverage(plan: MissionPlan, step: int = 5) -> gpd.GeoSeries:
    """Ground footprints of every ``step``-th frame of the planned flight (exact, from its homographies)."""
    H = frame_homographies(plan.K, plan.frames)[::step]
    v = plan.scenario.video
    corners = np.array([[0, 0, 1], [v.width, 0, 1], [v.width, v.height, 1], [0, v.height, 1]], float)
    ground = np.einsum("fij,cj->fci", np.linalg.inv(H), corners)
    ground = ground[..., :2] / ground[..., 2:]
    lonlat = plan.world.to_lonlat(ground.reshape(-1, 2)).reshape(-1, 4, 2)
    return gpd.GeoSeries(shapely.polygons(lonlat), crs="EPSG:4326")


def vehicle_coverage(plan: MissionPlan) -> gpd.GeoSeries:
    """A forward camera in the right inner lane: 20 m deep, from 3.5 m left to 7.5 m right of the centre."""
    road = plan.world.road
    polys = [
        shapely.Polygon(plan.world.to_lonlat(road.band(-3.5, 7.5, s, s + 20.0, step=2.0)))
        for s in np.arange(0.0, road.spec.length_m - 20.0, 4.0)
    ]
    return gpd.GeoSeries(polys, crs="EPSG:4326")


def covered(plan: MissionPlan, obj: GroundTruthObject, coverage: gpd.GeoSeries) -> bool:
    ring = shapely.Polygon(plan.world.to_lonlat(np.asarray(obj.footprint_xy)))
    return bool(coverage.contains(ring).any())


def simulate_pass(
    plan: MissionPlan,
    platform: Platform,
    coverage: gpd.GeoSeries,
    *,
    seed: int,
    time_utc: datetime,
    removed: frozenset[str] = frozenset(),
) -> tuple[list[GeoEvent], dict[str, str], set[str]]:
    """Tracker-like events of one pass; returns them, event id -> object id, and the objects missed."""
    rng = np.random.default_rng(seed)
    bias = rng.normal(0.0, platform.bias_m, 2)
    events: list[GeoEvent] = []
    truth: dict[str, str] = {}
    missed: set[str] = set()
    for obj in plan.kept:
        if obj.object_id in removed or not covered(plan, obj, coverage):
            continue
        if rng.random() > platform.p_detect:
            missed.add(obj.object_id)
            continue
        copies = 2 if rng.random() < 0.1 else 1  # a track split in two: two events of one object
        for copy in range(copies):
            shift = bias + rng.normal(0.0, platform.noise_m, 2)
            key = obj.class_key
            if key in CONFUSABLE and rng.random() < 0.2:
                key = CONFUSABLE[key]
            centre = plan.world.to_lonlat(np.asarray(obj.center_xy) + shift)[0]
            ring = plan.world.to_lonlat(np.asarray(obj.footprint_xy) + shift)
            event_id = f"{platform.name}-{seed}-{obj.object_id}-{copy}"
            events.append(
                GeoEvent(
                    event_id=event_id,
                    class_id=TAX.by_key[key].id,
                    class_key=key,
                    score=float(rng.uniform(0.4, 0.95)),
                    lon=float(centre[0]),
                    lat=float(centre[1]),
                    accuracy_m=platform.accuracy_m,
                    time_utc=time_utc + timedelta(seconds=float(rng.uniform(0, 30))),
                    mission_id=f"{platform.name}-{seed}",
                    source_id=platform.name,
                    frame_index=int(rng.integers(0, 1000)),
                    box_xyxy=(0.0, 0.0, 10.0, 10.0),
                    footprint=tuple((float(a), float(b)) for a, b in ring),
                    track_id=copy + 1,
                )
            )
            truth[event_id] = obj.object_id
    return events, truth, missed


def cases_per_object(book: CaseBook, truth: dict[str, str]) -> tuple[float, list[set[str]]]:
    """Cases per distinct ground-truth object seen, and each case's set of true objects."""
    owners = [{truth[e] for e in case.event_ids} for case in book.cases]
    seen = set().union(*owners)
    return len(book) / len(seen), owners


# -- multi-pass acceptance ----------------------------------------------------------------


@pytest.mark.parametrize("noise_seed", [1, 2])
def test_two_drone_passes_give_one_case_per_object_and_propose_the_removed_defect(
    plan: MissionPlan, noise_seed: int
) -> None:
    coverage = drone_coverage(plan)
    removed = next(o.object_id for o in plan.kept if o.class_key == "pothole")
    pass1, truth1, _ = simulate_pass(plan, DRONE, coverage, seed=10 * noise_seed, time_utc=T_PASS1)
    t2 = T_PASS1 + timedelta(days=7)
    pass2, truth2, missed2 = simulate_pass(
        plan, DRONE, coverage, seed=10 * noise_seed + 1, time_utc=t2, removed=frozenset({removed})
    )
    book = CaseBook()
    first = book.ingest(pass1, coverage=coverage, pass_id="p1")
    assert {u.action for u in first} == {CaseAction.new}
    second = book.ingest(pass2, coverage=coverage, pass_id="p2")

    ratio, owners = cases_per_object(book, truth1 | truth2)
    assert ratio <= 1.05
    assert all(len(o) == 1 for o in owners), "a case merged two different objects"
    by_object = {next(iter(o)): c for o, c in zip(owners, book.cases, strict=True)}
    seen2 = set(truth2.values())
    proposed = {
        next(iter(o)) for o, c in zip(owners, book.cases, strict=True) if c.status == "possibly_fixed"
    }
    # The removed pothole is proposed; so is any object the second pass covered but its
    # detector missed (a proposal for a person to check, never a closure); nothing else.
    assert removed in proposed
    assert proposed == ({removed} | missed2) & set(by_object)
    seen1 = set(truth1.values())
    assert len(seen1 & seen2) >= 0.8 * len(plan.kept)
    for obj in seen2:
        case = by_object[obj]
        assert case.last_seen_utc >= t2 and case.status is not CaseStatus.possibly_fixed
        if obj in seen1:
            assert case.status is CaseStatus.confirmed and case.times_seen == 2 and len(case.trend) == 2
        else:  # missed by the first pass: opened by the second
            assert case.status is CaseStatus.open and case.times_seen == 1
    assert sum(u.action is CaseAction.possibly_fixed for u in second) == len(proposed)


def test_a_drone_and_a_vehicle_over_the_same_road_share_cases(plan: MissionPlan) -> None:
    drone_cov, vehicle_cov = drone_coverage(plan), vehicle_coverage(plan)
    t2 = T_PASS1 + timedelta(hours=3)
    drone, truth_d, _ = simulate_pass(plan, DRONE, drone_cov, seed=5, time_utc=T_PASS1)
    vehicle, truth_v, missed_v = simulate_pass(plan, VEHICLE, vehicle_cov, seed=6, time_utc=t2)
    book = CaseBook()
    book.ingest(drone, coverage=drone_cov, pass_id="drone")
    book.ingest(vehicle, coverage=vehicle_cov, pass_id="vehicle")

    ratio, owners = cases_per_object(book, truth_d | truth_v)
    assert ratio <= 1.05
    assert all(len(o) == 1 for o in owners)
    # The vehicle saw only its half of the corridor: objects it never covered stay as they were.
    both = set(truth_d.values()) & set(truth_v.values())
    assert len(both) >= 5
    not_covered = {o.object_id for o in plan.kept if not covered(plan, o, vehicle_cov)}
    assert not_covered, "the vehicle's view should be partial"
    for case, own in zip(book.cases, owners, strict=True):
        (obj,) = own
        if obj in both:
            assert case.status is CaseStatus.confirmed and case.times_seen == 2
        if obj in not_covered:
            assert case.status is CaseStatus.open
        assert (case.status is CaseStatus.possibly_fixed) == (obj in missed_v and obj in truth_d.values())


# -- matching rules -----------------------------------------------------------------------


def event_at(i: int, east_m: float, north_m: float, *, key: str = "pothole", t: datetime = T_PASS1,
             acc: float = 0.3, score: float = 0.8) -> GeoEvent:  # fmt: skip
    lon, lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, east_m, north_m)
    ev = make_event(i, class_key=key, class_id=TAX.by_key[key].id, lon=lon, lat=lat)
    return replace(ev, time_utc=t, accuracy_m=acc, score=score)


def square(east_m: float, north_m: float, half: float = 1.0) -> gpd.GeoSeries:
    corners = [(-half, -half), (half, -half), (half, half), (-half, half)]
    ring = [offset_lonlat(ORIGIN_LON, ORIGIN_LAT, east_m + dx, north_m + dy) for dx, dy in corners]
    return gpd.GeoSeries([shapely.Polygon(ring)], crs="EPSG:4326")


def test_categories_stay_apart_and_class_is_the_vote_within_a_category() -> None:
    book = CaseBook()
    book.ingest([event_at(1, 0, 0, key="longitudinal_crack"), event_at(2, 0.2, 0, key="road_debris")])
    assert len(book) == 2
    later = T_PASS1 + timedelta(days=1)
    book.ingest([event_at(3, 0.1, 0.1, key="transverse_crack", t=later)])
    book.ingest([event_at(4, 0.0, 0.2, key="transverse_crack", t=later + timedelta(days=1))])
    crack = next(c for c in book.cases if c.category == "cracks")
    assert len(book) == 2 and crack.class_key == "transverse_crack" and crack.times_seen == 3
    assert [o.score for o in crack.trend] == [0.8, 0.8, 0.8]


def test_tolerance_grows_with_the_accuracies_and_object_size() -> None:
    settings = CaseSettings(min_tol_m=1.0, tol_sigmas=3.0)
    later = T_PASS1 + timedelta(days=1)
    precise = CaseBook(settings)
    precise.ingest([event_at(1, 0, 0, acc=0.1)])
    precise.ingest([event_at(2, 1.5, 0, acc=0.1, t=later)])
    assert len(precise) == 2  # 1.5 m apart, gate max(1.0, 3 * 0.14) + small footprint
    coarse = CaseBook(settings)
    coarse.ingest([event_at(1, 0, 0, acc=0.6)])
    coarse.ingest([event_at(2, 1.5, 0, acc=0.6, t=later)])
    assert len(coarse) == 1  # gate 3 * 0.85 = 2.5 m


def test_case_ids_are_uuid5_of_the_earliest_event_and_replays_agree() -> None:
    events = [event_at(1, 0, 0, t=T_PASS1 + timedelta(seconds=5)), event_at(2, 0.3, 0, t=T_PASS1)]
    a, b = CaseBook(), CaseBook()
    (ua,) = a.ingest(events)
    (ub,) = b.ingest(list(reversed(events)))
    assert ua.case.case_id == ub.case.case_id == case_id_for(events[1].event_id)
    assert ua.case.detections == 2 and ua.case.times_seen == 1


def test_possibly_fixed_needs_full_coverage_a_later_pass_and_is_reopened_when_seen() -> None:
    book = CaseBook()
    book.ingest([event_at(1, 0, 0)])
    later = T_PASS1 + timedelta(days=1)
    # A footprint that only grazes the case is no evidence; an older pass cannot propose either.
    assert book.ingest([], coverage=square(0.8, 0.0, half=0.5), pass_time_utc=later) == []
    assert book.ingest([], coverage=square(0, 0, half=5), pass_time_utc=T_PASS1 - timedelta(days=1)) == []
    (update,) = book.ingest([event_at(9, 30, 0, t=later)], coverage=square(0, 0, half=5))[-1:]
    assert update.action is CaseAction.possibly_fixed and update.case.status is CaseStatus.possibly_fixed
    assert book.proposed_fixed == 1 and len(book) == 2  # proposed, never closed or removed
    reopened = book.ingest([event_at(10, 0.1, 0, t=later + timedelta(days=1))])
    assert reopened[0].action is CaseAction.updated and reopened[0].case.status is CaseStatus.confirmed


def test_misses_to_propose_counts_covering_passes_in_a_row() -> None:
    book = CaseBook(CaseSettings(misses_to_propose=2))
    book.ingest([event_at(1, 0, 0)])
    cover = square(0, 0, half=5)
    assert book.ingest([], coverage=cover, pass_time_utc=T_PASS1 + timedelta(days=1)) == []
    (update,) = book.ingest([], coverage=cover, pass_time_utc=T_PASS1 + timedelta(days=2))
    assert update.case.missed_passes == 2 and update.case.status is CaseStatus.possibly_fixed


def test_coverage_without_crs_is_an_error() -> None:
    book = CaseBook()
    book.ingest([event_at(1, 0, 0)])
    with pytest.raises(GeoError, match="no CRS"):
        book.ingest([], coverage=gpd.GeoSeries([shapely.box(0, 0, 1, 1)]))


# -- size -----------------------------------------------------------------------------------


def test_footprint_measures_area_and_crack_length_on_a_rotated_rectangle() -> None:
    angle = np.radians(30.0)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    crack = shapely.Polygon((np.array([[0, 0], [3.0, 0], [3.0, 0.2], [0, 0.2]]) @ rot.T) + 100.0)
    pothole = shapely.box(0, 0, 0.8, 0.6)
    area, length, size = footprint_measures(np.array([crack, pothole, None], dtype=object))
    assert area[0] == pytest.approx(0.6) and length[0] == pytest.approx(3.0)
    assert area[1] == pytest.approx(0.48) and size[1] == pytest.approx(1.0)
    assert np.isnan(area[2]) and size[2] == 0.0


def square_event(i: int, key: str, half_m: float, t: datetime) -> GeoEvent:
    ev = event_at(i, 0, 0, key=key, t=t)
    corners = np.array([(-1, -1), (1, -1), (1, 1), (-1, 1), (-1, -1)]) * half_m
    ring = [offset_lonlat(ORIGIN_LON, ORIGIN_LAT, dx, dy) for dx, dy in corners]
    return replace(ev, footprint=tuple(ring))


def test_area_trend_of_a_growing_pothole_and_no_area_for_upright_objects() -> None:
    book = CaseBook()
    for k, half in enumerate([0.3, 0.4, 0.5]):
        book.ingest([square_event(k, "pothole", half, T_PASS1 + timedelta(days=k))])
    (case,) = book.cases
    areas = [o.area_m2 for o in case.trend]
    assert areas == pytest.approx([0.36, 0.64, 1.0], rel=1e-3)
    assert case.area_m2 == pytest.approx(1.0, rel=1e-3) and case.length_m is None
    sign = CaseBook()
    sign.ingest([square_event(1, "damaged_sign", 0.5, T_PASS1)])
    assert sign.cases[0].area_m2 is None and sign.cases[0].length_m is None


# -- persistence ----------------------------------------------------------------------------


def test_cases_round_trip_through_a_geopackage_layer_and_keep_merging(tmp_path: Path) -> None:
    book = CaseBook()
    book.ingest([square_event(1, "pothole", 0.4, T_PASS1), event_at(2, 20, 0, key="transverse_crack")])
    path = save_cases(book.to_geodataframe(), tmp_path / "cases.gpkg")
    read = gpd.read_file(path, layer="cases")
    assert len(read) == 2 and read.crs.to_epsg() == 4326
    again = load_cases(path)
    assert [c.case_id for c in again.cases] == [c.case_id for c in book.cases]
    assert again.cases[0].area_m2 == pytest.approx(book.cases[0].area_m2)
    assert again.cases[0].trend == book.cases[0].trend
    (update,) = again.ingest([event_at(3, 0.2, 0.1, t=T_PASS1 + timedelta(days=1))])
    assert update.action is CaseAction.updated and update.case.case_id == book.cases[0].case_id
    assert update.case.times_seen == 2
    # The merged position moved only by the weighted share of the new observation.
    d = GEOD.inv(update.case.lon, update.case.lat, ORIGIN_LON, ORIGIN_LAT)[2]
    assert 0.0 < d < 0.2


def test_a_cases_table_missing_columns_is_named() -> None:
    gdf = CaseBook().to_geodataframe().drop(columns=["trend"])
    with pytest.raises(GeoError, match=r"cases\.gpkg:cases: cases table lacks column"):
        CaseBook.from_geodataframe(gdf, source="cases.gpkg:cases")


def test_counts_by_action() -> None:
    book = CaseBook()
    ups = book.ingest([event_at(1, 0, 0), event_at(2, 0.1, 0), event_at(3, 50, 0)])
    assert Counter(u.action for u in ups) == {CaseAction.new: 2}
    assert book.events_in == 3 and book.cases_opened == 2


def test_a_replayed_pass_changes_nothing() -> None:
    book = CaseBook()
    events = [event_at(1, 0, 0), event_at(2, 30, 0)]
    book.ingest(events)
    assert book.ingest(events) == [] and book.events_replayed == 2
    assert [c.times_seen for c in book.cases] == [1, 1]


def test_a_badly_placed_event_cannot_swallow_its_neighbours() -> None:
    book = CaseBook(CaseSettings(max_tol_m=10.0))
    book.ingest([event_at(1, 0, 0), event_at(2, 30, 0)])
    later = T_PASS1 + timedelta(days=1)
    (update,) = book.ingest([event_at(3, 15, 0, acc=40.0, t=later)])  # 3 * 40 m would reach both
    assert update.action is CaseAction.new and len(book) == 3
    with pytest.raises(GeoError, match="accuracy_m nan"):
        book.ingest([event_at(4, 0, 0, acc=float("nan"), t=later)])


# -- through the real geo path ----------------------------------------------------------------


@pytest.mark.slow
def test_two_passes_through_real_georeferencing_tracking_and_frame_footprints(tmp_path: Path) -> None:
    """Ground-truth boxes of ``drone_sample`` through the real telemetry path, ``georeference_arrays``,
    the :class:`GroundTracker` and ``frame_footprints`` as coverage, twice over one world.

    Each pass gets its own box noise (a per-pass shift standing for telemetry bias,
    per-box jitter) and drops 10% of the boxes; the second pass runs a week later
    and no longer sees one pothole.
    """
    truth = truth_detections("drone_sample", 0, tmp_path, every=3)
    sc = truth.plan.scenario
    camera = CameraModel.from_profile(load_camera_profile(sc.camera_profile), sc.video.width, sc.video.height)
    poses = CameraPoses.from_series(truth.poses, camera)
    footprints = frame_footprints(poses, camera)
    coverage = gpd.GeoSeries([footprints.polygon(i) for i in range(len(poses))], crs="EPSG:4326")
    removed = next(o.object_id for o in truth.plan.kept if o.class_key == "pothole")
    objects = np.array(truth.object_ids)

    def run_pass(
        name: str, seed: int, keep: np.ndarray, shift_days: int
    ) -> tuple[list[GeoEvent], dict[str, str]]:
        rng = np.random.default_rng(seed)
        keep = keep & (rng.random(len(objects)) > 0.1)
        xyxy = truth.xyxy[keep] + rng.normal(0, 15, 2)[[0, 1, 0, 1]] + rng.normal(0, 3, (int(keep.sum()), 4))
        batch = georeference_arrays(
            xyxy, truth.class_id[keep], truth.frame_of[keep], poses, camera,
            mission_id=name, frame_source="cam0", score=np.full(int(keep.sum()), 0.8),
        )  # fmt: skip
        owner = dict(zip([e.event_id for e in batch.events()], objects[keep][batch.located], strict=True))
        later = timedelta(days=shift_days)
        per_frame: dict[int, list[GeoEvent]] = {}
        for event in batch.events():
            per_frame.setdefault(event.frame_index, []).append(
                replace(event, time_utc=event.time_utc + later)
            )
        tracker = GroundTracker()
        out: list[GeoEvent] = []
        for f in range(len(poses)):
            t = float(truth.poses.time_utc[f]) + later.total_seconds()
            out += tracker.update(
                per_frame.get(f, []), time_utc=t, frame_size=(sc.video.width, sc.video.height)
            )
        return out + tracker.flush(), owner

    everything = np.ones(len(objects), bool)
    pass1, owner1 = run_pass("pass-1", 1, everything, 0)
    pass2, owner2 = run_pass("pass-2", 2, objects != removed, 7)
    book = CaseBook()
    book.ingest(pass1, coverage=coverage, pass_id="pass-1")
    book.ingest(pass2, coverage=coverage, pass_id="pass-2")

    owners = [{(owner1 | owner2)[e] for e in case.event_ids} for case in book.cases]
    assert all(len(o) == 1 for o in owners), "a case merged two different objects"
    seen = set().union(*owners)
    assert len(seen) == len(truth.plan.kept) and len(book) / len(seen) <= 1.05
    status = {next(iter(o)): c.status for o, c in zip(owners, book.cases, strict=True)}
    assert status[removed] is CaseStatus.possibly_fixed
    assert all(s is CaseStatus.confirmed for obj, s in status.items() if obj != removed)
