"""Survey stills through the pipeline: a folder of DJI photos is both the video and the telemetry."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from geo import evaluate_events, load_ground_truth
from hardware.sim import plan_mission
from hardware.sim.groundtruth import write_ground_truth
from hardware.sim.photos import write_survey_photos
from stream import GeoPackageStore


def test_a_photo_folder_runs_posed_by_its_own_metadata(tmp_path: Path) -> None:
    plan = plan_mission("drone_quick", 0)
    photos = write_survey_photos(plan, 0, tmp_path / "photos", every_n=6)
    write_ground_truth(tmp_path / "truth.geojson", plan.world, plan.kept)
    store = tmp_path / "photos.gpkg"
    run = subprocess.run(
        [
            sys.executable, "-m", "roadsight", "run", "--source", str(tmp_path / "photos"),
            "--telemetry", str(tmp_path / "photos"), "--camera", "dji_m3e_wide",
            "--sampling", "all", "--store", str(store), "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout)
    # Every photo is decoded, processed and located (no photo lacks its pose).
    assert summary["frames_decoded"] == summary["frames_processed"] == len(photos)
    assert summary["frames_unlocated"] == 0
    assert summary["detections"] > 0
    with GeoPackageStore(store, readonly=True) as events:
        frame = events.read()
    assert len(frame) == summary["events"] > 0
    # Placed by the photos' XMP alone (GPS, relative altitude, gimbal): on the objects, to decimetres.
    report = evaluate_events(frame, load_ground_truth(tmp_path / "truth.geojson"), radius_m=2.0)
    assert report.matched_events > 0 and report.precision >= 0.5, report
    assert report.geo_error_p95_m <= 0.5, report
