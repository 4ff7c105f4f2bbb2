"""Several cameras in one process: one live RTSP stream and one file, batched into one detector.

Both ends are real: the simulator serves the quick drone mission over
gst-rtsp-server with its telemetry as MAVLink/UDP, and `roadsight run` reads
that stream and, at the same time, the mission's MP4 file with its tlog.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from net_helpers import free_port, serve_mission_process

from stream import GeoPackageStore


def _run(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roadsight", "run", "--config", str(config), "--json"],
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.gst
def test_rtsp_and_file_sources_in_one_process(drone_quick_mission: Path, tmp_path: Path) -> None:
    rtsp_port, mav_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    manifest = json.loads((drone_quick_mission / "scenario.json").read_text())
    frame_count = manifest["video"]["frame_count"]
    store = tmp_path / "two.gpkg"
    config = tmp_path / "two.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "mission_id": "two-cameras",
                "camera": manifest["camera_profile"],
                "store": str(store),
                "sampling": {"max_fps": 0},
                "sources": [
                    {
                        "source_id": "live",
                        "source": f"rtsp://127.0.0.1:{rtsp_port}/mission?transport=tcp",
                        "telemetry": f"udp:127.0.0.1:{mav_port}",
                    },
                    {
                        "source_id": "file",
                        "source": str(drone_quick_mission / "video.mp4"),
                        "telemetry": str(drone_quick_mission / "telemetry.tlog"),
                    },
                ],
            }
        ),
        encoding="utf-8",
    )
    server = serve_mission_process(drone_quick_mission, rtsp_port, mav_port)
    try:
        run = _run(config)
    finally:
        server.terminate()
        server_log = server.communicate(timeout=30)[0]
    assert run.returncode == 0, run.stdout + run.stderr + server_log
    summary = json.loads(run.stdout)
    live, file = summary["sources"]["live"], summary["sources"]["file"]
    assert summary["errors"] == {}
    # The file is read losslessly: every frame decoded and processed, all located by its tlog.
    assert file["frames_decoded"] == frame_count
    assert file["frames_processed"] == frame_count
    assert file["frames_dropped"] == 0 and file["frames_unlocated"] == 0
    # The live stream: every frame either decoded or counted as dropped by the latest-frame policy.
    assert live["frames_decoded"] + live["frames_dropped"] == frame_count
    assert live["frames_decoded"] >= 5
    assert live["frames_processed"] == live["frames_decoded"]
    # Totals are the sums of the sources, and frames of both shared detector calls.
    assert summary["frames_decoded"] == live["frames_decoded"] + file["frames_decoded"]
    located = summary["frames_processed"] - summary["frames_unlocated"]
    assert summary["batches"] < located
    with GeoPackageStore(store, readonly=True) as events:
        frame = events.read()
    assert len(frame) == summary["events"] == live["events"] + file["events"]
    counts = frame["source_id"].value_counts().to_dict()
    assert counts == {sid: n for sid, n in (("live", live["events"]), ("file", file["events"])) if n}
    assert file["events"] > 0 and live["events"] > 0


def test_a_missing_source_is_named_before_any_work(drone_quick_mission: Path, tmp_path: Path) -> None:
    manifest = json.loads((drone_quick_mission / "scenario.json").read_text())
    config = tmp_path / "one-bad.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "camera": manifest["camera_profile"],
                "store": str(tmp_path / "s.gpkg"),
                "sampling": {"max_fps": 0},
                "sources": [
                    {
                        "source_id": "good",
                        "source": str(drone_quick_mission / "video.mp4"),
                        "telemetry": str(drone_quick_mission / "telemetry.tlog"),
                    },
                    {
                        "source_id": "bad",
                        "source": str(tmp_path / "missing.mp4"),
                        "telemetry": str(drone_quick_mission / "telemetry.tlog"),
                    },
                ],
            }
        ),
        encoding="utf-8",
    )
    run = _run(config)
    # A missing file is a set-up error caught before any work: exit 2, naming the source.
    assert run.returncode == 2
    assert "video source of bad" in run.stdout + run.stderr


def test_a_dead_stream_stops_alone_and_is_reported(drone_quick_mission: Path, tmp_path: Path) -> None:
    """A live source that never comes back gives up after max_reconnect_s, named by its id;
    the file source beside it runs to its end; the run exits 1 to say not everything ran."""
    manifest = json.loads((drone_quick_mission / "scenario.json").read_text())
    dead_port = free_port()
    config = tmp_path / "one-dead.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "camera": manifest["camera_profile"],
                "store": str(tmp_path / "s.gpkg"),
                "sampling": {"mode": "all"},
                "sources": [
                    {
                        "source_id": "dead",
                        "source": f"rtsp://127.0.0.1:{dead_port}/mission?transport=tcp",
                        "telemetry": str(drone_quick_mission / "telemetry.tlog"),
                        "capture": {"max_reconnect_s": 2.0, "stall_timeout_s": 1.0},
                    },
                    {
                        "source_id": "file",
                        "source": str(drone_quick_mission / "video.mp4"),
                        "telemetry": str(drone_quick_mission / "telemetry.tlog"),
                    },
                ],
            }
        ),
        encoding="utf-8",
    )
    run = _run(config)
    assert run.returncode == 1, run.stdout + run.stderr
    summary = json.loads(run.stdout)
    assert set(summary["errors"]) == {"dead"}
    assert "dead" in summary["errors"]["dead"] or str(dead_port) in summary["errors"]["dead"]
    assert summary["sources"]["dead"]["frames_decoded"] == 0
    assert summary["sources"]["file"]["frames_decoded"] == manifest["video"]["frame_count"]
    assert summary["sources"]["file"]["events"] > 0
