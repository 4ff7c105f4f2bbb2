"""The Streamlit dashboard: AppTest on small real stores, and a real `streamlit run` server."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from fixtures_geo import small_events, write_store
from streamlit.testing.v1 import AppTest

from dashboard.settings import parse_settings

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def run_app(monkeypatch: pytest.MonkeyPatch, store: Path | None, refresh_s: str = "0") -> AppTest:
    if store is None:
        monkeypatch.delenv("ROADSIGHT_STORE", raising=False)
    else:
        monkeypatch.setenv("ROADSIGHT_STORE", str(store))
    monkeypatch.setenv("ROADSIGHT_REFRESH_S", refresh_s)
    monkeypatch.setattr(sys, "argv", ["app.py"])  # not pytest's own arguments
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    return at


def shown_count(at: AppTest) -> tuple[int, int]:
    texts = [m.value for m in at.markdown]
    match = next(re.search(r"Showing (\d+) of (\d+) events", t) for t in texts if "Showing" in t)
    assert match is not None
    return int(match.group(1)), int(match.group(2))


def deck_points(at: AppTest) -> int:
    (chart,) = at.get("deck_gl_json_chart")
    spec = json.loads(chart.proto.json)
    (layer,) = [layer for layer in spec["layers"] if layer["@@type"] == "ScatterplotLayer"]
    return len(layer["data"])


def test_map_filter_and_counts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    store = write_store(tmp_path / "events.gpkg", small_events(3, 2))
    at = run_app(monkeypatch, store)
    assert shown_count(at) == (5, 5)
    assert deck_points(at) == 5
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    assert spec.get("mapStyle") in (None, "")  # offline: no basemap tiles
    tooltip = json.loads(at.get("deck_gl_json_chart")[0].proto.tooltip)["html"]
    assert all(f"{{{k}}}" in tooltip for k in ("name_zh", "name_en", "score_txt", "time_txt", "accuracy_txt"))
    (points,) = [layer["data"] for layer in spec["layers"] if layer["@@type"] == "ScatterplotLayer"]
    assert {p["name_zh"] for p in points} == {"坑槽", "路面抛洒物"}
    assert {tuple(p["color"]) for p in points} == {(228, 26, 28), (253, 180, 98)}
    (outlines,) = [layer["data"] for layer in spec["layers"] if layer["@@type"] == "PolygonLayer"]
    assert len(outlines) == 5 and all(len(o["footprint_ring"]) == 5 for o in outlines)
    (classes,) = at.multiselect
    assert set(classes.value) == {"pothole", "road_debris"}
    assert any("坑槽" in opt for opt in classes.options)  # taxonomy names shown
    counts = at.dataframe[0].value
    assert dict(zip(counts["class_key"], counts["events"], strict=True)) == {"pothole": 3, "road_debris": 2}
    assert any("Last refresh" in c.value for c in at.caption)

    classes.set_value(["road_debris"]).run()
    assert shown_count(at) == (2, 5)
    assert deck_points(at) == 2


def test_auto_refresh_fragment_renders(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    at = run_app(monkeypatch, write_store(tmp_path / "events.gpkg", small_events(1, 1)), refresh_s="5")
    assert shown_count(at) == (2, 2)


def test_empty_missing_and_unconfigured_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    at = run_app(monkeypatch, write_store(tmp_path / "empty.gpkg", []))
    assert any("No events in the store yet" in i.value for i in at.info)
    assert not at.get("deck_gl_json_chart")
    at = run_app(monkeypatch, tmp_path / "missing.gpkg")
    assert any("Event store not found" in w.value for w in at.warning)
    at = run_app(monkeypatch, None)
    assert any("No event store configured" in e.value for e in at.error)
    (tmp_path / "junk.gpkg").write_bytes(b"junk" * 500)
    at = run_app(monkeypatch, tmp_path / "junk.gpkg")
    assert any("Cannot read the event store" in e.value for e in at.error)


def test_settings_from_argv_override_environment():
    s = parse_settings(
        ["--store", "a.gpkg", "--map-style", "http://x/style.json"],
        {"ROADSIGHT_STORE": "b.gpkg", "ROADSIGHT_REFRESH_S": "3"},
    )
    assert (str(s.store), s.map_style, s.refresh_s) == ("a.gpkg", "http://x/style.json", 3.0)
    assert parse_settings([], {"ROADSIGHT_STORE": "b.gpkg"}).store == Path("b.gpkg")
    assert parse_settings([], {}).store is None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.status, resp.read().decode("utf-8", "replace")


def test_real_streamlit_server_serves_health_and_page(tmp_path: Path):
    store = write_store(tmp_path / "events.gpkg", small_events(2, 1))
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
        status, html = get(f"http://127.0.0.1:{port}/")
        assert status == 200 and "<html" in html.lower() and "streamlit" in html.lower()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
