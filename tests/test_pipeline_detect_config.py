"""The detector as configured: one model, several models per stream, tiles; through `roadsight run`."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from pathlib import Path

import onnxruntime as ort
import pytest
import yaml
from cli_helpers import run_with_config
from fixtures_detect import yolov5n_coco_onnx as yolov5n_coco_onnx  # the session fixture

from detect import DetectorEnsemble, TiledDetector
from roadsight.config import DEFAULT_MODEL, DetectConfig
from roadsight.pipeline import build_detector

# The COCO classes the enforcement rules use; every other COCO class is ignored explicitly.
COCO_USED = {
    "car": "illegal_parking_vehicle",
    "truck": "illegal_parking_vehicle",
    "bus": "illegal_parking_vehicle",
}


def _coco_names(model: Path) -> list[str]:
    meta = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).get_modelmeta()
    names = yaml.safe_load(meta.custom_metadata_map["names"])
    return [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names)


def _run(config: dict[str, object], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_with_config(config, tmp_path)


def _mission_config(mission: Path, tmp_path: Path, detect: Mapping[str, object]) -> dict[str, object]:
    manifest = json.loads((mission / "scenario.json").read_text())
    return {
        "source": str(mission / "video.mp4"),
        "telemetry": str(mission / "telemetry.tlog"),
        "camera": manifest["camera_profile"],
        "store": str(tmp_path / "events.gpkg"),
        "sampling": {"mode": "all"},
        "detect": detect,
    }


def test_defect_model_and_coco_vehicle_model_in_one_stream(
    drone_quick_mission: Path, yolov5n_coco_onnx: Path, tmp_path: Path
) -> None:
    coco_map = {name: COCO_USED.get(name) for name in _coco_names(yolov5n_coco_onnx)}
    models = [
        {"model": str(DEFAULT_MODEL)},
        {"model": str(yolov5n_coco_onnx), "imgsz": 640, "conf": 0.4, "class_map": coco_map},
    ]
    detector = build_detector(DetectConfig.model_validate({"models": models}))
    assert isinstance(detector, DetectorEnsemble) and len(detector.detectors) == 2
    assert "car" in detector.names and "pothole" in detector.names
    both = _run(_mission_config(drone_quick_mission, tmp_path / "a", {"models": models}), tmp_path)
    one = _run(_mission_config(drone_quick_mission, tmp_path / "b", {}), tmp_path)
    assert both.returncode == 0 and one.returncode == 0, both.stderr + one.stderr
    s_both, s_one = json.loads(both.stdout), json.loads(one.stdout)
    # The defect model's detections are all still there; the COCO model may only add vehicles.
    assert s_both["detections"] >= s_one["detections"] > 0
    assert s_both["events"] >= s_one["events"] > 0


def test_a_model_whose_classes_do_not_map_is_refused_naming_them(
    drone_quick_mission: Path, yolov5n_coco_onnx: Path, tmp_path: Path
) -> None:
    models = [{"model": str(DEFAULT_MODEL)}, {"model": str(yolov5n_coco_onnx), "imgsz": 640}]
    run = _run(_mission_config(drone_quick_mission, tmp_path, {"models": models}), tmp_path)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "toothbrush" in run.stdout + run.stderr and "Traceback" not in run.stdout + run.stderr


def test_tiled_inference_from_the_config(drone_quick_mission: Path, tmp_path: Path) -> None:
    tiling = {"tiling": {"tile": [320, 320], "overlap": 0.25}}
    assert isinstance(build_detector(DetectConfig.model_validate(tiling)), TiledDetector)
    config = _mission_config(drone_quick_mission, tmp_path, tiling) | {"sampling": {"max_fps": 2}}
    run = _run(config, tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    summary = json.loads(run.stdout)
    assert summary["detections"] > 0 and summary["events"] > 0


@pytest.mark.parametrize(
    ("detect", "key"),
    [
        ({"backend": "darknet"}, "detect.backend"),
        ({"tiling": {"overlap": 2}}, "detect.tiling.overlap"),
        ({"models": [{"model": "a.onnx", "conf": 7}]}, "detect.models.0.conf"),
    ],
)
def test_bad_detector_config_names_the_key(detect: dict[str, object], key: str) -> None:
    from roadsight.config import ConfigError, load_pipeline_config

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_pipeline_config(None, {"source": "a.mp4", "telemetry": "a.tlog", "detect": detect})
