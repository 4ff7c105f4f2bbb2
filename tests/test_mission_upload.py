"""DroneKit against the simulator's MAVLink vehicle: mission upload/download round trip, pre-flight checks."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import dronekit
import numpy as np
import pytest
from fixtures_capture import MissionTruth, free_port, write_mission
from pymavlink import mavutil

from hardware.device_profiles import load_drone_profile
from hardware.mission_upload import (
    FLOAT32_DEGREE_TOLERANCE,
    MissionRejected,
    download_mission,
    same_mission,
    upload_mission,
)
from hardware.missions import MissionItem, MissionPlan, plan_road_mission
from hardware.preflight import preflight_checks
from hardware.profiles import load_camera_profile
from hardware.sim.mavlink_vehicle import MavlinkVehicle

TRUTH = MissionTruth()
mav = mavutil.mavlink


@pytest.fixture(scope="module")
def tlog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("upload_mission")
    write_mission(folder, TRUTH, video=False)
    return folder / "telemetry.tlog"


@pytest.fixture
def sim_vehicle(tlog: Path) -> Iterator[tuple[MavlinkVehicle, int]]:
    """A fresh simulated vehicle (its mission: home only) holding at its first record."""
    port = free_port(socket.SOCK_DGRAM)
    vehicle = MavlinkVehicle.from_tlog(tlog, f"udpout:127.0.0.1:{port}")
    yield vehicle.start(), port
    vehicle.stop()


def _curved_road() -> np.ndarray:
    theta = np.linspace(0.0, 1.2, 60)  # ~ a 300 m arc of radius 250 m near the simulated vehicle
    return np.column_stack(
        [TRUTH.lon0 + 250 * (np.cos(theta) - 1) / 96_000, TRUTH.lat0 + 250 * np.sin(theta) / 111_000]
    )


def _connect(port: int) -> dronekit.Vehicle:
    return dronekit.connect(f"udp:127.0.0.1:{port}", wait_ready=True, timeout=30, heartbeat_timeout=30)


def _curved_road_plan() -> MissionPlan:
    return plan_road_mission(
        _curved_road(),
        camera=load_camera_profile("dji_m3e_wide"),
        altitude_m=40,
        speed_mps=8,
        road_width_m=70,
    )


def _curved_road_items() -> list[MissionItem]:
    return _curved_road_plan().mission_items()


def test_dronekit_upload_download_round_trip(sim_vehicle: tuple[MavlinkVehicle, int]) -> None:
    sim, port = sim_vehicle
    plan = _curved_road_plan()
    items = plan.mission_items()
    assert len(plan.passes) == 2 and len(items) > 10
    vehicle = _connect(port)
    try:
        upload_mission(vehicle, items, timeout_s=20)
        assert sim.mission.uploads_accepted == 1
        assert len(sim.mission.items) == len(items) + 1  # home first, as on ArduPilot
        home = sim.mission.items[0]
        # DroneKit re-sends the home it downloaded with the float MISSION_ITEM: float32 degrees.
        assert (home.lat, home.lon) == pytest.approx((TRUTH.lat0, TRUTH.lon0), abs=FLOAT32_DEGREE_TOLERANCE)
        back = download_mission(vehicle, timeout_s=20)
    finally:
        vehicle.close()
    assert same_mission(back, items)
    assert [i.command for i in back] == [i.command for i in items]
    assert back[-1].command == mav.MAV_CMD_NAV_RETURN_TO_LAUNCH
    moved = [
        *items[:3],
        items[3].__class__(items[3].command, items[3].frame, items[3].params, 0.0, 0.0, 40.0),
    ]
    assert not same_mission(back[:4], moved)  # a changed waypoint is not the same mission


def test_upload_returns_once_the_vehicle_holds_the_mission(sim_vehicle: tuple[MavlinkVehicle, int]) -> None:
    # DroneKit's own upload returns when the last item is asked for; ours waits for the vehicle's ack,
    # so the vehicle's mission is the new one the moment upload_mission returns, every time.
    sim, port = sim_vehicle
    sim.mission.commit_delay_s = 0.3  # the vehicle writes its storage before it acks
    road_items = _curved_road_items()
    vehicle = _connect(port)
    try:
        for round_trip in range(1, 4):
            items = road_items[: 3 + round_trip]
            upload_mission(vehicle, items, timeout_s=20)
            assert sim.mission.uploads_accepted == round_trip
            assert len(sim.mission.items) == len(items) + 1
    finally:
        vehicle.close()


def test_a_refused_upload_names_the_vehicle_answer(sim_vehicle: tuple[MavlinkVehicle, int]) -> None:
    sim, port = sim_vehicle
    sim.mission.capacity = 4  # home and three items
    items = _curved_road_items()
    vehicle = _connect(port)
    try:
        with pytest.raises(MissionRejected, match="MAV_MISSION_NO_SPACE") as refused:
            upload_mission(vehicle, items, timeout_s=3)
    finally:
        vehicle.close()
    assert refused.value.result == mav.MAV_MISSION_NO_SPACE
    assert sim.mission.uploads_accepted == 0 and len(sim.mission.items) == 1  # home only, as before


def test_raw_pymavlink_download_of_items_as_int(sim_vehicle: tuple[MavlinkVehicle, int]) -> None:
    _, port = sim_vehicle
    gcs = mavutil.mavlink_connection(f"udpin:127.0.0.1:{port}", source_system=255)
    try:
        gcs.wait_heartbeat(timeout=10)
        gcs.mav.mission_request_list_send(1, 1)
        count = gcs.recv_match(type="MISSION_COUNT", blocking=True, timeout=5)
        assert count is not None and count.count >= 1
        gcs.mav.mission_request_int_send(1, 1, 0)
        home = gcs.recv_match(type="MISSION_ITEM_INT", blocking=True, timeout=5)
        assert home is not None and home.seq == 0
        assert home.x == round(TRUTH.lat0 * 1e7) and home.y == round(TRUTH.lon0 * 1e7)
        gcs.mav.mission_request_int_send(1, 1, count.count + 5)
        ack = gcs.recv_match(type="MISSION_ACK", blocking=True, timeout=5)
        assert ack is not None and ack.type == mav.MAV_MISSION_INVALID_SEQUENCE
    finally:
        gcs.close()


def test_preflight_checks_against_the_simulator(sim_vehicle: tuple[MavlinkVehicle, int]) -> None:
    _, port = sim_vehicle
    vehicle = _connect(port)
    try:
        checks = {c.name: c for c in preflight_checks(vehicle, load_drone_profile("generic_ardupilot_quad"))}
    finally:
        vehicle.close()
    assert checks["gps fix"].ok is True and "3D fix" in checks["gps fix"].detail
    assert checks["satellites"].ok is True and checks["satellites"].detail == "14 visible, need 10"
    assert checks["home"].ok is True and f"lat {TRUTH.lat0:.5f}" in checks["home"].detail  # float32 degrees
    assert checks["mode"].ok is True and checks["mode"].detail.startswith("GUIDED")
    # The simulator's telemetry has no SYS_STATUS: an unknown battery fails, it never passes.
    assert checks["battery"].ok is False
    assert checks["battery"].detail == "unknown: vehicle reports no battery level (need 75 %)"
