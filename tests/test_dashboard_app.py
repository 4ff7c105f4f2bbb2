"""The Streamlit dashboard: settings, and a real `streamlit run` server on a demo site."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from dashboard.demo_data import write_demo_site
from dashboard.settings import parse_settings

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def test_settings_from_argv_override_environment():
    s = parse_settings(
        ["--store", "a.gpkg", "--map-style", "http://x/style.json"],
        {"ROADSIGHT_STORE": "b.gpkg", "ROADSIGHT_REFRESH_S": "3"},
    )
    assert (s.store, s.map_style, s.refresh_s, s.map_gcj02) == ("a.gpkg", "http://x/style.json", 3.0, False)
    assert parse_settings([], {"ROADSIGHT_STORE": "b.gpkg"}).store == "b.gpkg"
    assert parse_settings([], {}).store is None
    # a database URI keeps its '//' (a Path would fold it)
    url = "postgresql://rs@db.local:5432/roadsight"
    assert parse_settings(["--store", url], {}).store == url
    # GCJ-02 only with a basemap: explicit, or a known GCJ-02 provider's style
    assert parse_settings(["--map-gcj02"], {}).map_gcj02 is False
    assert parse_settings(["--map-gcj02", "--map-style", "http://tiles.local/style.json"], {}).map_gcj02
    assert parse_settings(["--map-style", "https://webapi.amap.com/style.json"], {}).map_gcj02
    assert not parse_settings(["--map-style", "https://tiles.openfreemap.org/styles/liberty"], {}).map_gcj02


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read().decode("utf-8", "replace")


def test_real_streamlit_server_serves_health_and_page(tmp_path: Path):
    store = write_demo_site(tmp_path, 20, seed=1).store
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.headless",
        "true",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
        "--browser.gatherUsageStats",
        "false",
        "--",
        "--store",
        str(store),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = get(f"http://127.0.0.1:{port}/_stcore/health")
                break
            except OSError:
                time.sleep(0.5)
        assert health == (200, "ok"), f"server did not come up: {proc.poll()=}"
        for path in ("", "Case?case=x", "Map"):  # the pages' URL paths are served (the app routes them)
            status, html = get(f"http://127.0.0.1:{port}/{path}")
            assert status == 200 and "<html" in html.lower() and "streamlit" in html.lower()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
