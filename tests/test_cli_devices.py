"""Profiles, mission planning and the edge doctor through the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fixtures_geo import ORIGIN_LAT, ORIGIN_LON, offset_lonlat


def roadsight(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "roadsight", *args], capture_output=True, text=True, timeout=120
    )


def test_profiles_list_and_show() -> None:
    listed = roadsight("profiles", "list")
    assert listed.returncode == 0 and "drones:" in listed.stdout and "jetson_orin_nx" in listed.stdout
    shown = roadsight("profiles", "show", "drones", "dji_mavic_3_enterprise")
    assert shown.returncode == 0 and "camera:" in shown.stdout
    missing = roadsight("profiles", "show", "drones", "no_such_drone")
    assert missing.returncode == 2 and "no_such_drone" in missing.stderr


def test_mission_plan_writes_a_qgc_plan(tmp_path: Path) -> None:
    line = [list(offset_lonlat(ORIGIN_LON, ORIGIN_LAT, 0.0, n)) for n in (0.0, 500.0, 1000.0)]
    road = tmp_path / "road.geojson"
    road.write_text(
        json.dumps(
            {"type": "Feature", "properties": {}, "geometry": {"type": "LineString", "coordinates": line}}
        )
    )
    out = tmp_path / "m.plan"
    run = roadsight(
        "mission", "plan", str(road), "--drone", "dji_mavic_3_enterprise", "--alt", "40", "--out", str(out)
    )
    assert run.returncode == 0, run.stdout + run.stderr
    plan = json.loads(out.read_text())
    assert plan["fileType"] == "Plan" and len(plan["mission"]["items"]) > 3


def test_edge_doctor_names_what_is_missing_here_and_passes_a_cpu_box() -> None:
    jetson = roadsight("edge", "doctor", "--profile", "jetson_orin_nx")
    assert jetson.returncode == 1 and "FAIL" in jetson.stdout and "nvv4l2decoder" in jetson.stdout
    cpu = roadsight("edge", "doctor", "--profile", "x86_cpu")
    assert cpu.returncode == 0, cpu.stdout + cpu.stderr
    assert "FAIL" not in cpu.stdout and "PASS" in cpu.stdout
