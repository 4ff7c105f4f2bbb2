"""The live path end to end: `roadsight sim serve` -> RTSP + MAVLink/UDP -> `roadsight run`.

Both ends are the real command lines in separate processes: the simulator
serves the quick drone mission over gst-rtsp-server and replays its telemetry
as an ArduPilot-like vehicle over UDP; the pipeline reads the stream with
GStreamer, takes poses from the live MAVLink link and writes the store.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from net_helpers import free_port, serve_mission_process

from stream import GeoPackageStore


@pytest.mark.gst
def test_rtsp_and_live_mavlink_through_the_pipeline(drone_quick_mission: Path, tmp_path: Path) -> None:
    rtsp_port, mav_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    store = tmp_path / "live.gpkg"
    server = serve_mission_process(drone_quick_mission, rtsp_port, mav_port)
    try:
        run = subprocess.run(
            [
                sys.executable, "-m", "roadsight", "run",
                "--source", f"rtsp://127.0.0.1:{rtsp_port}/mission?transport=tcp",
                "--telemetry", f"udp:127.0.0.1:{mav_port}",
                "--camera", "dji_m3e_wide", "--mission-id", "live", "--store", str(store),
                "--max-fps", "0", "--json",
            ],
            capture_output=True,
            text=True,
            timeout=180,
        )  # fmt: skip
    finally:
        server.terminate()
        server_log = server.communicate(timeout=30)[0]
    assert run.returncode == 0, run.stdout + run.stderr + server_log
    summary = json.loads(run.stdout)
    manifest = json.loads((drone_quick_mission / "scenario.json").read_text())
    # Every frame of the stream is either decoded or counted as dropped by the
    # latest-frame policy (inference on this CPU is slower than the 10 fps stream).
    assert summary["frames_decoded"] + summary["frames_dropped"] == manifest["video"]["frame_count"]
    assert summary["frames_decoded"] >= 5
    assert summary["frames_processed"] == summary["frames_decoded"]
    # Frames find live poses: the first may come before the first MAVLink position after play.
    assert summary["frames_unlocated"] <= 3
    with GeoPackageStore(store, readonly=True) as events:
        frame = events.read()
    assert len(frame) == summary["events"]
    assert set(frame["source_id"]) <= {"cam0"} and set(frame["mission_id"]) <= {"live"}
