"""The backend interface: the factory picks a backend by file type; backends agree with each other.

* ``UltralyticsDetector`` (the reference) and ``OnnxDetector`` run the starter
  model on rendered test-range frames and must report the same boxes.
* TensorRT cannot run here without an NVIDIA GPU: loading an engine or
  exporting one must say so clearly. The TensorRT parity test is the one test
  allowed to skip, and only when TensorRT or the GPU is missing.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from detect import (
    DetectError,
    Detections,
    Detector,
    OnnxDetector,
    TensorRTDetector,
    UltralyticsDetector,
    export_model,
    load_detector,
)
from detect.factory import backend_for
from detect.nms import box_iou
from detect.tensorrt_backend import gpu_available, read_engine_file
from taxonomy import load_taxonomy

STARTER = Path(__file__).resolve().parents[1] / "detect" / "models" / "roadsight-starter.onnx"
STARTER_NAMES = dict(enumerate(OnnxDetector(STARTER).names))


@pytest.fixture(scope="module")
def test_range_frames(tmp_path_factory: pytest.TempPathFactory) -> list[np.ndarray]:
    """Four rendered 960x540 test-range frames (worlds the starter model was not trained on)."""
    from hardware.sim.dataset import generate_dataset

    root = generate_dataset(
        tmp_path_factory.mktemp("frames"), n_train=0, n_val=4, seed=2100, imgsz=960, progress=False
    )
    return [np.asarray(cv2.imread(str(p))) for p in sorted((root / "images" / "val").glob("*.jpg"))]


def _engine_file(path: Path, meta: dict[str, object], engine: bytes = b"not an engine") -> Path:
    header = json.dumps(meta).encode()
    path.write_bytes(struct.pack("<i", len(header)) + header + engine)
    return path


@pytest.mark.parametrize(
    ("name", "backend"),
    [
        ("road.onnx", "onnxruntime"),
        ("road-int8.onnx", "onnxruntime"),
        ("road.engine", "tensorrt"),
        ("road.plan", "tensorrt"),
        ("best.pt", "ultralytics"),
        ("road_openvino_model", "openvino"),
    ],
)
def test_backend_is_chosen_by_suffix(name: str, backend: str) -> None:
    assert backend_for(Path(name)) == backend


def test_unknown_format_is_named(tmp_path: Path) -> None:
    with pytest.raises(DetectError, match=r"road\.tflite: cannot tell the model format"):
        load_detector(tmp_path / "road.tflite")
    with pytest.raises(DetectError, match="backend 'tflite'"):
        load_detector(STARTER, backend="tflite")  # type: ignore[arg-type]


def test_onnx_loads_as_onnx_runtime_on_the_cpu() -> None:
    detector = load_detector(STARTER, conf=0.3, providers="auto")
    assert isinstance(detector, OnnxDetector) and isinstance(detector, Detector)
    # "auto" takes the best provider present; this machine has none but the CPU.
    assert detector.provider == "CPUExecutionProvider"
    assert detector.names[0] == "pothole" and detector.input_size == (960, 960)


def test_spin_option_changes_threading_not_results(test_range_frames: list[np.ndarray]) -> None:
    still, default = OnnxDetector(STARTER, spin=False, intra_op_threads=2), OnnxDetector(STARTER)
    for a, b in zip(still.detect(test_range_frames[:2]), default.detect(test_range_frames[:2]), strict=True):
        assert len(a) == len(b) and np.allclose(a.xyxy, b.xyxy, atol=1e-3)


def test_a_missing_provider_is_an_error_not_a_silent_cpu_run() -> None:
    with pytest.raises(
        DetectError, match=r"roadsight-starter\.onnx: execution providers \['NoSuchExecutionProvider'\]"
    ):
        OnnxDetector(STARTER, providers=["NoSuchExecutionProvider"])


def test_openvino_request_without_the_provider_names_what_is_missing() -> None:
    import onnxruntime as ort

    if "OpenVINOExecutionProvider" in ort.get_available_providers():
        assert isinstance(load_detector(STARTER, backend="openvino"), OnnxDetector)
    else:
        with pytest.raises(DetectError, match="no OpenVINOExecutionProvider"):
            load_detector(STARTER, backend="openvino")


def _assert_same_boxes(ours: Detections, theirs: Detections, where: str) -> None:
    assert len(ours) == len(theirs), f"{where}: {len(ours)} boxes vs {len(theirs)} from Ultralytics"
    if not len(ours):
        return
    iou = box_iou(theirs.xyxy, ours.xyxy)
    match = (
        (iou >= 0.99)
        & (theirs.class_id[:, None] == ours.class_id[None, :])
        & (np.abs(theirs.confidence[:, None] - ours.confidence[None, :]) <= 1e-3)
    )
    assert match.any(axis=1).all() and match.any(axis=0).all(), f"{where}: unmatched boxes"


@pytest.mark.slow
def test_ultralytics_reference_agrees_with_onnx_runtime(test_range_frames: list[np.ndarray]) -> None:
    """Same model, two inference stacks: Ultralytics' letterbox + torch NMS vs ours."""
    conf = {"default": 0.25, "patch": 0.4}
    reference = load_detector(STARTER, backend="ultralytics", conf=conf, iou=0.5)
    ours = load_detector(STARTER, conf=conf, iou=0.5)
    assert isinstance(reference, UltralyticsDetector)
    assert reference.names == ours.names and reference.input_size == ours.input_size == (960, 960)
    total = 0
    for i, frame in enumerate(test_range_frames):
        [theirs] = reference.detect([frame])
        [mine] = ours.detect([frame])
        _assert_same_boxes(mine, theirs, f"frame {i}")
        total += len(mine)
    assert total >= 10, "the starter model should find objects on test-range frames"


def test_ultralytics_detector_maps_ignored_classes_away(test_range_frames: list[np.ndarray]) -> None:
    everything_but_patch = UltralyticsDetector(STARTER, conf=0.1, class_map={"patch": None})
    patch_id = load_taxonomy().by_key["patch"].id
    found = np.concatenate([d.class_id for d in everything_but_patch.detect(test_range_frames)])
    assert len(found) and patch_id not in found and (found >= 0).all()


def test_engine_file_needs_the_ultralytics_header(tmp_path: Path) -> None:
    bare = tmp_path / "bare.engine"
    bare.write_bytes(b"\xff\xff\xff\x7f" + b"x" * 64)
    with pytest.raises(DetectError, match=r"bare\.engine: no Ultralytics metadata header"):
        TensorRTDetector(bare)
    meta, engine = read_engine_file(_engine_file(tmp_path / "ok.engine", {"names": {"0": "pothole"}}))
    assert meta["names"] == {"0": "pothole"} and engine == b"not an engine"


@pytest.mark.skipif(gpu_available(), reason="checks the error where TensorRT or the GPU is missing")
def test_tensorrt_without_a_gpu_says_so(tmp_path: Path) -> None:
    engine = _engine_file(
        tmp_path / "road.engine", {"names": STARTER_NAMES, "stride": 32, "imgsz": [640, 640]}
    )
    with pytest.raises(DetectError, match=r"TensorRT is not installed|no NVIDIA GPU"):
        load_detector(engine)
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    with pytest.raises(DetectError, match=r"TensorRT is not installed|no NVIDIA GPU"):
        export_model(weights, tmp_path / "road.engine", fmt="engine")


def test_openvino_export_without_openvino_says_what_to_install(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("openvino") is not None:
        pytest.skip("openvino is installed here")  # then the export itself runs; nothing to check
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"weights")
    with pytest.raises(DetectError, match="openvino is not installed here"):
        export_model(weights, tmp_path / "road_openvino_model", fmt="openvino")


def test_export_rejects_unknown_formats_and_missing_calibration(tmp_path: Path) -> None:
    with pytest.raises(DetectError, match="export format 'tflite'"):
        export_model(STARTER, tmp_path / "x.tflite", fmt="tflite")
    with pytest.raises(DetectError, match="onnx-int8 needs --calib DIR"):
        export_model(STARTER, tmp_path / "x.onnx", fmt="onnx-int8")
    with pytest.raises(DetectError, match=r"needs \.pt weights"):
        export_model(STARTER, tmp_path / "x.engine", fmt="engine")


@pytest.mark.slow
@pytest.mark.skipif(not gpu_available(), reason="needs TensorRT and an NVIDIA GPU (the one allowed skip)")
def test_tensorrt_engine_agrees_with_onnx_runtime(tmp_path: Path) -> None:  # pragma: no cover - GPU hosts
    """FP16 engine built here from the tiny YOLO11 weights vs the FP32 ONNX export of the same weights."""
    from fixtures_detect import synthetic_frames, train_tiny_yolo

    from detect import export_onnx

    weights = train_tiny_yolo(tmp_path / "tiny")
    onnx_path = export_onnx(weights, tmp_path / "tiny.onnx", imgsz=192)
    engine = export_model(weights, tmp_path / "tiny.engine", fmt="engine", imgsz=192, max_batch=4)
    trt_det = load_detector(engine, conf=0.05, iou=0.5)
    ort_det = load_detector(onnx_path, conf=0.05, iou=0.5)
    assert isinstance(trt_det, TensorRTDetector)
    frames = synthetic_frames(6, [(240, 320), (480, 853)], seed=3)
    ours, theirs = trt_det.detect(frames), ort_det.detect(frames)  # dynamic batch: one engine call
    matched = total = 0
    for a, b in zip(ours, theirs, strict=True):
        total += len(b)
        if len(a) and len(b):
            iou = box_iou(b.xyxy, a.xyxy)
            same = (iou >= 0.9) & (b.class_id[:, None] == a.class_id[None, :])
            same &= np.abs(b.confidence[:, None] - a.confidence[None, :]) <= 0.02  # FP16 arithmetic
            matched += int(same.any(axis=1).sum())
    assert total >= 12 and matched >= 0.9 * total


@pytest.mark.slow
def test_pt_weights_run_with_ultralytics_and_agree_with_their_onnx_export(tmp_path: Path) -> None:
    """``.pt`` -> the Ultralytics backend (torch); its ONNX export -> ONNX Runtime: same boxes, up to
    float differences between torch and ONNX Runtime kernels."""
    from fixtures_detect import synthetic_frames, train_tiny_yolo

    from detect import export_onnx

    weights = train_tiny_yolo(tmp_path / "tiny")
    torch_det = load_detector(weights, conf=0.05, iou=0.5, imgsz=192)
    ort_det = load_detector(export_onnx(weights, tmp_path / "tiny.onnx", imgsz=192), conf=0.05, iou=0.5)
    assert isinstance(torch_det, UltralyticsDetector) and torch_det.names == ort_det.names
    frames = synthetic_frames(4, [(240, 320), (192, 192)], seed=5)
    matched = total = 0
    for theirs, ours in zip(torch_det.detect(frames), ort_det.detect(frames), strict=True):
        total += len(theirs)
        if len(theirs) and len(ours):
            same = (box_iou(theirs.xyxy, ours.xyxy) >= 0.98) & (
                theirs.class_id[:, None] == ours.class_id[None, :]
            )
            same &= np.abs(theirs.confidence[:, None] - ours.confidence[None, :]) <= 0.005
            matched += int(same.any(axis=1).sum())
    assert total >= 8 and matched >= 0.95 * total, (matched, total)
