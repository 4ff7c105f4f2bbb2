"""VideoSource under trouble: servers killed and restarted, stalls, stop(), damaged files.

The RTSP server is the mission simulator in a subprocess that is SIGKILLed (the
honest "the server died" case) and started again on the same port; the RTP
sender is a real ``gst-launch-1.0`` pipeline.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures_capture import free_port

from capture import CaptureError, Frame, VideoSource

pytestmark = pytest.mark.gst

REPO = Path(__file__).resolve().parent.parent
SERVE = (
    "import pathlib, sys\n"
    "from hardware.sim.serve import serve_mission\n"
    "mission, port = pathlib.Path(sys.argv[1]), int(sys.argv[2])\n"
    "serve_mission(mission, rtsp_port=port, mavlink_out=None, loop=True).wait()\n"
)
RTP_SENDER = (
    "videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=10/1"
    " ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=10"
    " ! rtph264pay config-interval=1 pt=96 ! udpsink host=127.0.0.1 port={port}"
)


def start_rtsp_server(mission: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", SERVE, str(mission), str(port)], cwd=REPO)


class RtpCamera:
    """A real RTP sender on a local port and a :class:`Reader` of it; ``with`` stops both."""

    def __init__(self, source_id: str, stall_timeout_s: float) -> None:
        self.port = free_port(socket.SOCK_DGRAM)
        uri = f"rtp://127.0.0.1:{self.port}"
        self.source = VideoSource(uri, source_id, stall_timeout_s=stall_timeout_s, timeout_s=30)
        self.reader = Reader(self.source)
        self.sender: subprocess.Popen[bytes] | None = None

    def start_sender(self) -> None:
        self.sender = subprocess.Popen(["gst-launch-1.0", "-q", *RTP_SENDER.format(port=self.port).split()])

    def kill_sender(self) -> None:
        if self.sender is not None:
            self.sender.kill()
            self.sender.wait(timeout=10)

    def __enter__(self) -> RtpCamera:
        self.start_sender()
        self.reader.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.source.stop()
        self.kill_sender()


def wait_for_tcp(port: int, timeout_s: float) -> float:
    """Monotonic time at which ``port`` first accepted a connection."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return time.monotonic()
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} after {timeout_s} s")


class Reader(threading.Thread):
    """Iterates a VideoSource in the background, as the pipeline's decode thread does."""

    def __init__(self, source: VideoSource) -> None:
        super().__init__(daemon=True)
        self.source = source
        self.frames: list[Frame] = []
        self.arrivals: list[float] = []  # monotonic time each frame was handed out
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for frame in self.source:
                self.frames.append(frame)
                self.arrivals.append(time.monotonic())
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def wait_frames(self, n: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.frames) < n and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.02)
        assert len(self.frames) >= n, f"{len(self.frames)} frames, wanted {n}; error: {self.error!r}"

    def first_arrival_after(self, t: float, timeout_s: float) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            later = [a for a in self.arrivals if a > t]
            if later:
                return later[0]
            time.sleep(0.02)
        raise AssertionError(f"no frame within {timeout_s} s; error: {self.error!r}")

    def stop_and_join(self, within_s: float) -> float:
        t0 = time.monotonic()
        self.source.stop()
        self.join(timeout=5)
        took = time.monotonic() - t0
        assert not self.is_alive(), "iteration did not end after stop()"
        assert self.error is None, repr(self.error)
        assert took < within_s, f"stop() took {took:.2f} s"
        return took


def frame_count(mission: Path) -> int:
    return int(json.loads((mission / "scenario.json").read_text())["video"]["frame_count"])


def assert_continuous(frames: list[Frame]) -> None:
    assert [f.index for f in frames] == list(range(len(frames)))
    assert np.all(np.diff([f.time_utc for f in frames]) > 0), "time_utc must increase strictly"
    assert np.all(np.diff([f.pts_ns for f in frames]) > 0), "pts_ns must increase strictly"


# -- live ---------------------------------------------------------------------------------


def test_rtsp_server_killed_and_restarted_capture_resumes_within_5_s(drone_quick_mission: Path) -> None:
    port = free_port()
    server = start_rtsp_server(drone_quick_mission, port)
    source = VideoSource(f"rtsp://127.0.0.1:{port}/mission?transport=tcp", "drone-1", timeout_s=30)
    reader = Reader(source)
    try:
        wait_for_tcp(port, timeout_s=30)
        reader.start()
        reader.wait_frames(15, timeout_s=15)
        os.kill(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
        killed_utc = time.time()
        time.sleep(2.0)
        frames_before = len(reader.frames)
        server = start_rtsp_server(drone_quick_mission, port)  # the same port again
        back = wait_for_tcp(port, timeout_s=30)
        assert server.poll() is None, "the restarted server could not bind the port"
        resumed = reader.first_arrival_after(back, timeout_s=10)
        print(f"capture resumed {resumed - back:.2f} s after the server came back")  # shown with -s
        assert resumed - back < 5.0, f"capture resumed {resumed - back:.2f} s after the server came back"
        reader.wait_frames(len(reader.frames) + 10, timeout_s=10)
        reader.stop_and_join(within_s=1.0)
    finally:
        source.stop()
        server.kill()
        server.wait(timeout=10)
    frames = reader.frames
    assert source.reconnects >= 1
    assert source.outage_s > 2.0
    assert_continuous(frames)
    after = [f for f in frames[frames_before:]]
    assert after and min(f.time_utc for f in after) > killed_utc
    assert {(f.height, f.width) for f in frames} == {(360, 640)}


def test_rtp_stall_watchdog_reconnects_when_the_sender_returns() -> None:
    with RtpCamera("rtp-cam", stall_timeout_s=1.0) as camera:
        reader = camera.reader
        reader.wait_frames(10, timeout_s=15)
        camera.kill_sender()
        time.sleep(2.0)  # longer than stall_timeout_s: the watchdog tears the pipeline down
        n_before = len(reader.frames)
        camera.start_sender()
        restarted = time.monotonic()
        resumed = reader.first_arrival_after(restarted, timeout_s=10)
        assert resumed - restarted < 5.0
        reader.wait_frames(n_before + 10, timeout_s=10)
        reader.stop_and_join(within_s=1.0)
    assert camera.source.reconnects >= 1
    assert_continuous(reader.frames)


def test_stop_ends_an_iteration_waiting_on_a_silent_stream() -> None:
    port = free_port(socket.SOCK_DGRAM)
    reader = Reader(VideoSource(f"rtp://127.0.0.1:{port}", "silent", timeout_s=60))
    reader.start()
    time.sleep(1.0)
    assert reader.is_alive() and not reader.frames
    reader.stop_and_join(within_s=0.5)


def test_stop_ends_an_iteration_during_a_stall_and_in_backoff() -> None:
    with RtpCamera("stalling", stall_timeout_s=0.5) as camera:
        camera.reader.wait_frames(5, timeout_s=15)
        camera.kill_sender()
        time.sleep(1.0)  # stalled, torn down, waiting in backoff or for the next frame
        camera.reader.stop_and_join(within_s=0.5)
    # Nobody listens on a closed TCP port: every attempt fails and the source waits in backoff.
    backoff = Reader(VideoSource(f"rtsp://127.0.0.1:{free_port()}/x?transport=tcp", "nobody", timeout_s=60))
    backoff.start()
    time.sleep(1.5)
    backoff.stop_and_join(within_s=0.5)


def test_unreachable_rtsp_server_gives_up_after_timeout_naming_source() -> None:
    uri = f"rtsp://127.0.0.1:{free_port()}/mission?transport=tcp"
    started = time.monotonic()
    with pytest.raises(CaptureError, match=r"127\.0\.0\.1.*\(source far\): no video within 2 s"):
        list(VideoSource(uri, "far", timeout_s=2))
    assert time.monotonic() - started < 6


# -- files --------------------------------------------------------------------------------


def test_truncated_transport_stream_yields_frames_then_ends(
    drone_quick_mission: Path, tmp_path: Path
) -> None:
    data = (drone_quick_mission / "video.ts").read_bytes()
    cut = tmp_path / "cut.ts"
    cut.write_bytes(data[: len(data) // 2 + 101])  # mid-packet
    video = VideoSource(str(cut), "cut", start_time_utc=0.0)
    frames = list(video)
    assert 0.3 * frame_count(drone_quick_mission) < len(frames) < frame_count(drone_quick_mission)
    assert_continuous(frames)
    assert video.frames_out == len(frames)


def test_corrupted_transport_stream_ends_cleanly_counting_bad_frames(
    drone_quick_mission: Path, tmp_path: Path
) -> None:
    data = bytearray((drone_quick_mission / "video.ts").read_bytes())
    rng = np.random.default_rng(7)
    for start in (len(data) * 3 // 10, len(data) * 6 // 10):  # two garbage bursts mid-file
        data[start : start + 30_000] = rng.integers(0, 256, 30_000, dtype=np.uint8).tobytes()
    bad = tmp_path / "garbled.ts"
    bad.write_bytes(bytes(data))
    video = VideoSource(str(bad), "garbled", start_time_utc=0.0)
    frames = list(video)
    assert 0 < len(frames) < frame_count(drone_quick_mission)
    assert_continuous(frames)
    # The frames lost to the garbage are counted as bad, none silently missing.
    assert video.frames_out + video.frames_bad == frame_count(drone_quick_mission)


def test_truncated_mp4_without_index_is_a_clear_error(drone_quick_mission: Path, tmp_path: Path) -> None:
    data = (drone_quick_mission / "video.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])  # mp4mux writes the moov index at the end: gone
    with pytest.raises(
        CaptureError, match=r"cut\.mp4 \(source cut\): unreadable MP4: .*mdat at byte \d+ runs past"
    ):
        VideoSource(str(cut), "cut", start_time_utc=0.0)
    cut.write_bytes(data[:40])  # cut inside the first boxes
    with pytest.raises(CaptureError, match=r"cut\.mp4 \(source cut\): unreadable MP4: "):
        VideoSource(str(cut), "cut", start_time_utc=0.0)


def test_close_inside_the_loop_ends_the_iteration(drone_quick_mission: Path) -> None:
    video = VideoSource(str(drone_quick_mission / "video.ts"), "cam", start_time_utc=0.0)
    seen = []
    for frame in video:
        seen.append(frame.index)
        if len(seen) == 3:
            video.close()
    assert seen == [0, 1, 2]
