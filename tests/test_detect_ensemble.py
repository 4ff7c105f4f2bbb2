"""Several models per stream: each model's classes mapped onto the taxonomy, boxes merged per frame."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
from fixtures_detect import SHARED, constant_head_model, head_from_boxes
from fixtures_detect import yolov5n_coco_onnx as yolov5n_coco_onnx  # the session fixture

from detect import OnnxDetector
from detect.ensemble import DetectorEnsemble, ModelSpec
from detect.merge import concat_detections
from detect.model_info import read_model_info
from taxonomy import UnmappedClassError, load_taxonomy

STARTER = Path(__file__).resolve().parents[1] / "detect/models/roadsight-starter.onnx"
FRAME = np.zeros((64, 64, 3), np.uint8)
TAX = load_taxonomy()
# The COCO classes that the enforcement rules use; every other COCO class is ignored explicitly.
COCO_USED = {
    "car": "illegal_parking_vehicle",
    "truck": "illegal_parking_vehicle",
    "bus": "illegal_parking_vehicle",
    "motorcycle": "illegal_parking_vehicle",
    "bicycle": "illegal_parking_nonmotor",
    "person": "street_vending",
}


def _coco_class_map(names: tuple[str, ...]) -> dict[str, str | None]:
    return {name: COCO_USED.get(name) for name in names}


def _defect_model(tmp_path: Path, scores: list[list[float]], name: str = "defects.onnx") -> Path:
    boxes = np.array([[10, 10, 30, 30], [40, 40, 60, 60]], np.float32)
    return constant_head_model(
        tmp_path / name, head_from_boxes(boxes, np.array(scores)), ["pothole", "patch"]
    )


def _vehicle_model(tmp_path: Path) -> Path:
    """A YOLOv5-layout model with COCO-like classes: a car at (12..28, 12..28) and a dog."""
    rows = np.array(
        [[20, 20, 16, 16, 0.9, 0.0, 0.95, 0.0], [50, 10, 8, 8, 0.9, 0.0, 0.0, 0.9]], np.float32
    )  # columns cx cy w h obj person car dog
    return constant_head_model(
        tmp_path / "v5.onnx", rows[None], ["person", "car", "dog"], metadata={"task": ""}
    )


def test_ensemble_maps_each_model_onto_the_taxonomy_with_its_own_thresholds(tmp_path: Path) -> None:
    defects = _defect_model(tmp_path, [[0.5, 0.0], [0.0, 0.35]])  # pothole 0.5, patch 0.35
    vehicles = _vehicle_model(tmp_path)
    ensemble = DetectorEnsemble.from_specs(
        [
            ModelSpec(defects, conf={"default": 0.3, "patch": 0.4}),  # the patch at 0.35 is not enough
            ModelSpec(
                vehicles,
                class_map={"person": "street_vending", "car": "illegal_parking_vehicle", "dog": None},
            ),
        ]
    )
    [d] = ensemble.detect([FRAME])
    assert sorted(d.class_id.tolist()) == [TAX.by_key["pothole"].id, TAX.by_key["illegal_parking_vehicle"].id]
    car = d.class_id == TAX.by_key["illegal_parking_vehicle"].id
    np.testing.assert_allclose(d.confidence[car], [0.9 * 0.95], atol=1e-6)
    np.testing.assert_allclose(d.xyxy[car], [[12, 12, 28, 28]], atol=1e-4)
    assert ensemble.names == ("pothole", "patch", "person", "car", "dog")


def test_cross_model_nms_keeps_one_box_per_object_and_class(tmp_path: Path) -> None:
    a = _defect_model(tmp_path, [[0.6, 0.0], [0.0, 0.0]], "a.onnx")  # pothole at 10..30
    b = _defect_model(tmp_path, [[0.8, 0.0], [0.0, 0.7]], "b.onnx")  # the same pothole, stronger, and a patch
    detectors = [OnnxDetector(a), OnnxDetector(b)]
    [both] = DetectorEnsemble(detectors).detect([FRAME])
    assert len(both) == 3
    [merged] = DetectorEnsemble(detectors, cross_model_iou=0.5).detect([FRAME])
    order = np.argsort(merged.class_id)
    assert merged.class_id[order].tolist() == [TAX.by_key["pothole"].id, TAX.by_key["patch"].id]
    np.testing.assert_allclose(merged.confidence[order], [0.8, 0.7], atol=1e-6)


def test_defect_model_with_an_unmapped_class_fails_at_load_naming_it(tmp_path: Path) -> None:
    head = np.zeros((1, 4 + 3, 8), np.float32)
    model = constant_head_model(tmp_path / "rdd.onnx", head, ["pothole", "D99", "Repair"])
    with pytest.raises(UnmappedClassError) as err:
        DetectorEnsemble.from_specs(
            [ModelSpec(_defect_model(tmp_path, [[0.5, 0], [0, 0.5]])), ModelSpec(model)]
        )
    assert str(model) in str(err.value) and "D99" in str(err.value) and "Repair" in str(err.value)
    assert "pothole" not in str(err.value).split("taxonomy class: ")[-1]
    ok = DetectorEnsemble.from_specs([ModelSpec(model, class_map={"D99": None, "Repair": "patch"})])
    assert len(ok.detectors) == 1


def test_coco_model_needs_every_class_mapped_or_explicitly_ignored(yolov5n_coco_onnx: Path) -> None:
    names = read_model_info(ort.InferenceSession(str(yolov5n_coco_onnx)), str(yolov5n_coco_onnx)).names
    with pytest.raises(UnmappedClassError) as err:
        DetectorEnsemble.from_specs([ModelSpec(yolov5n_coco_onnx, imgsz=640, class_map=COCO_USED)])
    unmapped = str(err.value).split("taxonomy class: ")[-1]
    assert str(yolov5n_coco_onnx) in str(err.value)
    assert {"toothbrush", "dog", "traffic light"} <= set(unmapped.split(" (")[0].split(", "))
    assert "car" not in unmapped.split(" (")[0].split(", ")
    ensemble = DetectorEnsemble.from_specs(
        [ModelSpec(yolov5n_coco_onnx, imgsz=640, class_map=_coco_class_map(names), conf=0.3)]
    )
    assert len(ensemble.names) == 80


@pytest.mark.skipif(not STARTER.is_file(), reason="starter model missing")
def test_starter_and_coco_models_together_on_real_photos(yolov5n_coco_onnx: Path) -> None:
    # Enough photos that the two models together find something whatever the starter's training.
    real = sorted((SHARED / "data/road-damage-real/images").glob("*.jpg"))[:40]
    if not real:
        pytest.skip("real road photos not found in ../shared")
    frames = [np.asarray(cv2.imread(str(p))) for p in real]
    names = read_model_info(ort.InferenceSession(str(yolov5n_coco_onnx)), str(yolov5n_coco_onnx)).names
    starter = OnnxDetector(STARTER, conf=0.2)
    coco = OnnxDetector(yolov5n_coco_onnx, imgsz=640, class_map=_coco_class_map(names), conf=0.2)
    merged = DetectorEnsemble([starter, coco]).detect(frames)
    separate = [
        concat_detections(pair) for pair in zip(starter.detect(frames), coco.detect(frames), strict=True)
    ]
    assert sum(len(d) for d in merged) > 0
    for m, s in zip(merged, separate, strict=True):
        np.testing.assert_array_equal(m.class_id, s.class_id)
        np.testing.assert_allclose(m.xyxy, s.xyxy)
        assert set(m.class_id.tolist()) <= {c.id for c in TAX.classes}
