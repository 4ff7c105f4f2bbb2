"""OnnxDetector agrees with Ultralytics' own ONNX inference on a real (tiny) YOLO11 export.

The model is built from ``yolo11n.yaml``, trained for two epochs on synthetic
images and exported with :func:`detect.export_onnx` (see ``fixtures_detect``).
Both sides run the same ONNX graph with ONNX Runtime, so any difference comes
from pre-processing (letterbox), NMS or box scaling.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from fixtures_detect import TINY_NAMES, synthetic_frames, train_tiny_yolo

from detect import Detections, OnnxDetector, export_onnx
from detect.nms import box_iou
from detect.preprocess import InputBatcher
from taxonomy import load_taxonomy

pytestmark = pytest.mark.slow

CONF, IOU = 0.05, 0.5
# Frames of several sizes and aspect ratios (portrait, landscape, odd sizes, one smaller than the input).
FRAME_SHAPES = [(240, 320), (300, 200), (97, 131), (480, 853), (64, 64), (360, 360)]


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_yolo(tmp_path_factory.mktemp("tiny_yolo"))


@pytest.fixture(scope="session")
def tiny_onnx(tiny_weights: Path) -> Path:
    """Rectangular input (128 x 192), dynamic batch."""
    return export_onnx(tiny_weights, tiny_weights.parent / "onnx" / "tiny_rect.onnx", imgsz=(128, 192))


@pytest.fixture(scope="session")
def tiny_onnx_static(tiny_weights: Path) -> Path:
    """Square input (160), static batch of 1."""
    return export_onnx(
        tiny_weights, tiny_weights.parent / "onnx" / "tiny_static.onnx", imgsz=160, dynamic_batch=False
    )


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    return synthetic_frames(len(FRAME_SHAPES), FRAME_SHAPES, seed=3)


class UltralyticsBoxes(NamedTuple):
    xyxy: np.ndarray
    conf: np.ndarray
    model_cls: np.ndarray


def _ultralytics_predict(
    onnx_path: Path, frames: list[np.ndarray], imgsz: tuple[int, int]
) -> Iterator[UltralyticsBoxes]:
    from ultralytics import YOLO

    # imgsz: Ultralytics calls a model with any symbolic axis "dynamic" and then ignores its metadata imgsz.
    model = YOLO(str(onnx_path), task="detect")
    for result in model.predict(frames, conf=CONF, iou=IOU, imgsz=list(imgsz), verbose=False):
        boxes: Any = result.boxes  # type: ignore[union-attr]
        yield UltralyticsBoxes(boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy().astype(int))


def _assert_same(ours: Detections, theirs: UltralyticsBoxes, where: str) -> None:
    xyxy, conf = theirs.xyxy, theirs.conf
    taxonomy_ids = np.array([load_taxonomy().by_key[n].id for n in TINY_NAMES])[theirs.model_cls]
    assert len(ours) == len(xyxy), f"{where}: {len(ours)} boxes here, {len(xyxy)} from Ultralytics"
    iou = box_iou(xyxy.astype(np.float32), ours.xyxy)
    same_class = taxonomy_ids[:, None] == ours.class_id[None, :]
    close_score = np.abs(conf[:, None] - ours.confidence[None, :]) <= 1e-3
    match = (iou >= 0.99) & same_class & close_score
    assert match.any(axis=1).all(), (
        f"{where}: Ultralytics boxes without a match: {np.flatnonzero(~match.any(1))}"
    )
    assert match.any(axis=0).all(), f"{where}: our boxes without a match: {np.flatnonzero(~match.any(0))}"


def test_export_writes_metadata_and_pins_image_size(tiny_onnx: Path) -> None:
    model = onnx.load(str(tiny_onnx))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["imgsz"] == "[128, 192]"
    assert meta["names"] == str(dict(enumerate(TINY_NAMES)))
    assert meta["stride"] == "32" and meta["task"] == "detect"
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, 128, 192]


def test_dynamic_batch_parity_with_ultralytics(tiny_onnx: Path, frames: list[np.ndarray]) -> None:
    detector = OnnxDetector(tiny_onnx, conf=CONF, iou=IOU)
    assert detector.input_size == (128, 192)
    assert detector.info.static_batch is None
    ours = detector.detect(frames)  # one ONNX Runtime call for the whole batch
    theirs = list(_ultralytics_predict(tiny_onnx, frames, detector.input_size))
    assert sum(len(t[0]) for t in theirs) >= 3 * len(frames), "the test model should find plenty of boxes"
    for i, (d, t) in enumerate(zip(ours, theirs, strict=True)):
        _assert_same(d, t, where=f"frame {i} {frames[i].shape}")


def test_static_batch_parity_with_ultralytics(tiny_onnx_static: Path, frames: list[np.ndarray]) -> None:
    detector = OnnxDetector(tiny_onnx_static, conf=CONF, iou=IOU)
    assert detector.input_size == (160, 160)
    assert detector.info.static_batch == 1
    ours = detector.detect(frames)
    theirs = list(_ultralytics_predict(tiny_onnx_static, frames, detector.input_size))
    assert sum(len(t[0]) for t in theirs) >= 3 * len(frames)
    for i, (d, t) in enumerate(zip(ours, theirs, strict=True)):
        _assert_same(d, t, where=f"frame {i} {frames[i].shape}")


def test_batch_result_equals_single_frame_results(tiny_onnx: Path, frames: list[np.ndarray]) -> None:
    detector = OnnxDetector(tiny_onnx, conf=CONF, iou=IOU)
    batched = detector.detect(frames)
    for frame, together in zip(frames, batched, strict=True):
        [alone] = detector.detect([frame])
        np.testing.assert_allclose(alone.xyxy, together.xyxy, atol=1e-3)
        np.testing.assert_array_equal(alone.class_id, together.class_id)


def test_half_export_is_fp16_and_close_to_fp32(
    tiny_weights: Path, tiny_onnx: Path, frames: list[np.ndarray]
) -> None:
    half = export_onnx(
        tiny_weights, tiny_weights.parent / "onnx" / "tiny_half.onnx", imgsz=(128, 192), half=True
    )
    weights = onnx.load(str(half)).graph.initializer
    assert sum(w.data_type == onnx.TensorProto.FLOAT16 for w in weights) > len(weights) / 2
    fp16 = OnnxDetector(half, conf=CONF, iou=IOU)
    assert fp16.info.input_dtype is np.float32  # Ultralytics keeps float32 inputs and outputs
    # Compare raw head outputs: NMS decisions on near-equal overlapping boxes may flip under FP16.
    blob, _ = InputBatcher((128, 192)).prepare(frames)
    raw32, raw16 = (
        ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]).run(None, {"images": blob})[0]
        for p in (tiny_onnx, half)
    )
    score_error = np.abs(raw16[:, 4:] - raw32[:, 4:])  # typically p99 0.01, max 0.04
    assert np.percentile(score_error, 99) < 0.03 and score_error.max() < 0.15
    assert np.median(np.abs(raw16[:, :4] - raw32[:, :4])) < 0.5  # box pixels; typically 0.08
    assert sum(len(d) for d in fp16.detect(frames)) >= 3 * len(frames)


@pytest.fixture(scope="session")
def tiny_onnx_dynamic_hw(tiny_weights: Path) -> Path:
    """Fully dynamic export (batch, height and width), as the starter model is exported."""
    from ultralytics import YOLO

    exported = YOLO(str(tiny_weights)).export(format="onnx", imgsz=192, dynamic=True, simplify=True, opset=17)
    return Path(str(exported))


def test_rectangular_inference_parity_with_ultralytics(
    tiny_onnx_dynamic_hw: Path, frames: list[np.ndarray]
) -> None:
    """A dynamic-size model letterboxes each frame to the smallest stride-aligned rectangle."""
    detector = OnnxDetector(tiny_onnx_dynamic_hw, conf=CONF, iou=IOU)
    assert detector.rect and detector.input_size == (192, 192)
    total = 0
    for i, frame in enumerate(frames):
        # One frame per call: Ultralytics letterboxes to a rectangle only when a batch shares one shape.
        [ours] = detector.detect([frame])
        [theirs] = list(_ultralytics_predict(tiny_onnx_dynamic_hw, [frame], detector.input_size))
        _assert_same(ours, theirs, where=f"frame {i} {frame.shape}")
        total += len(ours)
    assert total >= 3 * len(frames)
    landscape = detector._input_hw_for([frames[3]])  # 480 x 853 -> 192 wide, 108 -> 128 high
    assert landscape == (128, 192)
