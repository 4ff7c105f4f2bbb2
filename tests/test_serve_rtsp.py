"""The live simulator end to end: RTSP video read by VideoSource, MAVLink read by LiveTelemetry."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures_capture import MissionTruth, free_port, make_capture_mission

from capture import CaptureError, LiveTelemetry, VideoSource
from hardware.sim.serve import RtspServeError, serve_mission

pytestmark = pytest.mark.gst


@pytest.fixture(scope="module")
def capture_mission(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MissionTruth]:
    return make_capture_mission(tmp_path_factory)


def test_rtsp_frames_line_up_with_live_mavlink(capture_mission: tuple[Path, MissionTruth]) -> None:
    folder, truth = capture_mission
    mav_port = free_port(socket.SOCK_DGRAM)
    with (
        LiveTelemetry(f"udpin:127.0.0.1:{mav_port}") as live,
        serve_mission(folder, rtsp_port=0, mavlink_out=f"udpout:127.0.0.1:{mav_port}") as server,
    ):
        assert server.rtsp_url is not None and server.rtsp_url.endswith("/mission")
        assert live.wait_for_samples(3, timeout_s=10), "the parked vehicle reports its position"
        before_play = live.pose_at(time.time() - 0.05)
        assert before_play is not None and before_play.lat == pytest.approx(truth.lat0, abs=1e-7)
        started = time.time()
        with VideoSource(server.rtsp_url + "?transport=tcp", "live", latency_ms=100) as video:
            frames = list(video)  # the server ends the stream after the file: iteration stops at EOS
            assert video.frames_dropped == 0
        assert len(frames) == truth.n_frames
        assert {(f.height, f.width) for f in frames} == {(truth.height, truth.width)}
        times = np.array([f.time_utc for f in frames])
        assert np.all(np.diff(times) > 0)
        assert times[0] == pytest.approx(started, abs=2.0)
        # Real-time pacing: 30 frames at 10 fps span about 2.9 s of capture time.
        assert times[-1] - times[0] == pytest.approx((truth.n_frames - 1) / truth.fps, abs=0.3)
        assert np.abs(frames[-1].image[10, 80].astype(int) - [0, 255, 0]).max() < 40  # green SMPTE bar
        # The replay started with the video: each frame's pose is where the log says it was then.
        time.sleep(0.3)
        for frame in frames[::5]:
            pose = live.pose_at(frame.time_utc)
            assert pose is not None
            offset_s = frame.index / truth.fps
            assert pose.lat == pytest.approx(truth.lat(offset_s), abs=0.3 * truth.speed_mps / 111_195.0)
            assert pose.camera_pitch == pytest.approx(truth.camera_pitch, abs=0.01)
        assert server.wait(timeout_s=5)


def test_rtsp_over_udp_transport(capture_mission: tuple[Path, MissionTruth]) -> None:
    folder, truth = capture_mission
    with serve_mission(folder, rtsp_port=0, mavlink_out=None) as server:
        assert server.rtsp_url is not None
        with VideoSource(server.rtsp_url + "?transport=udp", "live", sender_clock=False) as video:
            frames = list(video)
        assert video.frames_sender_timed == 0
    # Plain UDP on a loaded machine may lose the first packets of a stream.
    assert len(frames) >= truth.n_frames - 5
    assert np.abs(frames[-1].image[10, 57].astype(int) - [255, 255, 0]).max() < 40  # cyan bar


def test_stop_releases_rtsp_port_and_threads(capture_mission: tuple[Path, MissionTruth]) -> None:
    folder, _ = capture_mission
    server = serve_mission(folder, rtsp_port=0, mavlink_out=None)
    assert server.rtsp is not None
    port = server.rtsp.port
    assert port > 0
    server.stop()
    assert not any(t.name == "rtsp-server" for t in threading.enumerate())
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        s.listen()
    with pytest.raises(CaptureError, match=rf"rtsp://127\.0\.0\.1:{port}/mission"):
        list(VideoSource(f"rtsp://127.0.0.1:{port}/mission?transport=tcp", "gone", timeout_s=5))


def test_unknown_mount_raises_capture_error(capture_mission: tuple[Path, MissionTruth]) -> None:
    folder, _ = capture_mission
    with serve_mission(folder, rtsp_port=0, mavlink_out=None) as server:
        assert server.rtsp is not None
        with pytest.raises(CaptureError, match="/nothing-here"):
            list(VideoSource(f"rtsp://127.0.0.1:{server.rtsp.port}/nothing-here", "cam", timeout_s=5))


def test_loop_serves_one_seamless_stream_and_restarts_telemetry(
    capture_mission: tuple[Path, MissionTruth],
) -> None:
    folder, truth = capture_mission
    mav_port = free_port(socket.SOCK_DGRAM)
    laps = 1.8  # long enough for an RTCP sender report (first one within 3.75 s)
    with (
        LiveTelemetry(f"udpin:127.0.0.1:{mav_port}") as live,
        serve_mission(folder, rtsp_port=0, mavlink_out=f"udpout:127.0.0.1:{mav_port}", loop=True) as server,
    ):
        assert server.rtsp_url is not None
        frames = []
        with VideoSource(server.rtsp_url + "?transport=tcp", "loop") as video:
            for frame in video:
                frames.append(frame)
                if len(frames) >= laps * truth.n_frames:
                    break
            assert video.frames_dropped == 0
            # Later frames are timed by the server's RTCP clock, earlier ones by arrival.
            assert 0 < video.frames_sender_timed < len(frames)
        times = np.array([f.time_utc for f in frames])
        # No jump at the lap seam, nor where the timing switches to the sender's clock.
        np.testing.assert_allclose(np.diff(times), 1.0 / truth.fps, atol=0.05)
        # Half-way through the second lap the vehicle is back half-way along its track.
        time.sleep(0.3)
        pose = live.pose_at(frames[-1].time_utc)
        assert pose is not None
        lap_offset = (len(frames) - 1) / truth.fps - truth.duration_s  # 2.3 s into lap 2
        assert pose.lat == pytest.approx(truth.lat(lap_offset), abs=0.3 * truth.speed_mps / 111_195.0)
        assert not server.wait(timeout_s=0.5), "a looping server runs until stopped"


def test_busy_port_raises_and_leaves_no_threads(capture_mission: tuple[Path, MissionTruth]) -> None:
    folder, _ = capture_mission
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(RtspServeError, match=rf"0\.0\.0\.0:{port}"):
            serve_mission(
                folder, rtsp_port=port, mavlink_out=f"udpout:127.0.0.1:{free_port(socket.SOCK_DGRAM)}"
            )
    assert not any(t.name in ("rtsp-server", "mavlink-vehicle") for t in threading.enumerate())


def test_bad_manifest_and_empty_mission(tmp_path: Path) -> None:
    (tmp_path / "scenario.json").write_text('{"files": {\n  "video_mp4": }\n}')
    with pytest.raises(RtspServeError, match=r"scenario\.json: line 2"):
        serve_mission(tmp_path)
    (tmp_path / "scenario.json").write_text("{}")
    with pytest.raises(RtspServeError, match=r"neither video\.mp4 nor telemetry\.tlog"):
        serve_mission(tmp_path)
