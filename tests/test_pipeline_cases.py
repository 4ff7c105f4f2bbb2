"""Runs become passes: the case book on disk after two runs over the same road."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyogrio
from fixtures_pipeline import mission_config

from geo import evaluate_events, load_cases, load_ground_truth
from roadsight.config import PipelineConfig
from roadsight.pipeline import Pipeline


def _run(mission: Path, tmp_path: Path, mission_id: str) -> dict[str, Any]:
    manifest = json.loads((mission / "scenario.json").read_text())
    result = subprocess.run(
        [
            sys.executable, "-m", "roadsight", "run", "--source", str(mission / "video.mp4"),
            "--telemetry", str(mission / "telemetry.tlog"), "--camera", manifest["camera_profile"],
            "--mission-id", mission_id, "--store", str(tmp_path / "events.gpkg"), "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def test_a_second_pass_updates_the_cases_of_the_first(drone_mission: Path, tmp_path: Path) -> None:
    first = _run(drone_mission, tmp_path, "pass-1")
    cases = first["cases"]
    assert isinstance(cases, dict)
    path = Path(cases["path"])
    assert path == tmp_path / "events.cases.gpkg" and path.is_file()
    # Every case is new on the first pass; a track split in two within the pass is one case.
    assert (
        cases["new"] == cases["cases_total"]
        and 0.9 * first["events"] <= cases["cases_total"] <= first["events"]
    )
    assert cases["frames_covered"] == first["frames_processed"]  # every processed frame has a footprint
    coverage = pyogrio.read_dataframe(path, layer="coverage")
    assert len(coverage) == first["frames_processed"] and coverage.crs.to_epsg() == 4326

    second = _run(drone_mission, tmp_path, "pass-2")  # new event ids, same physical objects
    cases2 = second["cases"]
    assert isinstance(cases2, dict)
    book = load_cases(path)
    truth = load_ground_truth(drone_mission / "ground_truth.geojson")
    report = evaluate_events(book.to_geodataframe(), truth, radius_m=2.0)
    # One case per physical object across the two passes (the issue asks <= 1.05).
    assert report.matched_objects > 0 and report.events_per_object <= 1.05, report
    assert cases2["updated"] >= 0.8 * cases["cases_total"], cases2
    assert cases2["cases_total"] <= 1.05 * cases["cases_total"]
    assert (
        len(pyogrio.read_dataframe(path, layer="coverage"))
        == first["frames_processed"] + second["frames_processed"]
    )


def test_a_pass_with_zones_makes_parked_vehicles_cases_and_nothing_else(tmp_path: Path) -> None:
    """The wiring of a pass: vehicle sightings (as the tracker hands them over) through the zone rules.

    Exercises `record_pass` on simulated vehicle tracks (the simulator renders no cars): a
    vehicle is a case only when a no-parking rule says so; its per-frame detections never are.
    """
    import numpy as np
    from test_geo_zones import parked, passing, rect, write_zones, zone_feature

    from geo import GeoEvent
    from roadsight.passes import record_pass

    zones = write_zones(
        tmp_path / "zones.geojson",
        [zone_feature(rect(0, -1, 60, 7), zone_id="NP-1", rule="no_parking", min_stationary_s=30)],
    )
    rng = np.random.default_rng(3)
    sightings = parked("car-parked", 20.0, 3.0, rng) + passing("car-passing", 10.0, 2.0, rng)
    config = PipelineConfig.model_validate(
        {
            "source": "v.mp4",
            "telemetry": "t.nmea",
            "store": str(tmp_path / "e.gpkg"),
            "zones": {"path": str(zones)},
        }
    )
    # What the tracker also emitted for those tracks: one vehicle event each, which must not be cases.
    per_track = [
        GeoEvent(f"00000000-0000-5000-8000-00000000000{i}", 18, "illegal_parking_vehicle", 0.8,
                 o.lon, o.lat, 0.5, o.time_utc, "m", "kerbcam", o.frame_index, (0.0, 0.0, 1.0, 1.0))
        for i, o in enumerate([sightings[0], sightings[-1]])
    ]  # fmt: skip
    result = record_pass(config, "m", per_track, [], None, sightings)
    assert (result.parked_vehicles, result.cases_total, result.new) == (1, 1, 1)
    (case,) = load_cases(config.cases_path).cases
    assert case.class_key == "illegal_parking_vehicle"


def test_with_cases_off_a_run_keeps_no_pass_in_memory(drone_quick_mission: Path, tmp_path: Path) -> None:
    # A live source runs for hours: without the case book nothing may pile up per event or frame.
    config = mission_config(drone_quick_mission, tmp_path / "e.gpkg", cases={"enabled": False})
    pipeline = Pipeline(config)
    summary = pipeline.run()
    assert summary.events > 0
    assert summary.cases is None and not (tmp_path / "e.cases.gpkg").exists()
    assert pipeline.run_events == [] and pipeline.vehicles == [] and pipeline.covered == []
