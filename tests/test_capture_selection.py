"""Distance-based frame selection: footprint geometry, the selection rules, and coverage on the samples.

The sample tests drive the selector exactly as the pipeline does: telemetry
files written by the simulator's own writers (NMEA for the vehicle, tlog for
the drone), read back with ``load_telemetry`` and interpolated at the video's
frame times; coverage is checked with the simulator's exact ground-to-image
homographies. No video is rendered: it is not needed to know what each frame sees.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from capture import DistanceSelector, FootprintDepth, Pose, PoseSeries, footprint_depth_m, load_telemetry
from hardware import load_camera_profile

LAT0, LON0 = 30.2741, 120.1551
M_PER_DEG_LAT = 111_195.0  # one degree of latitude on the mean-radius sphere, metres


@dataclass(frozen=True)
class SampleRun:
    n_frames: int
    keep: np.ndarray
    visible: np.ndarray  # (objects, frames): object fully visible in frame
    selector: DistanceSelector
    poses: PoseSeries


def _sample_run(scenario: str, folder: Path, **rules: float) -> SampleRun:
    from hardware.sim import plan_mission
    from hardware.sim.generate import frame_homographies, frames_fully_visible
    from hardware.sim.scenario import Platform
    from hardware.sim.sidecars import write_nmea
    from hardware.sim.tlog import write_tlog

    plan = plan_mission(scenario, 0)
    sc = plan.scenario
    tele = plan.trajectory.state(plan.trajectory.telemetry_times())
    lonlat = plan.world.to_lonlat(tele.xy)
    elevation = sc.origin.ground_elevation_m
    if sc.platform is Platform.vehicle:  # the vehicle's GNSS receiver: NMEA 0183, as the mission writes it
        path = folder / "telemetry.nmea"
        write_nmea(path, tele, sc.start_posix, lonlat=lonlat, ground_elevation_m=elevation)
    else:  # the drone's flight log with gimbal attitude
        path = folder / "telemetry.tlog"
        write_tlog(
            path,
            tele,
            sc.start_posix,
            ground_elevation_m=elevation,
            lonlat=lonlat,
            vehicle_type=2,
            gimbal=True,
            rate_hz=sc.telemetry_rate_hz,
        )
    poses = load_telemetry(path).poses_at(sc.start_posix + plan.frames.t)
    selector = DistanceSelector.from_profile(load_camera_profile(sc.camera_profile), sc.video.height, **rules)
    keep = selector.select_series(poses, final=True)
    H = frame_homographies(plan.K, plan.frames)
    visible = np.array(
        [
            frames_fully_visible(H, np.asarray(o.footprint_xy), sc.video.width, sc.video.height)
            for o in plan.kept
        ]
    )
    assert len(plan.kept) > 0
    return SampleRun(len(plan.frames.t), keep, visible, selector, poses)


@pytest.fixture(scope="module")
def vehicle_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    return _sample_run("vehicle_sample", tmp_path_factory.mktemp("vehicle"))


@pytest.fixture(scope="module")
def drone_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    return _sample_run("drone_sample", tmp_path_factory.mktemp("drone"))


# -- acceptance on the samples -------------------------------------------------------
def test_vehicle_sample_three_times_fewer_frames_and_every_object_whole_in_one(
    vehicle_run: SampleRun,
) -> None:
    run = vehicle_run
    assert run.n_frames == 600  # 20 s at 30 fps, 60 km/h
    kept = int(run.keep.sum())
    assert 3 * kept <= run.n_frames, f"kept {kept} of {run.n_frames} frames"
    seen_in_kept = (run.visible & run.keep).sum(axis=1)
    assert (seen_in_kept >= 1).all(), f"objects in no processed frame: {np.flatnonzero(seen_in_kept == 0)}"
    counts = run.selector.counts
    assert counts.frames_seen == run.n_frames and counts.frames_selected == kept
    assert counts.selected_distance > counts.selected_time  # footprint advance, not the clock, drives it


def test_vehicle_sample_at_the_pipeline_defaults(tmp_path: Path) -> None:
    """What `roadsight run` does by default (three views per ground point) still saves >= 3x."""
    from roadsight.config import SamplingConfig

    d = SamplingConfig()
    rules = {"advance_fraction": d.advance_fraction, "max_interval_s": d.max_interval_s}
    run = _sample_run("vehicle_sample", tmp_path, **rules)
    kept = int(run.keep.sum())
    assert 3 * kept <= run.n_frames, f"kept {kept} of {run.n_frames} frames"
    # Denser than the acceptance run: every object whole in at least two processed frames.
    assert ((run.visible & run.keep).sum(axis=1) >= 2).all()


def test_drone_sample_nadir_reduces_and_covers(drone_run: SampleRun) -> None:
    run = drone_run
    kept = int(run.keep.sum())
    assert 3 * kept <= run.n_frames, f"kept {kept} of {run.n_frames} frames"
    assert ((run.visible & run.keep).sum(axis=1) >= 1).all()
    depth = run.selector.depth_m
    assert isinstance(depth, FootprintDepth)
    # depth from telemetry height (~30 m) and gimbal pitch (~-90): 2 h tan(vfov / 2) = 23.75 m at 30 m
    assert np.nanmedian(depth.of_series(run.poses)) == pytest.approx(23.75, abs=0.3)


def test_drone_sample_distance_rule_alone_covers(tmp_path: Path) -> None:
    run = _sample_run("drone_sample", tmp_path, max_interval_s=math.inf)
    assert run.selector.counts.selected_distance > 0 and run.selector.counts.selected_time == 0
    assert ((run.visible & run.keep).sum(axis=1) >= 1).all()


def test_per_frame_select_matches_the_series_form(vehicle_run: SampleRun) -> None:
    selector = DistanceSelector.from_profile(load_camera_profile("vehicle_dashcam_1080p"), 1080)
    poses = vehicle_run.poses
    keep = [selector.select(float(poses.time_utc[i]), poses.pose(i)) for i in range(len(poses))]
    if not keep[-1] and selector.select_final():
        keep[-1] = True
    assert np.array_equal(np.array(keep), vehicle_run.keep)
    assert selector.counts == vehicle_run.selector.counts


# -- rules on synthetic tracks --------------------------------------------------------
def _track(times: np.ndarray, north_m: np.ndarray, speed_mps: np.ndarray | float | None = None) -> PoseSeries:
    """Poses moving north by ``north_m`` metres at ``times``."""
    n = len(times)
    nan = np.full(n, np.nan)
    speed = nan if speed_mps is None else np.broadcast_to(np.asarray(speed_mps, dtype=float), (n,))
    cols = {name: nan for name in ("alt_msl", "alt_agl", "camera_pitch", "camera_yaw", "camera_roll")}
    return PoseSeries(
        time_utc=np.asarray(times, dtype=float),
        located=np.ones(n, dtype=bool),
        lat=LAT0 + np.asarray(north_m) / M_PER_DEG_LAT,
        lon=np.full(n, LON0),
        roll=np.zeros(n),
        pitch=np.zeros(n),
        yaw=np.zeros(n),
        speed_mps=speed,
        horizontal_accuracy_m=np.full(n, 0.5),
        vertical_accuracy_m=np.full(n, 1.0),
        **cols,
    )


FPS = 30.0


def test_distance_rule_keeps_a_frame_every_advance() -> None:
    t = np.arange(0, 10, 1 / FPS)
    selector = DistanceSelector(depth_m=10.0, advance_fraction=0.5, max_interval_s=math.inf)
    keep = selector.select_series(_track(t, 10.0 * t))  # 10 m/s
    np.testing.assert_allclose(t[keep], np.arange(0, 10, 0.5), atol=1.5 / FPS)


def test_stationary_platform_gets_no_frame_after_the_first_even_past_the_time_cap() -> None:
    t = np.arange(0, 60, 1 / FPS)
    selector = DistanceSelector(depth_m=10.0, max_interval_s=2.0)
    keep = selector.select_series(_track(t, np.zeros_like(t), speed_mps=0.0))
    assert np.flatnonzero(keep).tolist() == [0]
    assert selector.counts.skipped_stationary == int((t >= 2.0).sum())
    assert selector.select_final() is False


def test_gnss_drift_while_standing_is_not_motion() -> None:
    # A receiver standing still wanders slowly (1.5 m over a minute), and no speed is reported.
    t = np.arange(0, 60, 1 / FPS)
    drift = 1.5 * np.sin(2 * np.pi * t / 120.0)
    selector = DistanceSelector(depth_m=8.0)
    assert int(selector.select_series(_track(t, drift)).sum()) == 1


def test_time_cap_while_moving_slowly() -> None:
    t = np.arange(0, 12, 1 / FPS)
    selector = DistanceSelector(depth_m=40.0, max_interval_s=2.0, stationary_speed_mps=0.3)
    keep = selector.select_series(_track(t, 0.5 * t, speed_mps=0.5))  # 20 m advance would take 40 s
    np.testing.assert_allclose(t[keep], np.arange(0, 12, 2.0), atol=1.5 / FPS)
    assert selector.counts.selected_time == 5 and selector.counts.selected_distance == 0


def test_creeping_below_stationary_speed_still_keeps_frames_by_distance() -> None:
    t = np.arange(0, 60, 1 / FPS)
    selector = DistanceSelector(depth_m=10.0, stationary_speed_mps=0.3)
    keep = selector.select_series(_track(t, 0.2 * t, speed_mps=0.2))  # 5 m every 25 s
    np.testing.assert_allclose(t[keep], [0.0, 25.0, 50.0], atol=1.5 / FPS)
    assert selector.counts.selected_time == 0 and selector.counts.skipped_stationary > 0


def test_unlocated_frames_pass_every_max_interval_then_the_first_located_frame() -> None:
    selector = DistanceSelector(depth_m=10.0, max_interval_s=2.0)
    unlocated = [selector.select(float(t), None) for t in np.arange(0, 5, 1 / FPS)]
    assert np.flatnonzero(unlocated).tolist() == [0, 60, 120]
    assert selector.select(5.0, Pose(5.0, LAT0, LON0)) is True  # first position: the anchor
    assert selector.select(5.1, Pose(5.1, LAT0, LON0)) is False
    counts = selector.counts
    assert (counts.selected_unlocated, counts.selected_first, counts.frames_seen) == (2, 2, 152)


def test_frame_after_a_telemetry_gap_is_kept_when_the_platform_moved_meanwhile() -> None:
    selector = DistanceSelector(depth_m=10.0, max_interval_s=math.inf)
    assert selector.select(0.0, Pose(0.0, LAT0, LON0)) is True
    assert selector.select(0.5, None) is False
    north = LAT0 + 6.0 / M_PER_DEG_LAT
    assert selector.select(1.0, Pose(1.0, north, LON0)) is True
    assert selector.counts.selected_distance == 1


def test_min_interval_bounds_the_rate() -> None:
    t = np.arange(0, 10, 1 / FPS)
    selector = DistanceSelector(depth_m=1.0, min_interval_s=0.5)
    keep = selector.select_series(_track(t, 20.0 * t))
    assert np.diff(t[keep]).min() >= 0.5 - 1e-9


def test_last_frame_is_kept_at_the_end_when_it_shows_new_ground() -> None:
    t = np.arange(0, 3.2, 1 / FPS)
    selector = DistanceSelector(depth_m=10.0, max_interval_s=math.inf)
    keep = selector.select_series(_track(t, 10.0 * t), final=True)
    assert keep[-1] and selector.counts.selected_final == 1
    assert selector.counts.frames_selected == int(keep.sum())


def test_footprint_depth_follows_height_through_a_flight() -> None:
    t = np.arange(0, 20, 1 / FPS)
    series = _track(t, 5.0 * t)
    climbing = replace(series, alt_agl=10.0 + 2.0 * t, camera_pitch=np.full(len(t), -90.0))
    depth = FootprintDepth.from_profile(load_camera_profile("dji_m3e_wide"))
    selector = DistanceSelector(depth_m=depth, max_interval_s=math.inf)
    keep = selector.select_series(climbing)
    # Nadir depth grows with height (2 h tan(vfov / 2)), so kept frames grow further apart.
    gaps = np.diff(5.0 * t[keep])
    assert gaps[-1] > 2 * gaps[0]
    np.testing.assert_allclose(gaps[0], 0.5 * 23.751 / 30.0 * (10.0 + 2.0 * t[keep][0]), rtol=0.05)


@pytest.mark.parametrize("fraction", [0.0, -0.1, 1.5, float("nan")])
def test_advance_fraction_out_of_range_is_an_error_naming_it(fraction: float) -> None:
    with pytest.raises(ValueError, match="advance_fraction"):
        DistanceSelector(depth_m=10.0, advance_fraction=fraction)


def test_other_bad_parameters_are_errors_naming_them() -> None:
    with pytest.raises(ValueError, match="max_interval_s"):
        DistanceSelector(depth_m=10.0, max_interval_s=0.0)
    with pytest.raises(ValueError, match="min_interval_s"):
        DistanceSelector(depth_m=10.0, min_interval_s=3.0, max_interval_s=2.0)
    with pytest.raises(ValueError, match="depth_m"):
        DistanceSelector(depth_m=0.0)
    DistanceSelector(depth_m=10.0, advance_fraction=1.0)  # the upper bound itself is allowed


# -- footprint geometry -----------------------------------------------------------------
def test_footprint_depth_nadir_is_2h_tan_half_vfov() -> None:
    vfov = 2 * math.degrees(math.atan(9.73 / 2 / 12.29))  # DJI M3E wide, 16:9 video
    # 2 * 30 * (9.73 / 2 / 12.29) = 23.751 m; 5 cm GSD is not reached at 30 m (2.2 cm at nadir)
    assert footprint_depth_m(30.0, -90.0, vfov, pixel_angle_rad=9.73 / 12.29 / 1080) == pytest.approx(
        23.751, abs=1e-3
    )
    assert FootprintDepth.from_profile(load_camera_profile("dji_m3e_wide")).at(
        np.array([30.0]), np.array([-90.0])
    )[0] == pytest.approx(23.751, abs=1e-3)


def test_footprint_depth_oblique_vehicle_camera_runs_to_the_gsd_limit() -> None:
    # Dashcam: 3.15 mm x 4 mm lens, 1080 rows, 1.6 m high, pitched 20 degrees down.
    vfov = 2 * math.degrees(math.atan(3.15 / 2 / 4.0))  # 42.98 deg: the top edge is above the horizon
    pixel = 3.15 / 4.0 / 1080
    # near: 1.6 / tan(20 + 21.49 deg) = 1.809 m; far: along-track GSD h p / sin^2(a) = 5 cm at
    # a = asin(sqrt(1.6 p / 0.05)) = 8.79 deg, 1.6 / tan(a) = 10.352 m; depth 8.543 m.
    assert footprint_depth_m(1.6, -20.0, vfov, pixel_angle_rad=pixel) == pytest.approx(8.543, abs=1e-3)
    # the range cap, when nearer: 6 m - 1.809 m
    assert footprint_depth_m(1.6, -20.0, vfov, pixel_angle_rad=pixel, max_range_m=6.0) == pytest.approx(
        4.191, abs=1e-3
    )
    profile = load_camera_profile("vehicle_dashcam_1080p")  # the mount's height and pitch apply
    unknown = np.array([np.nan])  # a vehicle's telemetry has no camera height or pitch
    assert FootprintDepth.from_profile(profile).at(unknown, unknown)[0] == pytest.approx(8.543, abs=1e-3)
    # a 360-row stream resolves a third as finely: the GSD limit comes nearer
    # (a = asin(sqrt(1.6 * 3 p / 0.05)) = 15.34 deg, 1.6 / tan(a) = 5.832 m; depth 4.023 m)
    low_res = FootprintDepth.from_profile(profile, 360)
    assert low_res.at(unknown, unknown)[0] == pytest.approx(4.023, abs=1e-3)


def test_footprint_depth_whole_frame_on_the_ground_and_none_above_the_horizon() -> None:
    # pitch -45, vfov 40, no GSD limit: rays at 65 and 25 degrees down from 2 m
    expected = 2.0 / math.tan(math.radians(25)) - 2.0 / math.tan(math.radians(65))  # 3.357 m
    assert footprint_depth_m(2.0, -45.0, 40.0) == pytest.approx(expected, abs=1e-9)
    assert math.isnan(footprint_depth_m(2.0, 30.0, 40.0))  # looking up: no ground
    depths = footprint_depth_m(np.array([10.0, 20.0, -1.0]), -90.0, 60.0)
    np.testing.assert_allclose(depths[:2], [20 * math.tan(math.radians(30)), 40 * math.tan(math.radians(30))])
    assert math.isnan(depths[2])
