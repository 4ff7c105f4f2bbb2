"""The live simulator's MAVLink side, driven by real dronekit and pymavlink over UDP."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dronekit
import pytest
from fixtures_capture import MissionTruth, free_port, write_mission
from pymavlink import mavutil

from hardware.sim.mavlink_vehicle import MavlinkVehicle
from hardware.sim.serve import serve_mission

TRUTH = MissionTruth()


@pytest.fixture(scope="module")
def telemetry_only_mission(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mavlink_mission")
    write_mission(folder, TRUTH, video=False)
    return folder


@pytest.fixture
def held_vehicle(telemetry_only_mission: Path) -> Iterator[tuple[MavlinkVehicle, int]]:
    """A simulated vehicle holding at its first record (replay not started)."""
    port = free_port(socket.SOCK_DGRAM)
    vehicle = MavlinkVehicle.from_tlog(telemetry_only_mission / "telemetry.tlog", f"udpout:127.0.0.1:{port}")
    yield vehicle.start(), port
    vehicle.stop()


def test_dronekit_connects_and_sees_the_logged_vehicle(telemetry_only_mission: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    # No video in this mission: the replay starts at once; dronekit sees it move north.
    server = serve_mission(telemetry_only_mission, mavlink_out=f"udpout:127.0.0.1:{port}")
    vehicle = dronekit.connect(f"udp:127.0.0.1:{port}", wait_ready=True, timeout=30, heartbeat_timeout=30)
    try:
        assert vehicle.mode is not None and vehicle.mode.name == "GUIDED"
        assert vehicle.gps_0.fix_type == 3 and vehicle.gps_0.satellites_visible == 14
        assert len(vehicle.parameters) == 8
        assert vehicle.parameters["RTL_ALT"] == pytest.approx(3000.0)
        assert vehicle.wait_ready("autopilot_version", timeout=10)
        assert (vehicle.version.major, vehicle.version.minor) == (4, 5)
        assert server.wait(timeout_s=10), "replay of a 3 s log should finish"
        # The last records are in flight (and a loaded CI machine may take a while): wait for the
        # disarm that ends the log rather than a fixed time.
        deadline = time.monotonic() + 10
        while vehicle.armed and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.2)
        loc = vehicle.location.global_frame
        assert loc.lat == pytest.approx(TRUTH.lat(TRUTH.duration_s), abs=2e-7)
        assert loc.lon == pytest.approx(TRUTH.lon0, abs=2e-7)
        assert loc.alt == pytest.approx(TRUTH.ground_msl + TRUTH.agl, abs=0.01)
        assert vehicle.location.global_relative_frame.alt == pytest.approx(TRUTH.agl, abs=0.01)
        assert math.degrees(vehicle.attitude.yaw or math.nan) % 360 == pytest.approx(
            TRUTH.yaw(TRUTH.duration_s), abs=0.01
        )
        assert not vehicle.armed  # landed again after the log ended
    finally:
        vehicle.close()
        server.stop()


def test_held_vehicle_reports_first_record_and_answers_params(
    held_vehicle: tuple[MavlinkVehicle, int],
) -> None:
    sim, port = held_vehicle
    vehicle = dronekit.connect(f"udp:127.0.0.1:{port}", wait_ready=True, timeout=30, heartbeat_timeout=30)
    try:
        loc = vehicle.location.global_frame
        assert loc.lat == pytest.approx(TRUTH.lat0, abs=2e-7)
        assert math.degrees(vehicle.attitude.yaw or math.nan) % 360 == pytest.approx(TRUTH.yaw0, abs=0.01)
        assert not vehicle.armed
        vehicle.parameters["WPNAV_SPEED"] = 750.0  # PARAM_SET, dronekit waits for the PARAM_VALUE echo
        assert vehicle.parameters["WPNAV_SPEED"] == pytest.approx(750.0)
        assert sim.params["WPNAV_SPEED"] == 750.0
        sim.begin_replay()
        deadline = time.monotonic() + 5
        while not vehicle.armed and time.monotonic() < deadline:
            time.sleep(0.05)
        assert vehicle.armed, "the vehicle arms when the replay starts"
    finally:
        vehicle.close()


def test_param_read_by_index_and_command_ack_over_raw_pymavlink(
    held_vehicle: tuple[MavlinkVehicle, int],
) -> None:
    _, port = held_vehicle
    gcs = mavutil.mavlink_connection(f"udpin:127.0.0.1:{port}", source_system=255)
    try:
        heartbeat = gcs.wait_heartbeat(timeout=10)
        assert heartbeat is not None
        assert heartbeat.type == mavutil.mavlink.MAV_TYPE_QUADROTOR
        assert heartbeat.autopilot == mavutil.mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA
        gcs.mav.param_request_read_send(1, 1, b"", 2)
        param = gcs.recv_match(type="PARAM_VALUE", blocking=True, timeout=5)
        assert param is not None
        assert (param.param_id, param.param_index, param.param_count) == ("FRAME_TYPE", 2, 8)
        gcs.mav.command_long_send(1, 1, mavutil.mavlink.MAV_CMD_DO_SET_MODE, 0, 1, 4, 0, 0, 0, 0, 0)
        ack = gcs.recv_match(type="COMMAND_ACK", blocking=True, timeout=5)
        assert ack is not None
        assert ack.command == mavutil.mavlink.MAV_CMD_DO_SET_MODE
        assert ack.result == mavutil.mavlink.MAV_RESULT_ACCEPTED
        gcs.mav.request_data_stream_send(
            1, 1, mavutil.mavlink.MAV_DATA_STREAM_ALL, 10, 1
        )  # ignored, no error
        position = gcs.recv_match(type="GLOBAL_POSITION_INT", blocking=True, timeout=5)
        assert position is not None and position.lat == round(TRUTH.lat0 * 1e7)
    finally:
        gcs.close()


def test_replayed_times_are_shifted_to_now(telemetry_only_mission: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    gcs = mavutil.mavlink_connection(f"udpin:127.0.0.1:{port}", source_system=255)
    server = serve_mission(telemetry_only_mission, mavlink_out=f"udpout:127.0.0.1:{port}")
    try:
        msg = gcs.recv_match(type="SYSTEM_TIME", blocking=True, timeout=10)
        assert msg is not None
        assert msg.time_unix_usec / 1e6 == pytest.approx(time.time(), abs=1.0)
    finally:
        server.stop()
        gcs.close()


def test_stop_joins_threads_and_releases_the_socket(telemetry_only_mission: Path) -> None:
    port = free_port(socket.SOCK_DGRAM)
    server = serve_mission(telemetry_only_mission, mavlink_out=f"udpout:127.0.0.1:{port}")
    assert server.vehicle is not None
    time.sleep(0.3)  # the first heartbeat binds the sending socket
    local_port = server.vehicle._conn.port.getsockname()[1]
    server.stop()
    server.stop()  # idempotent
    assert not any(t.name == "mavlink-vehicle" for t in threading.enumerate())
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("0.0.0.0", local_port))  # would fail if the vehicle still held it
