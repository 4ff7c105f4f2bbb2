"""Geo settings of a run: a missing DEM or homography is named before any work."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from cli_helpers import run_with_config


def _run(mission: Path, tmp_path: Path, **extra: object) -> subprocess.CompletedProcess[str]:
    manifest = json.loads((mission / "scenario.json").read_text())
    config = {
        "sources": [
            {
                "source": str(mission / "video.mp4"),
                "telemetry": str(mission / "telemetry.tlog"),
                "camera": manifest["camera_profile"],
                **extra.pop("source_extra", {}),  # type: ignore[dict-item]
            }
        ],
        "store": str(tmp_path / "s.gpkg"),
        **extra,
    }
    return run_with_config(config, tmp_path)


def test_missing_dem_is_named(drone_quick_mission: Path, tmp_path: Path) -> None:
    run = _run(drone_quick_mission, tmp_path, geo={"dem": str(tmp_path / "nope.tif")})
    assert run.returncode == 2, run.stdout + run.stderr
    assert "nope.tif" in run.stderr and "Traceback" not in run.stderr


def test_missing_homography_is_named(drone_quick_mission: Path, tmp_path: Path) -> None:
    run = _run(drone_quick_mission, tmp_path, source_extra={"homography": str(tmp_path / "h.yaml")})
    assert run.returncode == 2, run.stdout + run.stderr
    assert "homography file not found" in run.stderr and "h.yaml" in run.stderr


def test_max_range_is_a_geo_setting(drone_quick_mission: Path, tmp_path: Path) -> None:
    """With a 1 m range nothing a 30 m-high drone sees is close enough: every detection is rejected."""
    run = _run(drone_quick_mission, tmp_path, geo={"max_range_m": 1.0}, sampling={"mode": "all"})
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout)
    assert summary["detections"] > 0
    assert summary["detections_off_ground"] == summary["detections"] and summary["events"] == 0
