"""Flying an uploaded mission: the simulator's kinematic copter driven by DroneKit over MAVLink/UDP.

Start needs confirmation and passing pre-flight checks; the vehicle arms, flies
the road mission in AUTO (progress reaches the last item), and returns to launch
on link loss and on low battery as the drone profile's failsafe parameters say.
The last test is the whole chain: plan along a simulated road, upload, fly,
render video and telemetry along the flown path, `roadsight run`, `roadsight eval`.
The simulator runs its clock 10x faster than the wall clock; every wait polls
with a generous deadline instead of sleeping a fixed time.
"""

from __future__ import annotations

import json
import math
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dronekit
import numpy as np
import pytest
from net_helpers import free_port
from pymavlink import mavutil
from shapely.geometry import LineString, Point

from hardware.device_profiles import load_drone_profile
from hardware.mission_flight import MissionStartRefused, start_mission
from hardware.mission_upload import upload_mission
from hardware.missions import MissionItem, plan_road_mission
from hardware.profiles import load_camera_profile
from hardware.sim.flight import KinematicFlight, failsafe_action
from hardware.sim.flown import live_view, write_flown_mission
from hardware.sim.flying_vehicle import FlyingVehicle
from hardware.sim.generate import MissionPlan as SimMissionPlan
from hardware.sim.generate import plan_mission
from hardware.sim.live_video import LiveRtspServer
from hardware.sim.mission_store import StoredItem
from hardware.sim.scenario import load_scenario
from stream import GeoPackageStore

mav = mavutil.mavlink
LAT0, LON0, GROUND_MSL = 30.2741, 120.1551, 12.0
DRONE = load_drone_profile("generic_ardupilot_quad")  # RTL at 25 %, RTL on link loss
M_PER_DEG_LAT = 111_320.0
LINK_LOSS_S = 30.0  # the ground station's own limit: generous, a loaded CI machine can stall a thread


def _road_mission(length_m: float = 240.0) -> list[MissionItem]:
    """A straight road starting 20 m north of home, heading east-north-east."""
    end_east, end_north = length_m * math.cos(math.radians(10)), 20 + length_m * math.sin(math.radians(10))
    m_per_deg_lon = M_PER_DEG_LAT * math.cos(math.radians(LAT0))
    road = np.array(
        [
            [LON0, LAT0 + 20 / M_PER_DEG_LAT],
            [LON0 + end_east / m_per_deg_lon, LAT0 + end_north / M_PER_DEG_LAT],
        ]
    )
    plan = plan_road_mission(road, camera=load_camera_profile("dji_m3e_wide"), altitude_m=30, speed_mps=8)
    return plan.mission_items()


def _distance_home_m(lat: float, lon: float) -> float:
    return math.hypot(
        (lat - LAT0) * M_PER_DEG_LAT, (lon - LON0) * M_PER_DEG_LAT * math.cos(math.radians(LAT0))
    )


def _wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not {what} after {timeout_s} s")
        time.sleep(0.1)


def _connect(port: int) -> dronekit.Vehicle:
    return dronekit.connect(f"udp:127.0.0.1:{port}", wait_ready=True, timeout=60, heartbeat_timeout=60)


@pytest.fixture
def flying_sim(request: pytest.FixtureRequest) -> Iterator[tuple[FlyingVehicle, int]]:
    """A fresh simulated copter at home (clock 10x); ``indirect`` parameters override its options.

    Its GCS failsafe waits ``gcs_timeout_s`` (default 20 s, so that a test process starved of CPU on
    a loaded machine does not look like a lost link; the link-loss test asks for ArduPilot's 5 s).
    """
    options = {"time_factor": 10.0, **getattr(request, "param", {})}
    gcs_timeout_s = options.pop("gcs_timeout_s", 20.0)
    port = free_port(socket.SOCK_DGRAM)
    sim = FlyingVehicle((LAT0, LON0, GROUND_MSL), f"udpout:127.0.0.1:{port}", **options)
    sim.params["FS_GCS_TIMEOUT"] = gcs_timeout_s
    yield sim.start(), port
    sim.stop()


# -- the flight model on its own ---------------------------------------------------------------
def test_kinematic_flight_climbs_turns_and_returns_home() -> None:
    flight = KinematicFlight((LAT0, LON0, GROUND_MSL))
    east = LON0 + 100 / (M_PER_DEG_LAT * math.cos(math.radians(LAT0)))
    flight.items = [
        flight.items[0],
        StoredItem(3, mav.MAV_CMD_NAV_TAKEOFF, 1, (0, 0, 0, 0), LAT0, LON0, 20.0),
        StoredItem(2, mav.MAV_CMD_DO_CHANGE_SPEED, 1, (1, 10, -1, 0), 0, 0, 0),
        StoredItem(3, mav.MAV_CMD_NAV_WAYPOINT, 1, (0, 0, 0, 0), LAT0, east, 20.0),
        StoredItem(2, mav.MAV_CMD_NAV_RETURN_TO_LAUNCH, 1, (0, 0, 0, 0), 0, 0, 0),
    ]
    assert not flight.set_mode("BOGUS")
    assert flight.arm() and flight.set_mode("AUTO")
    reached: list[int] = []
    yaws: list[float] = []
    armed_s = 0.0
    for _ in range(2000):
        armed_s += 0.05 if flight.armed else 0.0
        reached += flight.step(0.05)
        yaws.append(flight.state.yaw_deg)
        if flight.current_seq == 3:
            assert flight.speed_mps == 10.0
    assert reached == [1, 2, 3, 4]
    assert not flight.armed and flight.mode == "RTL" and flight.on_ground
    assert _distance_home_m(flight.state.lat, flight.state.lon) < 2.5
    # The nose swung east at a limited rate (not in one step), then back west for the return.
    assert any(10 < y < 80 for y in yaws) and any(abs(y - 90) < 1 for y in yaws)
    assert any(abs(y - 270) < 1 for y in yaws)
    # The battery drained only while armed, linearly over the endurance.
    assert 100 * armed_s / flight.endurance_s == pytest.approx(100 - flight.battery_percent)


def test_failsafe_decision_follows_ardupilot_parameters() -> None:
    params = {"FS_GCS_ENABLE": 1.0, "FS_GCS_TIMEOUT": 5.0, "BATT_FS_LOW_ACT": 2.0, "BATT_CAPACITY": 5000.0}
    params["BATT_LOW_MAH"] = 1250.0  # 25 % of 5000 mAh
    assert failsafe_action(params, gcs_seen=True, gcs_silent_s=1.0, battery_percent=80) is None
    assert failsafe_action(params, gcs_seen=True, gcs_silent_s=6.0, battery_percent=80) == "link loss"
    assert failsafe_action(params, gcs_seen=False, gcs_silent_s=math.inf, battery_percent=80) is None
    assert failsafe_action(params, gcs_seen=True, gcs_silent_s=1.0, battery_percent=25) == "low battery"
    assert (
        failsafe_action({**params, "BATT_FS_LOW_ACT": 0.0}, gcs_seen=True, gcs_silent_s=1, battery_percent=5)
        is None
    )
    assert (
        failsafe_action({**params, "FS_GCS_ENABLE": 0.0}, gcs_seen=True, gcs_silent_s=60, battery_percent=80)
        is None
    )


# -- over MAVLink with DroneKit ---------------------------------------------------------------
def test_start_without_confirm_is_refused_and_nothing_moves(flying_sim: tuple[FlyingVehicle, int]) -> None:
    sim, port = flying_sim
    vehicle = _connect(port)
    try:
        upload_mission(vehicle, _road_mission(), timeout_s=30)
        with pytest.raises(MissionStartRefused, match="without confirmation"):
            start_mission(vehicle, drone=DRONE, confirm=False)
        time.sleep(0.5)
        assert not sim.armed and sim.mode == "GUIDED" and sim.track() == []
        assert sim.params["FS_GCS_ENABLE"] == 0.0  # not even the failsafes were written
    finally:
        vehicle.close()


@pytest.mark.parametrize("flying_sim", [{"battery_percent": 60.0}], indirect=True)
def test_start_refused_when_preflight_fails(flying_sim: tuple[FlyingVehicle, int]) -> None:
    sim, port = flying_sim
    vehicle = _connect(port)
    try:
        upload_mission(vehicle, _road_mission(), timeout_s=30)
        with pytest.raises(MissionStartRefused, match=r"FAIL battery: 60 %, need 75 %"):
            start_mission(vehicle, drone=DRONE, confirm=True)
        assert not sim.armed
    finally:
        vehicle.close()


def test_mission_flies_to_the_last_waypoint_and_lands_home(flying_sim: tuple[FlyingVehicle, int]) -> None:
    sim, port = flying_sim
    items = _road_mission()
    vehicle = _connect(port)
    try:
        upload_mission(vehicle, items, timeout_s=30)
        flight = start_mission(vehicle, drone=DRONE, confirm=True, timeout_s=60, link_loss_s=LINK_LOSS_S)
        assert sim.params["FS_GCS_ENABLE"] == 1.0 and sim.params["BATT_LOW_MAH"] == 1250.0
        seen = list(flight.progress(poll_s=0.2, timeout_s=240))
    finally:
        vehicle.close()
    last = seen[-1]
    assert last.finished and not last.armed and last.rtl_reason is None
    assert last.total == len(items) and last.current == len(items) and last.last_reached == len(items)
    assert sim.reached == list(range(1, len(items) + 1))
    currents = [p.current for p in seen]
    assert currents == sorted(currents)  # progress only goes forward
    assert any(p.distance_m is not None and p.distance_m > 20 for p in seen)
    batteries = [p.battery_percent for p in seen if p.battery_percent is not None]
    assert len(batteries) == len(seen) and batteries[-1] < batteries[0]
    track = sim.track()
    # Flew every waypoint at 30 m and came back to land at home.
    waypoints = [i for i in items if i.command == mav.MAV_CMD_NAV_WAYPOINT]
    for wp in waypoints:
        closest = min(
            math.hypot((s.lat - wp.lat) * M_PER_DEG_LAT, (s.lon - wp.lon) * M_PER_DEG_LAT * 0.864)
            for s in track
        )
        assert closest < 3.0
    assert max(s.alt_rel_m for s in track) == pytest.approx(30.0, abs=0.6)
    assert _distance_home_m(track[-1].lat, track[-1].lon) < 2.5 and track[-1].alt_rel_m == 0.0


# Clock 2x: the 5 s (wall) GCS timeout is 10 simulated s, well inside the ~45 s mission.
@pytest.mark.parametrize("flying_sim", [{"time_factor": 2.0, "gcs_timeout_s": 5.0}], indirect=True)
def test_link_loss_makes_the_vehicle_return(flying_sim: tuple[FlyingVehicle, int]) -> None:
    sim, port = flying_sim
    items = _road_mission()
    vehicle = _connect(port)
    try:
        upload_mission(vehicle, items, timeout_s=30)
        start_mission(vehicle, drone=DRONE, confirm=True, timeout_s=60, link_loss_s=LINK_LOSS_S)
        _wait_until(lambda: sim.flight.state.alt_rel_m > 25, 60, "climbed")
    finally:
        vehicle.close()  # the ground station is gone: no more GCS heartbeats
    _wait_until(lambda: sim.mode == "RTL", 60, "in RTL after link loss")
    assert sim.flight.failsafe == "link loss"
    _wait_until(lambda: not sim.armed, 240, "landed")
    end = sim.track()[-1]
    assert _distance_home_m(end.lat, end.lon) < 2.5
    assert sim.reached[-1] < len(items)  # it did not finish the mission


@pytest.mark.parametrize("flying_sim", [{"battery_percent": 76.0, "endurance_s": 60.0}], indirect=True)
def test_low_battery_makes_the_vehicle_return(flying_sim: tuple[FlyingVehicle, int]) -> None:
    sim, port = flying_sim
    vehicle = _connect(port)
    try:
        upload_mission(vehicle, _road_mission(), timeout_s=30)
        flight = start_mission(vehicle, drone=DRONE, confirm=True, timeout_s=60, link_loss_s=LINK_LOSS_S)
        seen = list(flight.progress(poll_s=0.2, timeout_s=240))
    finally:
        vehicle.close()
    # 76 % draining over 60 simulated s reaches 25 % after ~31 s armed: in the middle of the pass.
    assert sim.flight.failsafe == "low battery" or seen[-1].rtl_reason is not None
    assert any(p.mode == "RTL" for p in seen)
    assert seen[-1].finished and not seen[-1].armed
    assert seen[-1].last_reached < seen[-1].total
    end = sim.track()[-1]
    assert _distance_home_m(end.lat, end.lon) < 2.5


# -- plan -> upload -> fly -> detect -> map ------------------------------------------------------
@dataclass(frozen=True)
class RoadWorld:
    plan: SimMissionPlan  # the simulated world: road, defects, camera
    items: list[MissionItem]  # the inspection mission planned along its road
    home: tuple[float, float, float]  # lat, lon, ground AMSL beside the road's start


def _road_world() -> RoadWorld:
    """A 160 m straight simulated road with the nine defect classes, and a mission planned along it."""
    quick = load_scenario("drone_quick")
    road_shape = quick.road.model_copy(
        update={"length_m": 160.0, "heading_deg": 60.0, "curvature_deg_per_100m": 0.0}
    )
    scenario = quick.model_copy(update={"road": road_shape, "duration_s": 20.0})
    world_plan = plan_mission(scenario, 3)
    world, road = world_plan.world, world_plan.world.road
    road_lonlat = world.to_lonlat(road.points(np.linspace(0.0, road.spec.length_m, 50), 0.0))
    plan = plan_road_mission(
        road_lonlat, camera=load_camera_profile(scenario.camera_profile), altitude_m=30, speed_mps=5.5
    )
    home_lon, home_lat = world.to_lonlat(road.points(np.array([0.0]), -15.0))[0]
    home = (float(home_lat), float(home_lon), scenario.origin.ground_elevation_m)
    return RoadWorld(world_plan, plan.mission_items(), home)


def _events_on_the_road(store: Path, road_world: RoadWorld) -> list[float]:
    """Distance of every stored event from the road's centre line (metres)."""
    world = road_world.plan.world
    with GeoPackageStore(store, readonly=True) as events_store:
        events = events_store.read()
    road_line = LineString(world.road.points(np.linspace(0.0, world.road.spec.length_m, 200), 0.0))
    xy = world.to_local(np.column_stack([events.geometry.x, events.geometry.y]))
    return [float(road_line.distance(Point(p))) for p in xy]


def _eval(mission: Path, store: Path, radius_m: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "roadsight", "eval", "--mission", str(mission), "--store", str(store)]
    command += ["--radius", str(radius_m), "--json"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    return dict(json.loads(done.stdout))


@pytest.mark.gst
@pytest.mark.slow
def test_plan_upload_fly_detect_map(tmp_path: Path) -> None:
    """The whole chain: the video and telemetry the pipeline reads come from the path the vehicle flew."""
    road_world = _road_world()
    world_plan, items, home = road_world.plan, road_world.items, road_world.home
    scenario, road = world_plan.scenario, world_plan.world.road
    port = free_port(socket.SOCK_DGRAM)
    with FlyingVehicle(home, f"udpout:127.0.0.1:{port}", time_factor=10) as sim:
        sim.params["FS_GCS_TIMEOUT"] = 20.0
        vehicle = _connect(port)
        try:
            upload_mission(vehicle, items, timeout_s=30)
            flight = start_mission(vehicle, drone=DRONE, confirm=True, timeout_s=60, link_loss_s=LINK_LOSS_S)
            last = list(flight.progress(poll_s=0.3, timeout_s=300))[-1]
        finally:
            vehicle.close()
        track = sim.track()
    assert last.finished and last.last_reached == len(items)
    mission = write_flown_mission(world_plan, track, tmp_path / "flown")
    manifest = json.loads((mission / "scenario.json").read_text())
    assert manifest["ground_truth_objects"] >= 5  # the flight saw the road's defects
    store = tmp_path / "flown.gpkg"
    run = subprocess.run(
        [
            sys.executable, "-m", "roadsight", "run", "--source", str(mission / "video.mp4"),
            "--telemetry", str(mission / "telemetry.tlog"), "--camera", scenario.camera_profile,
            "--mission-id", "flown", "--store", str(store), "--json",
        ],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = _eval(mission, store, radius_m=2.0)
    assert report["recall"] >= 0.6 and report["precision"] >= 0.6, report
    assert report["geo_error_p95_m"] < 1.5, report
    off_road = _events_on_the_road(store, road_world)
    assert len(off_road) == report["events"]
    assert max(off_road) <= road.spec.half_corridor_m, off_road  # every event on the road corridor


@pytest.mark.gst
@pytest.mark.slow
def test_live_flight_streams_video_and_telemetry_to_the_pipeline(tmp_path: Path) -> None:
    """While the vehicle flies, the simulator renders its view over RTSP and sends its telemetry to the
    pipeline's MAVLink port: `roadsight run` on those live sources maps the road's defects."""
    road_world = _road_world()
    plan, items = road_world.plan, road_world.items
    gcs_port, telemetry_port = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_DGRAM)
    sim = FlyingVehicle(
        road_world.home, f"udpout:127.0.0.1:{gcs_port}", telemetry_outs=[f"udpout:127.0.0.1:{telemetry_port}"]
    )
    sim.params["FS_GCS_TIMEOUT"] = 20.0

    def mission_flown() -> bool:  # the stream ends with the mission (the return to launch is not filmed)
        return bool(sim.reached) and (sim.reached[-1] == len(items) or sim.mode != "AUTO")

    video = plan.scenario.video
    live = LiveRtspServer(live_view(sim, plan, until=mission_flown), video.width, video.height, fps=5)
    store = tmp_path / "live.gpkg"
    with sim:
        live.start()
        run = subprocess.Popen(
            [
                sys.executable, "-m", "roadsight", "run", "--source", f"{live.url}?transport=tcp",
                "--telemetry", f"udp:127.0.0.1:{telemetry_port}", "--camera", plan.scenario.camera_profile,
                "--mission-id", "live", "--store", str(store), "--json",
            ],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            _wait_until(live.played.is_set, 120, "playing to the pipeline")
            vehicle = _connect(gcs_port)
            try:
                upload_mission(vehicle, items, timeout_s=30)
                flight = start_mission(
                    vehicle, drone=DRONE, confirm=True, timeout_s=60, link_loss_s=LINK_LOSS_S
                )
                for progress in flight.progress(poll_s=0.5, timeout_s=300):
                    if progress.last_reached == len(items):
                        break
            finally:
                vehicle.close()
            out, err = run.communicate(timeout=300)  # the stream ended with the mission: the run ends
        finally:
            live.stop()
            if run.poll() is None:
                run.kill()
                run.communicate(timeout=30)
        track = sim.track()
    assert run.returncode == 0, out[-3000:] + err[-3000:]
    summary = json.loads(out)
    assert live.ended.is_set() and summary["frames_decoded"] >= 20
    assert summary["frames_unlocated"] <= 3 and summary["events"] >= 1, summary
    # Ground truth: what this flight saw, rendered from the same recorded path.
    mission = write_flown_mission(plan, track, tmp_path / "flown")
    # Live frames are stamped on arrival: allow for the stream's latency at 5.5 m/s.
    report = _eval(mission, store, radius_m=3.0)
    assert report["recall"] >= 0.5 and report["precision"] >= 0.5, report
    off_road = _events_on_the_road(store, road_world)
    assert max(off_road) <= plan.world.road.spec.half_corridor_m, off_road
