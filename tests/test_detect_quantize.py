"""INT8 static quantization of the starter model and the mAP50 yardstick it is judged by.

The data are rendered test-range frames (``hardware.sim.generate_dataset``,
960x540 as the pipeline sees 1080p drone video): the ``train`` split
calibrates, the ``val`` split (other worlds) is what INT8 and FP32 are
compared on. Calibration here uses 8 frames to stay fast; the benchmark uses 64.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest

from detect import DetectError, OnnxDetector, evaluate_map50, export_model, quantize_onnx_int8
from detect.evaluate import average_precision, detections_agreement, match_at_iou
from detect.quantize import QuantizeResult, head_nodes_to_exclude
from detect.types import Detections

STARTER = Path(__file__).resolve().parents[1] / "detect" / "models" / "roadsight-starter.onnx"


@pytest.fixture(scope="module")
def test_range(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hardware.sim.dataset import generate_dataset

    return generate_dataset(
        tmp_path_factory.mktemp("test_range"), n_train=8, n_val=6, seed=2200, imgsz=960, progress=False
    )


@pytest.fixture(scope="module")
def int8(test_range: Path, tmp_path_factory: pytest.TempPathFactory) -> QuantizeResult:
    out = tmp_path_factory.mktemp("int8") / "starter-int8.onnx"
    return quantize_onnx_int8(STARTER, test_range / "images" / "train", out, progress=False)


def _val_frames(test_range: Path) -> list[np.ndarray]:
    return [np.asarray(cv2.imread(str(p))) for p in sorted((test_range / "images" / "val").glob("*.jpg"))]


def test_int8_model_is_quantized_smaller_and_keeps_its_metadata(int8: QuantizeResult) -> None:
    model = onnx.load(str(int8.out))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert int8.frames == 8 and int8.input_hw == (544, 960)  # rectangular, as the detector runs 960x540
    assert int8.int8_bytes < 0.5 * int8.fp32_bytes == 0.5 * STARTER.stat().st_size
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["names"].startswith("{0: 'pothole'") and meta["imgsz"] == "[960, 960]"
    assert meta["quantization"] == "int8 qdq minmax 8 frames"
    # Weights of quantized convs are stored as INT8; the excluded head convs keep float weights.
    int8_weights = {i.name for i in model.graph.initializer if i.data_type == onnx.TensorProto.INT8}
    assert len(int8_weights) >= 60
    float_convs = [n for n in model.graph.node if n.op_type == "Conv" and n.name in int8.excluded_nodes]
    assert {n.name for n in float_convs} >= {f"/model.24/cv3.{i}/cv3.{i}.2/Conv" for i in range(3)}


def test_head_exclusion_keeps_branch_convs_quantizable() -> None:
    excluded = set(head_nodes_to_exclude(onnx.load(str(STARTER))))
    assert "/model.24/cv2.0/cv2.0.2/Conv" in excluded and "/model.24/cv3.2/cv3.2.2/Conv" in excluded
    assert "/model.24/dfl/conv/Conv" in excluded and "/model.24/Sigmoid" in excluded
    assert "/model.24/cv2.0/cv2.0.0/conv/Conv" not in excluded  # intermediate branch convs run INT8
    assert not any(name.startswith("/model.23/") for name in excluded)


def test_int8_detections_largely_agree_with_fp32(int8: QuantizeResult, test_range: Path) -> None:
    """At the pipeline's threshold INT8 finds >= 80 % of the FP32 boxes (and vice versa) at IoU 0.5.

    On 60 validation frames with 64 calibration frames the agreement measured 96 % / 96 %; boxes that
    differ sit near the score threshold. 80 % leaves room for 6 frames and 8 calibration frames while
    still failing a broken quantization (wrong scales or a quantized head lose most boxes).
    """
    fp32, q8 = OnnxDetector(STARTER), OnnxDetector(int8.out)
    frames = _val_frames(test_range)
    ref, got = fp32.detect(frames), q8.detect(frames)  # one batch each
    n_ref, n_got = sum(len(d) for d in ref), sum(len(d) for d in got)
    assert n_ref >= 15, "the starter model should find objects on test-range frames"
    found = sum(detections_agreement(a, b) * len(a) for a, b in zip(ref, got, strict=True)) / n_ref
    kept = sum(detections_agreement(b, a) * len(b) for a, b in zip(ref, got, strict=True)) / n_got
    assert found >= 0.8 and kept >= 0.8, (found, kept)


def test_calibration_errors_name_the_input(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DetectError, match=r"empty: no calibration images"):
        quantize_onnx_int8(STARTER, empty, tmp_path / "x.onnx", progress=False)
    with pytest.raises(DetectError, match=r"nope\.onnx: model file not found"):
        quantize_onnx_int8(tmp_path / "nope.onnx", empty, tmp_path / "x.onnx", progress=False)
    (empty / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DetectError, match=r"broken\.jpg: calibration frame is not a readable image"):
        quantize_onnx_int8(STARTER, empty, tmp_path / "x.onnx", progress=False)
    with pytest.raises(DetectError, match="calibration method 'kl'"):
        quantize_onnx_int8(STARTER, empty, tmp_path / "x.onnx", method="kl", progress=False)


def test_export_onnx_int8_from_an_onnx_file(test_range: Path, tmp_path: Path) -> None:
    out = export_model(
        STARTER,
        tmp_path / "road-int8.onnx",
        fmt="onnx-int8",
        imgsz=960,
        calib_dir=test_range / "images" / "train",
        calib_frames=2,
        progress=False,
    )
    assert OnnxDetector(out).names == OnnxDetector(STARTER).names


def test_map50_of_int8_and_fp32_on_the_validation_split(int8: QuantizeResult, test_range: Path) -> None:
    val = (test_range / "images" / "val", test_range / "labels" / "val")
    fp32 = evaluate_map50(OnnxDetector(STARTER, conf=0.001, iou=0.7), *val)
    q8 = evaluate_map50(OnnxDetector(int8.out, conf=0.001, iou=0.7), *val)
    assert fp32.images == q8.images == 6 and fp32.labels == q8.labels >= 20
    assert 0.3 < fp32.map50 <= 1.0 and 0.3 < q8.map50 <= 1.0  # the starter scores ~0.67 on 200 frames
    # Six frames are too few for the 2-point acceptance bound (that is the benchmark's, on 200 frames).
    assert abs(fp32.map50 - q8.map50) < 0.1


def _dets(boxes: list[list[float]], classes: list[int]) -> Detections:
    xyxy = np.array(boxes, np.float32).reshape(-1, 4)
    return Detections.from_arrays(xyxy, np.full(len(xyxy), 0.9), np.array(classes))


def test_matching_is_one_to_one_by_iou_and_class() -> None:
    gt_xyxy = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    gt_cls = np.array([1, 1])
    pred = np.array([[0, 0, 10, 10], [0, 0, 10, 9], [20, 20, 30, 30], [20, 20, 30, 30]], np.float32)
    pred_cls = np.array([1, 1, 2, 1])
    # The second box duplicates the first label (only one may match); the third has the wrong class.
    assert match_at_iou(pred, pred_cls, gt_xyxy, gt_cls).tolist() == [True, False, False, True]
    assert match_at_iou(pred[:0], pred_cls[:0], gt_xyxy, gt_cls).shape == (0,)


def test_average_precision_of_known_rankings() -> None:
    # A perfect ranking scores 0.995, not 1, with the 101-point rule, exactly as in Ultralytics.
    assert average_precision(np.array([True, True]), np.array([0.9, 0.8]), 2) == pytest.approx(0.995)
    # A false positive ranked first: precision 1/2 at recall 1/2, then 2/3 at recall 1.
    ap = average_precision(np.array([False, True, True]), np.array([0.9, 0.8, 0.7]), 2)
    assert ap == pytest.approx(2 / 3, abs=0.01)
    assert average_precision(np.array([], bool), np.array([]), 3) == 0.0


def test_agreement_counts_reference_boxes_found() -> None:
    ref = _dets([[0, 0, 10, 10], [50, 50, 60, 60]], [4, 4])
    assert detections_agreement(ref, _dets([[0, 0, 10, 10]], [4])) == 0.5
    assert detections_agreement(ref, _dets([[0, 0, 10, 10]], [8])) == 0.0
    assert detections_agreement(Detections.empty(), ref) == 1.0


def _dfl_graph() -> onnx.ModelProto:
    """Ultralytics' DFL decoding as exported: Reshape, Transpose(0,2,1,3), Softmax(axis=1), Conv 1x1."""
    from onnx import TensorProto, helper, numpy_helper

    bins = numpy_helper.from_array(np.arange(16, dtype=np.float32).reshape(1, 16, 1, 1), "bins")
    shape = numpy_helper.from_array(np.array([0, 4, 16, -1], np.int64), "shape")
    out_shape = numpy_helper.from_array(np.array([0, 4, -1], np.int64), "out_shape")
    nodes = [
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3]),
        helper.make_node("Softmax", ["t"], ["s"], axis=1),
        helper.make_node("Conv", ["s", "bins"], ["c"], name="/model.24/dfl/conv/Conv"),
        helper.make_node("Reshape", ["c", "out_shape"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "dfl",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 64, "a"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 4, "a"])],
        initializer=[bins, shape, out_shape],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_dfl_rewrite_is_exact_and_leaves_no_transposed_softmax() -> None:
    import onnxruntime as ort

    from detect.dfl_rewrite import rewrite_dfl_softmax

    original = _dfl_graph()
    rewritten = _dfl_graph()
    assert rewrite_dfl_softmax(rewritten) and not rewrite_dfl_softmax(rewritten)  # once, then nothing
    onnx.checker.check_model(rewritten)
    ops = [n.op_type for n in rewritten.graph.node]
    assert "Conv" not in ops and "MatMul" in ops
    x = np.random.default_rng(0).normal(0, 3, (2, 64, 300)).astype(np.float32)
    run = [ort.InferenceSession(m.SerializeToString()).run(None, {"x": x})[0] for m in (original, rewritten)]
    assert run[0].shape == run[1].shape == (2, 4, 300)
    np.testing.assert_allclose(run[1], run[0], rtol=1e-6, atol=1e-5)
    # The shipped starter model carries the rewrite already.
    assert not rewrite_dfl_softmax(onnx.load(str(STARTER)))


def test_precision_recall_f1_at_the_detectors_own_threshold() -> None:
    from detect.evaluate import _summarise

    result = _summarise(
        [np.array([True, False, True])],
        [np.array([0.9, 0.8, 0.7])],
        [np.array([4, 4, 0])],
        [np.array([4, 4, 0, 0])],
        1,
        0.0,
    )
    assert (result.precision, result.recall) == pytest.approx((2 / 3, 2 / 4))
    assert result.f1 == pytest.approx(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5))
