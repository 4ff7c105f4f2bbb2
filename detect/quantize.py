"""INT8 post-training quantization of a YOLO ONNX model for ONNX Runtime on CPU.

Static quantization with ``onnxruntime.quantization`` in QDQ format: weights
INT8 per output channel (symmetric), activations UINT8 (asymmetric, ranges
from calibration). Calibration frames come from a folder of images and go
through *our* pre-processing (letterbox at the size the model will run them,
BGR->RGB, /255), so the ranges are those the detector will see.

What stays in float, and why (YOLOv8/11/v5u detection heads):

* the last convolution of every box branch (``cv2.*.2``) and class branch
  (``cv3.*.2``): their outputs are DFL logits and class logits whose useful
  range is wide and whose small differences decide box edges and the score
  threshold, so 8 bits there cost mAP for very little speed (three small convs);
* everything after them (reshape, concat, the DFL softmax and its 1x1 conv,
  anchor arithmetic, the class sigmoid): a single UINT8 scale cannot hold box
  coordinates in pixels and scores in [0, 1] at once.

The rest of the network (every other Conv, and with ``quantize_activations``
the SiLU ``Sigmoid``/``Mul``, residual ``Add``, ``Concat``, ``MaxPool`` and
``Resize`` between them) runs in INT8, so tensors stay 8-bit from one conv to
the next instead of being converted back to float around every SiLU.

Example:
    >>> quantize_onnx_int8(Path("road.onnx"), Path("frames/"), Path("road-int8.onnx"))  # doctest: +SKIP
    QuantizeResult(out=PosixPath('road-int8.onnx'), frames=64, ...)
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import onnxruntime as ort
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from detect.dfl_rewrite import rewrite_dfl_softmax
from detect.errors import DetectError
from detect.evaluate import list_images
from detect.export import ensure_metadata
from detect.letterbox import LetterboxGeometry
from detect.model_info import ModelInfo, read_model_info
from detect.preprocess import InputBatcher

if TYPE_CHECKING:
    import onnx

_console = Console(stderr=True)

# Ops quantized besides Conv when activations stay INT8 between convolutions.
ACTIVATION_OPS = ("Sigmoid", "Mul", "Add", "Concat", "MaxPool", "Resize")
CALIBRATION_METHODS = ("minmax", "percentile", "entropy")
_HEAD_FINAL_CONV = re.compile(r"/cv[23]\.\d+/cv[23]\.\d+\.2/")  # last conv of a box/class branch
_HEAD_BRANCH = re.compile(r"/cv[23]\.\d+/")
_LAYER = re.compile(r"^/model\.(\d+)/")


@dataclass
class QuantizeResult:
    """The INT8 model and how it was made."""

    out: Path
    frames: int  # calibration frames used
    input_hw: tuple[int, int]  # letterbox size the calibration ran at
    excluded_nodes: list[str] = field(default_factory=list)
    fp32_bytes: int = 0
    int8_bytes: int = 0


def stem_nodes_to_exclude(model: onnx.ModelProto) -> list[str]:
    """The first layer (``/model.0/``): a convolution over the 3-channel image and its activation.

    With 3 input channels its reduction is tiny (3 x k x k), so the INT8 kernel cannot amortise
    quantizing the full-resolution image and re-laying it out: profiled on an AVX-512 VNNI CPU it ran
    1.9x *slower* than the FP32 conv (7.2 vs 3.8 ms at 544x960) while every later conv ran 2-4x faster.
    """
    return [n.name for n in model.graph.node if n.name.startswith("/model.0/")]


def head_nodes_to_exclude(model: onnx.ModelProto) -> list[str]:
    """Nodes of the detection head (the highest ``/model.N/`` layer) that must stay in float.

    Keeps the intermediate convs of the ``cv2``/``cv3`` branches quantizable; excludes their final
    convs and every node after them (DFL, anchors, concat, sigmoid).
    """
    layers = [int(m.group(1)) for n in model.graph.node if (m := _LAYER.match(n.name))]
    if not layers:
        raise DetectError(
            "cannot find the detection head: node names are not Ultralytics' '/model.N/...' "
            "(export with Ultralytics or detect.export_onnx)"
        )
    head = f"/model.{max(layers)}/"
    return [
        n.name
        for n in model.graph.node
        if n.name.startswith(head) and (_HEAD_FINAL_CONV.search(n.name) or not _HEAD_BRANCH.search(n.name))
    ]


class FrameCalibrationReader:
    """Feeds letterboxed frames from a folder to ONNX Runtime's calibrator, one per call, with a progress bar.

    Frames of one size letterbox to one rectangle (as the detector's rectangular inference does); a frame
    of another size is letterboxed into that same rectangle, so every batch has one shape.
    """

    def __init__(self, images: Sequence[Path], info: ModelInfo, input_hw: tuple[int, int], progress: bool):
        self._images = list(images)
        self._info = info
        self._batcher = InputBatcher(input_hw, info.input_dtype)
        self._progress = progress
        self._iter: Iterator[dict[str, np.ndarray]] | None = None
        self.frames = 0

    def _feeds(self) -> Iterator[dict[str, np.ndarray]]:
        columns = (
            TextColumn("[bold cyan]calibrating[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=_console, disable=not self._progress, transient=False) as bar:
            task = bar.add_task("frames", total=len(self._images))
            for path in self._images:
                image = cv2.imread(str(path))
                if image is None:
                    raise DetectError(f"{path}: calibration frame is not a readable image")
                blob, _ = self._batcher.prepare([image])
                self.frames += 1
                # The calibrator keeps what it is given: hand it a copy, not the reused buffer.
                yield {self._info.input_name: blob.copy()}
                bar.advance(task)

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._iter is None:
            self._iter = self._feeds()
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = None


def calibration_input_hw(
    info: ModelInfo, first_frame_hw: tuple[int, int], imgsz: int | None
) -> tuple[int, int]:
    """The size the detector will letterbox such frames to (rectangular when the graph allows it)."""
    if info.input_hw is not None:
        return info.input_hw
    budget = (imgsz, imgsz) if imgsz else info.meta_imgsz
    if budget is None:
        raise DetectError(f"{info.path}: input size is dynamic and there is no 'imgsz' metadata; pass imgsz=")
    return LetterboxGeometry.rect_input_hw(first_frame_hw, budget, info.stride)


def _calibration_method(name: str) -> Any:
    from onnxruntime.quantization import CalibrationMethod

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    if name not in methods:
        raise DetectError(f"calibration method {name!r}: expected one of {list(methods)}")
    return methods[name]


def quantize_onnx_int8(
    model: Path,
    calibration_frames_dir: Path,
    out: Path,
    *,
    max_frames: int = 64,
    imgsz: int | None = None,
    method: str = "minmax",
    quantize_activations: bool = True,
    exclude_head: bool = True,
    keep_stem_float: bool = True,
    rewrite_dfl: bool = True,
    per_channel: bool = True,
    reduce_range: bool = False,
    percentile: float = 99.999,
    progress: bool = True,
) -> QuantizeResult:
    """Quantize an FP32 YOLO ONNX model to INT8 (QDQ) with frames from ``calibration_frames_dir``.

    Args:
        model: FP32 ONNX export (Ultralytics metadata: names, stride, imgsz).
        calibration_frames_dir: folder of images like those the model will see (never the
            validation images the result is scored on); sorted by name, the first ``max_frames`` used.
        out: the INT8 model to write; Ultralytics' metadata is copied over.
        max_frames: calibration frames at most. A few dozen are enough for MinMax ranges.
        imgsz: letterbox budget for dynamic-size models (default: the export size in the metadata).
        method: ``minmax``, ``percentile`` or ``entropy`` (the last two keep every activation of every
            frame in memory: use 16 frames or fewer).
        quantize_activations: also run SiLU, residual adds, concats, pooling and upsampling in INT8.
        exclude_head: keep the head's last convs and its decoding in float (see the module docstring).
        keep_stem_float: run the first layer (the conv over the RGB image) in float: faster and exact.
        rewrite_dfl: apply :func:`detect.dfl_rewrite.rewrite_dfl_softmax` (exact, faster DFL decoding).
        per_channel: one weight scale per output channel (needed for accuracy with BatchNorm folded in).
        reduce_range: 7-bit weights, for CPUs without VNNI where u8*s8 products can saturate.
        percentile: for ``method="percentile"``.
        progress: show a progress bar over the calibration frames.

    Raises:
        DetectError: an unreadable model or frame, an empty frames folder, a graph that is not an
            Ultralytics detection export (with ``exclude_head``), or a failed quantization.
    """
    try:  # onnx comes with the train extra; onnxruntime.quantization needs it
        import onnx
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    except ImportError as exc:
        raise DetectError(f"INT8 quantization needs onnx (pip install 'roadsight[train]'): {exc}") from exc
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calibrate_method = _calibration_method(method)
    model, out, calibration_frames_dir = Path(model), Path(out), Path(calibration_frames_dir)
    if not model.is_file():
        raise DetectError(f"{model}: model file not found")
    images = list_images(calibration_frames_dir)[:max_frames]
    if not images:
        raise DetectError(f"{calibration_frames_dir}: no calibration images (.jpg, .png, .bmp)")
    first = cv2.imread(str(images[0]))
    if first is None:
        raise DetectError(f"{images[0]}: calibration frame is not a readable image")
    try:
        session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT's pybind errors are untyped
        raise DetectError(f"{model}: ONNX Runtime cannot load the model: {exc}") from exc
    info = read_model_info(session, str(model))
    del session
    input_hw = calibration_input_hw(info, first.shape[:2], imgsz)
    fp32 = onnx.load(str(model))
    excluded = (head_nodes_to_exclude(fp32) if exclude_head else []) + (
        stem_nodes_to_exclude(fp32) if keep_stem_float else []
    )
    op_types = ["Conv", *ACTIVATION_OPS] if quantize_activations else ["Conv"]
    reader = FrameCalibrationReader(images, info, input_hw, progress)
    _console.print(
        f"[bold cyan]quantize[/] {model.name}: {len(images)} frames at {input_hw[1]}x{input_hw[0]}, "
        f"{method}, ops {op_types}, {len(excluded)} head nodes kept in float"
    )
    # MinMax keeps only per-tensor minima and maxima; the histogram methods keep whole activations.
    extra: dict[str, Any] = {"CalibPercentile": percentile} if method == "percentile" else {}
    with tempfile.TemporaryDirectory(prefix="roadsight-quant-") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:
            # Shape inference and constant folding, so every tensor to quantize has a known type.
            source = model
            if rewrite_dfl:
                rewritten = onnx.load(str(model))
                if rewrite_dfl_softmax(rewritten):
                    source = Path(tmp) / "dfl.onnx"
                    onnx.save(rewritten, str(source))
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=False, auto_merge=True)
            quantize_static(
                str(prepared),
                str(Path(tmp) / "int8.onnx"),
                reader,
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=op_types,
                per_channel=per_channel,
                reduce_range=reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=excluded,
                calibrate_method=calibrate_method,
                extra_options=extra,
            )
        except DetectError:
            raise
        except Exception as exc:  # the quantizer raises many kinds; report them as one
            raise DetectError(f"{model}: INT8 quantization failed: {exc}") from exc
        int8 = onnx.load(str(Path(tmp) / "int8.onnx"))
    meta = {p.key: p.value for p in fp32.metadata_props}
    ensure_metadata(int8, {**meta, "quantization": f"int8 qdq {method} {reader.frames} frames"})
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(int8, str(out))
    result = QuantizeResult(
        out=out,
        frames=reader.frames,
        input_hw=input_hw,
        excluded_nodes=excluded,
        fp32_bytes=model.stat().st_size,
        int8_bytes=out.stat().st_size,
    )
    sizes = f"{result.int8_bytes / 1e6:.1f} MB, FP32 {result.fp32_bytes / 1e6:.1f} MB"
    _console.print(f"[bold cyan]quantize[/] wrote {out} ({sizes})")
    return result
