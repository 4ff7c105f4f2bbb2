"""Small network helpers for tests that start real servers (RTSP, MAVLink, Kafka)."""

from __future__ import annotations

import socket
import time


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
