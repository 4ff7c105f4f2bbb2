"""`roadsight demo` (what `make demo` runs): sample mission -> pipeline -> eval -> a served map."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dashboard.roles import Role, authenticate, users_path_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_runs_the_mission_and_serves_the_map(drone_mission: Path, tmp_path: Path) -> None:
    # The session's cached sample mission stands in for data/demo/drone_sample (same scenario and seed).
    (tmp_path / "drone_sample").symlink_to(drone_mission, target_is_directory=True)
    port = _free_port()
    demo = subprocess.Popen(
        [sys.executable, "-m", "roadsight", "demo", "--workdir", str(tmp_path), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 600
        health = ""
        while time.monotonic() < deadline and demo.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                    health = r.read().decode()
                    break
            except OSError:
                time.sleep(1)
        assert health == "ok", f"the map was not served (exit {demo.poll()})"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            assert "<html" in r.read().decode().lower()
        assert (tmp_path / "roadsight.gpkg").stat().st_size > 0
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        log = demo.communicate(timeout=30)[0]
    assert "eval: recall" in log, log
    assert "dashboard: http://localhost:" in log, log
    # The served map is behind a login: the demo prints an account that opens it.
    assert "dashboard login: demo / demo" in log, log
    store = tmp_path / "roadsight.gpkg"
    assert authenticate(users_path_for(store), "demo", "demo").role == Role.admin
