"""Small network helpers for tests that start real servers (RTSP, MAVLink, Kafka)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port nothing listens on right now (TCP by default, ``socket.SOCK_DGRAM`` for UDP)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_tcp(port: int, timeout_s: float, *, what: str = "a server") -> None:
    """Block until something accepts TCP connections on ``port``; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"nothing listens for {what} on port {port} after {timeout_s} s")


def serve_mission_process(mission: Path, rtsp_port: int, mavlink_port: int) -> subprocess.Popen[str]:
    """`roadsight sim serve` in its own process (RTSP + MAVLink/UDP), ready once RTSP listens."""
    server = subprocess.Popen(
        [
            sys.executable, "-m", "roadsight", "sim", "serve", str(mission),
            "--rtsp-port", str(rtsp_port), "--mavlink", f"udpout:127.0.0.1:{mavlink_port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )  # fmt: skip
    try:
        wait_for_tcp(rtsp_port, timeout_s=60, what="RTSP")
    except AssertionError:
        server.kill()
        raise
    return server
