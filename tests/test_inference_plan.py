"""How the model is run: workers side by side, each with its ONNX Runtime threads."""

from __future__ import annotations

import json
from pathlib import Path

from fixtures_pipeline import mission_config

from roadsight.config import DetectConfig
from roadsight.pipeline import InferencePlan, Pipeline, inference_plan


def test_a_single_onnx_model_on_the_cpu_gets_one_one_thread_worker_per_core() -> None:
    assert inference_plan(DetectConfig(), cores=2) == InferencePlan(workers=2, threads=1)
    assert inference_plan(DetectConfig(), cores=8) == InferencePlan(workers=8, threads=1)


def test_threads_set_by_hand_leave_the_cores_to_fewer_workers() -> None:
    assert inference_plan(DetectConfig(threads=2), cores=8) == InferencePlan(workers=4, threads=2)
    assert inference_plan(DetectConfig(threads=4), cores=2) == InferencePlan(workers=1, threads=4)


def test_workers_set_by_hand_share_the_cores() -> None:
    assert inference_plan(DetectConfig(workers=1), cores=4) == InferencePlan(workers=1, threads=None)
    assert inference_plan(DetectConfig(workers=2), cores=8) == InferencePlan(workers=2, threads=4)


def test_ensembles_tiling_and_other_backends_run_in_one_worker() -> None:
    model = DetectConfig().model
    ensemble = DetectConfig.model_validate({"models": [{"model": model}, {"model": model}]})
    tiled = DetectConfig.model_validate({"tiling": {"tile": [640, 640]}})
    engine = DetectConfig(model=Path("model.engine"))
    for cfg in (ensemble, tiled, engine):
        assert inference_plan(cfg, cores=4).workers == 1, cfg


def test_the_pipeline_runs_the_plan(tmp_path: Path, drone_quick_mission: Path) -> None:
    config = mission_config(
        drone_quick_mission, tmp_path / "e.gpkg", sampling={"mode": "all"}, detect={"workers": 3}
    )
    pipeline = Pipeline(config)
    assert pipeline.workers == 3
    summary = pipeline.run()
    frame_count = json.loads((drone_quick_mission / "scenario.json").read_text())["video"]["frame_count"]
    assert summary.batches == summary.frames_processed == frame_count
    assert summary.events > 0
