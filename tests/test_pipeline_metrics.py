"""The run's Prometheus endpoint, scraped over real HTTP while the pipeline works."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path

from net_helpers import free_port

from roadsight.config import PipelineConfig
from roadsight.pipeline import Pipeline, RunSummary


def test_metrics_endpoint_reports_the_run_while_it_goes(drone_mission: Path, tmp_path: Path) -> None:
    port = free_port()
    manifest = json.loads((drone_mission / "scenario.json").read_text())
    config = PipelineConfig.model_validate(
        {
            "source": str(drone_mission / "video.mp4"),
            "telemetry": str(drone_mission / "telemetry.tlog"),
            "camera": manifest["camera_profile"],
            "store": str(tmp_path / "e.gpkg"),
            "metrics": {"port": port},
        }
    )
    done: list[RunSummary] = []
    worker = threading.Thread(target=lambda: done.append(Pipeline(config).run()))
    worker.start()
    scraped: dict[str, float] = {}
    deadline = time.monotonic() + 120
    while worker.is_alive() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                text = response.read().decode()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                assert response.status == 200
        except OSError:
            time.sleep(0.1)
            continue
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                scraped[name] = float(value)
        if scraped.get("roadsight_frames_processed_total", 0) > 0:
            break
        time.sleep(0.1)
    worker.join(timeout=300)
    assert done, "the run did not finish"
    assert scraped.get("roadsight_frames_decoded_total", 0) > 0, scraped
    assert scraped["roadsight_frames_processed_total"] > 0 and "roadsight_inference_ms" in scraped
    assert scraped["roadsight_frames_processed_total"] <= done[0].frames_processed
