"""`mission upload`, `mission start` and `edge install` through typer's runner, against the flying sim."""

from __future__ import annotations

import math
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import typer
from net_helpers import free_port
from typer.testing import CliRunner

from hardware.device_profiles import load_drone_profile
from hardware.edge_install import PIPELINE_UNIT, SINK_UNIT
from hardware.mission_flight import MissionStartRefused
from hardware.missions import MissionError, plan_road_mission
from hardware.profiles import load_camera_profile
from hardware.qgc_plan import read_qgc_plan
from hardware.sim.flying_vehicle import FlyingVehicle
from roadsight.cli_ops import register
from roadsight.config import ConfigError, load_pipeline_config

LAT0, LON0 = 30.2741, 120.1551


@pytest.fixture
def cli() -> typer.Typer:
    app, mission_app, edge_app, sim_app = typer.Typer(), typer.Typer(), typer.Typer(), typer.Typer()
    app.add_typer(mission_app, name="mission")
    app.add_typer(edge_app, name="edge")
    app.add_typer(sim_app, name="sim")
    register(app, mission_app=mission_app, edge_app=edge_app, sim_app=sim_app)
    return app


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    m_per_deg_lon = 111_320.0 * math.cos(math.radians(LAT0))
    road = np.array([[LON0, LAT0 + 20 / 111_320], [LON0 + 200 / m_per_deg_lon, LAT0 + 20 / 111_320]])
    plan = plan_road_mission(road, camera=load_camera_profile("dji_m3e_wide"), altitude_m=30, speed_mps=8)
    return plan.write_qgc_plan(tmp_path / "road.plan")


@pytest.fixture
def sim() -> Iterator[tuple[FlyingVehicle, int]]:
    port = free_port(socket.SOCK_DGRAM)
    vehicle = FlyingVehicle((LAT0, LON0, 12.0), f"udpout:127.0.0.1:{port}", time_factor=10)
    vehicle.params["FS_GCS_TIMEOUT"] = 20.0  # a CPU-starved test process is not a lost link
    yield vehicle.start(), port
    vehicle.stop()


def test_qgc_plan_reads_back_what_was_planned(plan_file: Path, tmp_path: Path) -> None:
    items = read_qgc_plan(plan_file)
    assert items[0].command == 22 and items[-1].command == 20
    assert any(math.isnan(p) for p in items[0].params)  # QGC's null: unchanged
    broken = tmp_path / "broken.plan"
    broken.write_text(plan_file.read_text().replace('"type": "SimpleItem"', '"type": "ComplexItem"', 1))
    with pytest.raises(MissionError, match=r"broken\.plan: mission\.items\[0\]: 'ComplexItem'"):
        read_qgc_plan(broken)
    broken.write_text('{"fileType": "Plan",\n "mission": {"items": [}\n}')
    with pytest.raises(MissionError, match=r"broken\.plan: line 2: not valid JSON"):
        read_qgc_plan(broken)


def test_mission_upload_to_a_silent_link_is_a_clear_error(cli: typer.Typer, plan_file: Path) -> None:
    nobody = free_port(socket.SOCK_DGRAM)
    url = f"udp:127.0.0.1:{nobody}"
    args = ["mission", "upload", str(plan_file), "--connect", url, "--timeout", "3"]
    result = CliRunner().invoke(cli, args)
    assert isinstance(result.exception, ConnectionError), result.output  # cli.main prints it as one line
    assert f"cannot reach the vehicle at {url}" in str(result.exception)


def test_mission_start_refuses_without_confirm_before_connecting(cli: typer.Typer) -> None:
    nobody = free_port(socket.SOCK_DGRAM)
    result = CliRunner().invoke(cli, ["mission", "start", "--connect", f"udp:127.0.0.1:{nobody}"])
    assert isinstance(result.exception, MissionStartRefused), result.output
    assert "without --confirm" in str(result.exception)
    assert "connecting" not in result.output


def test_mission_upload_then_start_flies_it(
    cli: typer.Typer, plan_file: Path, sim: tuple[FlyingVehicle, int]
) -> None:
    vehicle, port = sim
    url = f"udp:127.0.0.1:{port}"
    runner = CliRunner()
    upload = runner.invoke(cli, ["mission", "upload", str(plan_file), "--connect", url, "--timeout", "60"])
    assert upload.exit_code == 0, upload.output + repr(upload.exception)
    items = read_qgc_plan(plan_file)
    assert "read back equal" in upload.output
    assert vehicle.mission.uploads_accepted == 1 and len(vehicle.mission.items) == len(items) + 1
    start = runner.invoke(
        cli,
        [
            "mission",
            "start",
            "--connect",
            url,
            "--confirm",
            "--timeout",
            "60",
            "--max-flight-s",
            "240",
            "--link-loss-s",
            "30",
        ],
    )
    assert start.exit_code == 0, start.output + repr(start.exception)
    assert "PASS gps fix" in start.output and "done" in start.output
    assert f"waypoint {len(items)}/{len(items)}" in start.output
    assert vehicle.reached[-1] == len(items) and not vehicle.armed
    assert vehicle.params["FS_GCS_ENABLE"] == 1.0  # the drone profile's failsafe went up with the start
    assert load_drone_profile("generic_ardupilot_quad").low_battery_rtl_percent == 25
    assert vehicle.params["BATT_LOW_MAH"] == 0.25 * vehicle.params["BATT_CAPACITY"]


def test_edge_install_writes_a_valid_config_and_units(cli: typer.Typer, tmp_path: Path) -> None:
    out = tmp_path / "edge"
    args = ["edge", "install", "--profile", "jetson_orin_nx", "--out", str(out)]
    args += ["--source", "rtsp://10.0.0.5:8554/live", "--telemetry", "udp:0.0.0.0:14550"]
    args += ["--kafka", "broker:9092", "--data-dir", "/srv/roadsight", "--user", "field"]
    args += ["--sink-store", "/srv/roadsight/central.gpkg"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    config = load_pipeline_config(out / "roadsight.yaml", {})
    assert config.capture.decoder == "nvv4l2decoder" and config.detect.batch_size == 2
    assert config.kafka.bootstrap == "broker:9092" and config.store == "/srv/roadsight/roadsight.gpkg"
    assert str(config.kafka.spool) == "/srv/roadsight/roadsight.spool.sqlite" and config.metrics.port == 9108
    unit = (out / PIPELINE_UNIT).read_text()
    for line in (
        "After=network-online.target time-sync.target",
        "Wants=network-online.target",
        "Restart=always",
        "User=field",
        "WorkingDirectory=/srv/roadsight",
        "Environment=PYTHONUNBUFFERED=1",
        "WantedBy=multi-user.target",
    ):
        assert line in unit.splitlines(), line
    assert f"run --config {(out / 'roadsight.yaml').resolve()}" in unit
    sink = (out / SINK_UNIT).read_text()
    assert "sink --kafka broker:9092 --store /srv/roadsight/central.gpkg --metrics-port 9109" in sink
    assert "Restart=always" in sink


def test_edge_install_merges_a_base_config_and_validates_it(cli: typer.Typer, tmp_path: Path) -> None:
    base = tmp_path / "base.yaml"
    base.write_text("source: rtsp://cam/live\ntelemetry: udp:0.0.0.0:14550\ndetect: {conf: 0.4}\n")
    out = tmp_path / "x86"
    result = CliRunner().invoke(
        cli, ["edge", "install", "--profile", "x86_cpu", "--out", str(out), "--config", str(base)]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    config = load_pipeline_config(out / "roadsight.yaml", {})
    assert config.capture.decoder == "avdec_h264" and config.detect.conf == 0.4
    assert config.detect.providers is None and config.source == "rtsp://cam/live"
    assert not (out / SINK_UNIT).exists()
    base.write_text("source: rtsp://cam/live\ntelemetry: udp:0.0.0.0:14550\ndetect: {conf: 7}\n")
    bad = CliRunner().invoke(
        cli,
        ["edge", "install", "--profile", "x86_cpu", "--out", str(tmp_path / "bad"), "--config", str(base)],
    )
    assert isinstance(bad.exception, ConfigError) and "detect.conf" in str(bad.exception)
    assert not (tmp_path / "bad").exists()  # nothing written for a config that does not load


def test_sim_fly_rejects_a_bad_home(cli: typer.Typer) -> None:
    result = CliRunner().invoke(cli, ["sim", "fly", "--home", "95,120"])
    assert isinstance(result.exception, ValueError) and "--home '95,120'" in str(result.exception)
