"""OnnxDetector loading, class mapping, thresholds and box scaling, on hand-built ONNX models.

The models (``fixtures_detect.constant_head_model``) return a chosen YOLO head
output whatever the pixels, so every expected box and score is known exactly.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fixtures_detect import constant_head_model, head_from_boxes

from capture import Frame
from detect import DetectError, OnnxDetector, export_onnx
from taxonomy import UnmappedClassError, load_taxonomy

TAX = load_taxonomy()
POTHOLE, PATCH, CAR_ID = TAX.get("pothole").id, TAX.get("patch").id, TAX.get("illegal_parking_vehicle").id

# Three well-separated boxes in 64 x 64 input pixels; scores per model class (pothole, patch).
BOXES = np.array([[4, 4, 20, 20], [30, 30, 50, 60], [40, 2, 60, 12]], np.float32)
SCORES = np.array([[0.9, 0.1], [0.2, 0.45], [0.05, 0.3]], np.float32)


@pytest.fixture
def two_class_model(tmp_path: Path) -> Path:
    return constant_head_model(tmp_path / "m.onnx", head_from_boxes(BOXES, SCORES, 8), ["pothole", "patch"])


def _frame(h: int = 64, w: int = 64) -> np.ndarray:
    return np.zeros((h, w, 3), np.uint8)


def test_detects_known_boxes_with_taxonomy_ids(two_class_model: Path) -> None:
    detector = OnnxDetector(two_class_model, conf=0.25)
    assert detector.names == ("pothole", "patch")
    assert detector.mapping.lookup.tolist() == [POTHOLE, PATCH]
    assert detector.input_size == (64, 64)
    [d] = detector.detect([_frame()])
    np.testing.assert_allclose(d.xyxy, BOXES)
    np.testing.assert_allclose(d.confidence, [0.9, 0.45, 0.3])
    assert d.class_id.tolist() == [POTHOLE, PATCH, PATCH]
    assert d.xyxy.dtype == np.float32 and d.class_id.dtype == np.int32
    assert (d.tracker_id == -1).all()


def test_boxes_are_scaled_to_each_frame(two_class_model: Path) -> None:
    # 128 x 256 frame into 64 x 64: scale 1/4, 16 px of padding above and below.
    [wide, same] = OnnxDetector(two_class_model).detect([_frame(128, 256), _frame()])
    expected = (BOXES - [0, 16, 0, 16]) * 4
    expected[:, 1::2] = expected[:, 1::2].clip(0, 128)
    np.testing.assert_allclose(wide.xyxy, expected, atol=1e-4)
    np.testing.assert_allclose(same.xyxy, BOXES)


def test_per_class_thresholds_by_taxonomy_key(two_class_model: Path) -> None:
    detector = OnnxDetector(two_class_model, conf={"pothole": 0.95, "patch": 0.35})
    [d] = detector.detect([_frame()])
    assert d.class_id.tolist() == [PATCH] and d.confidence.tolist() == pytest.approx([0.45])
    [d] = OnnxDetector(two_class_model, conf={"default": 0.29}).detect([_frame()])
    assert len(d) == 3
    [d] = OnnxDetector(two_class_model, conf={"default": 0.5, "patch": 0.0}).detect([_frame()])
    assert d.class_id.tolist() == [POTHOLE, PATCH, PATCH]


@pytest.mark.parametrize(
    ("conf", "message"),
    [({"not_a_class": 0.3}, "not_a_class"), ({"pothole": 1.5}, "pothole"), (-0.1, "all")],
)
def test_bad_thresholds_are_named(two_class_model: Path, conf: object, message: str) -> None:
    with pytest.raises(DetectError, match=message):
        OnnxDetector(two_class_model, conf=conf)  # type: ignore[arg-type]


def test_unmapped_model_classes_fail_at_load_naming_them(tmp_path: Path) -> None:
    path = constant_head_model(
        tmp_path / "coco.onnx", np.zeros((1, 7, 8), np.float32), ["pothole", "toothbrush", "zebra"]
    )
    with pytest.raises(UnmappedClassError, match=r"coco\.onnx.*toothbrush, zebra"):
        OnnxDetector(path)


def test_class_map_renames_and_ignores_model_classes(tmp_path: Path) -> None:
    scores = np.array([[0.9, 0.0, 0.0], [0.0, 0.8, 0.0], [0.0, 0.0, 0.7]], np.float32)
    path = constant_head_model(
        tmp_path / "coco.onnx", head_from_boxes(BOXES, scores), ["car", "toothbrush", "D40"]
    )
    detector = OnnxDetector(
        path, class_map={"car": "illegal_parking_vehicle", "toothbrush": None, "D40": "pothole"}
    )
    [d] = detector.detect([_frame()])
    assert d.class_id.tolist() == [CAR_ID, POTHOLE]  # the toothbrush box is dropped, never reported
    np.testing.assert_allclose(d.xyxy, BOXES[[0, 2]])


def test_nms_groups_by_taxonomy_class(tmp_path: Path) -> None:
    # Two model classes mapped to one taxonomy class: their overlapping boxes are one object.
    boxes = np.array([[10, 10, 40, 40], [11, 11, 41, 41]], np.float32)
    scores = np.array([[0.9, 0.0], [0.0, 0.8]], np.float32)
    path = constant_head_model(tmp_path / "cars.onnx", head_from_boxes(boxes, scores), ["car", "truck"])
    mapping = {"car": "illegal_parking_vehicle", "truck": "illegal_parking_vehicle"}
    [d] = OnnxDetector(path, class_map=mapping).detect([_frame()])
    assert len(d) == 1 and d.confidence.tolist() == pytest.approx([0.9])


def test_overlapping_boxes_of_one_class_are_suppressed_and_max_det_applies(tmp_path: Path) -> None:
    boxes = np.array([[10, 10, 40, 40], [12, 10, 42, 40], [0, 0, 5, 5], [50, 50, 60, 60]], np.float32)
    scores = np.array([[0.9], [0.8], [0.7], [0.6]], np.float32)
    path = constant_head_model(tmp_path / "one.onnx", head_from_boxes(boxes, scores), ["pothole"])
    [d] = OnnxDetector(path, iou=0.5).detect([_frame()])
    assert d.confidence.tolist() == pytest.approx([0.9, 0.7, 0.6])
    [d] = OnnxDetector(path, iou=0.95).detect([_frame()])
    assert len(d) == 4
    [d] = OnnxDetector(path, iou=0.5, max_det=2).detect([_frame()])
    assert d.confidence.tolist() == pytest.approx([0.9, 0.7])


def test_static_batch_model_runs_in_chunks(tmp_path: Path) -> None:
    path = constant_head_model(
        tmp_path / "b2.onnx", head_from_boxes(BOXES, SCORES), ["pothole", "patch"], batch=2
    )
    detector = OnnxDetector(path)
    assert detector.info.static_batch == 2
    results = detector.detect([_frame()] * 5)  # chunks of 2, 2 and a padded 1
    assert [len(d) for d in results] == [3] * 5
    assert detector.detect([]) == []


def test_dynamic_image_size_uses_metadata_or_imgsz(tmp_path: Path) -> None:
    head = head_from_boxes(BOXES, SCORES)
    path = constant_head_model(tmp_path / "dyn.onnx", head, ["pothole", "patch"], imgsz=("h", "w"))  # type: ignore[arg-type]
    _set_meta(path, "imgsz", "[96, 128]")
    assert OnnxDetector(path).input_size == (96, 128)
    assert OnnxDetector(path, imgsz=(64, 96)).input_size == (64, 96)
    with pytest.raises(DetectError, match="stride"):
        OnnxDetector(path, imgsz=100)


def test_fixed_image_size_rejects_another_imgsz(two_class_model: Path) -> None:
    with pytest.raises(DetectError, match=r"m\.onnx.*fixed"):
        OnnxDetector(two_class_model, imgsz=320)


def _set_meta(path: Path, key: str, value: str) -> None:
    import onnx

    model = onnx.load(str(path))
    props = {p.key: p for p in model.metadata_props}
    if key in props:
        props[key].value = value
    else:
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.save(model, str(path))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("names", "", "no 'names'"),
        ("names", "{0: 'pothole', 2: 'patch'}", "'names' must map"),
        ("names", "not python", "'names' is not a Python literal"),
        ("task", "segment", "'task' is 'segment'"),
        ("stride", "thirty-two", "'stride' must be an integer"),
    ],
)
def test_bad_metadata_fails_naming_file_and_key(tmp_path: Path, key: str, value: str, message: str) -> None:
    path = constant_head_model(
        tmp_path / "bad.onnx", np.zeros((1, 6, 8), np.float32), ["pothole", "patch"], metadata={key: value}
    )
    with pytest.raises(DetectError, match=rf"bad\.onnx.*{message}"):
        OnnxDetector(path)


def test_output_shape_must_fit_the_class_count(tmp_path: Path) -> None:
    path = constant_head_model(tmp_path / "seg.onnx", np.zeros((1, 38, 8), np.float32), ["pothole", "patch"])
    with pytest.raises(DetectError, match=r"seg\.onnx.*output shape"):
        OnnxDetector(path)


def test_unreadable_model_files(tmp_path: Path) -> None:
    with pytest.raises(DetectError, match=r"missing\.onnx: model file not found"):
        OnnxDetector(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(DetectError, match="NoSuchExecutionProvider"):
        OnnxDetector(garbage, providers=["NoSuchExecutionProvider"])


def test_corrupt_model_file_raises_detect_error(tmp_path: Path) -> None:
    # ONNX Runtime reports a corrupt file with a C++ exception. Once GStreamer is initialised (importing
    # `capture` does it) before onnxruntime is imported, GStreamer's libunwind.so.8 provides
    # _Unwind_Resume and any such exception aborts the process. So this runs in a fresh interpreter that
    # imports `detect` (hence onnxruntime) first, and cannot take the test session down with it.
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    code = (
        "import sys, detect\n"
        "try:\n    detect.OnnxDetector(sys.argv[1])\n"
        "except detect.DetectError as exc:\n    print(exc)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code, str(garbage)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert f"{garbage}: ONNX Runtime cannot load the model" in run.stdout


def test_end2end_output_is_thresholded_without_nms(tmp_path: Path) -> None:
    rows = np.array(
        [[[4, 4, 20, 20, 0.9, 0], [5, 5, 21, 21, 0.8, 0], [30, 30, 50, 60, 0.2, 1], [0, 0, 0, 0, 0.0, 0]]],
        np.float32,
    )
    path = constant_head_model(
        tmp_path / "e2e.onnx", rows, ["pothole", "patch"], metadata={"end2end": "True"}
    )
    [d] = OnnxDetector(path, conf=0.25).detect([_frame(128, 128)])
    np.testing.assert_allclose(d.xyxy, rows[0, :2, :4] * 2)
    assert d.class_id.tolist() == [POTHOLE, POTHOLE]


def test_detect_frames_pairs_frames_with_their_detections(two_class_model: Path) -> None:
    frames = [Frame("cam", i, i * 40_000_000, 1.7e9 + i * 0.04, _frame(128, 256)) for i in range(3)]
    detected = OnnxDetector(two_class_model).detect_frames(frames)
    assert [d.frame.index for d in detected] == [0, 1, 2]
    assert all(len(d.detections) == 3 and d.inference_ms > 0 for d in detected)


def test_export_rejects_missing_weights(tmp_path: Path) -> None:
    with pytest.raises(DetectError, match=r"nope\.pt: weights file not found"):
        export_onnx(tmp_path / "nope.pt", tmp_path / "out.onnx")
