"""YOLO detection with ONNX Runtime: Ultralytics exports in, taxonomy-labelled boxes out.

Example:
    >>> det = OnnxDetector("models/road.onnx", conf={"default": 0.3, "pothole": 0.4})  # doctest: +SKIP
    >>> [d] = det.detect([cv2.imread("frame.jpg")])  # doctest: +SKIP
    >>> d.xyxy, d.confidence, d.class_id  # frame pixels, scores, taxonomy ids  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from detect.errors import DetectError
from detect.model_info import ModelInfo, read_model_info
from detect.yolo_base import YoloDetectorBase

log = logging.getLogger(__name__)

DEFAULT_PROVIDERS = ["CPUExecutionProvider"]
# "auto": the fastest execution provider this onnxruntime build has, CPU always last as the fallback.
AUTO_PROVIDER_ORDER = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "OpenVINOExecutionProvider",
    "CPUExecutionProvider",
)


def resolve_providers(providers: Sequence[str] | str | None) -> list[str]:
    """The execution providers to ask for: a list as given, ``"auto"`` = best available, None = CPU.

    A named provider this onnxruntime lacks is an error naming what it has, never a silent CPU run.
    """
    available = ort.get_available_providers()
    if providers is None:
        return list(DEFAULT_PROVIDERS)
    if providers == "auto":
        return [p for p in AUTO_PROVIDER_ORDER if p in available]
    wanted = [providers] if isinstance(providers, str) else list(providers)
    missing = [p for p in wanted if p not in available]
    if missing:
        raise DetectError(
            f"execution providers {missing} are not available (this onnxruntime has {available})"
        )
    # Nodes a GPU or OpenVINO provider cannot take fall back to CPU, as ORT does with CPU listed.
    return wanted if "CPUExecutionProvider" in wanted else [*wanted, "CPUExecutionProvider"]


def _open_session(
    path: Path, providers: Sequence[str] | str | None, intra_op_threads: int | None, spin: bool | None = None
) -> ort.InferenceSession:
    if not path.is_file():
        raise DetectError(f"{path}: model file not found")
    try:
        chosen = resolve_providers(providers)
    except DetectError as exc:
        raise DetectError(f"{path}: {exc}") from None
    options = ort.SessionOptions()
    if intra_op_threads is not None:
        options.intra_op_num_threads = intra_op_threads
    if spin is not None:
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    try:
        session = ort.InferenceSession(str(path), options, providers=chosen)
    except Exception as exc:  # ORT raises its own untyped pybind errors for unreadable graphs
        raise DetectError(f"{path}: ONNX Runtime cannot load the model: {exc}") from exc
    log.info("%s: ONNX Runtime runs on %s (asked for %s)", path.name, session.get_providers()[0], chosen)
    return session


def _check_output(info: ModelInfo, session: ort.InferenceSession) -> None:
    shape = session.get_outputs()[0].shape
    expected_rows = 6 if info.end2end else 4 + len(info.names) + int(info.anchor_based)
    axis = 2 if info.end2end or info.anchor_based else 1
    if len(shape) != 3 or (isinstance(shape[axis], int) and shape[axis] != expected_rows):
        raise DetectError(
            f"{info.path}: output shape {shape} does not fit a {'end-to-end' if info.end2end else 'YOLO'} "
            f"detection head with {len(info.names)} classes (expected {expected_rows} on axis {axis})"
        )


class OnnxDetector(YoloDetectorBase):
    """A YOLO detection model (Ultralytics ONNX export) run with ONNX Runtime.

    Class names, stride and input size come from the ONNX metadata that Ultralytics writes; the names are
    mapped onto the taxonomy at load time and a class that cannot be mapped raises
    :class:`~taxonomy.UnmappedClassError`. Pre- and post-processing match ``YOLO(onnx).predict()``
    (letterbox, class-aware NMS, boxes scaled back to the frame and clipped), except that NMS groups boxes
    by *taxonomy* class, so two model classes mapped to one taxonomy class do not report duplicates.
    INT8 models from :func:`detect.quantize_onnx_int8` load the same way.

    Args:
        model_path: the ``.onnx`` file.
        conf: score threshold, one for all classes or per taxonomy key with an optional ``"default"``.
        iou: NMS IoU threshold.
        class_map: model class name -> taxonomy key, or ``None`` to ignore that class
            (see :meth:`taxonomy.ClassMapping.build`).
        imgsz: letterbox size (int or (height, width)) for models with a dynamic input size; defaults to
            the export size. Must agree with a fixed input size.
        providers: ONNX Runtime execution providers (e.g. ``["CUDAExecutionProvider"]``,
            ``["OpenVINOExecutionProvider"]``), ``"auto"`` for the best one this build has, default CPU.
            The one that runs is logged and kept in :attr:`provider`.
        intra_op_threads: ONNX Runtime intra-op threads (default: ORT's choice).
        spin: whether idle ORT worker threads spin-wait (default: ORT's choice, on). Turn it off where
            the CPU is shared (video decoding, other processes): on a busy 2-core machine spinning
            doubled the median FP32 latency of the starter model (52 vs 26 ms at 544x960).
        max_det: boxes kept per frame at most.

    One instance reuses its input buffers between calls, so use one detector per thread.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        conf: float | dict[str, float] = 0.25,
        iou: float = 0.45,
        class_map: Mapping[str, str | None] | None = None,
        imgsz: int | tuple[int, int] | None = None,
        providers: Sequence[str] | str | None = None,
        intra_op_threads: int | None = None,
        spin: bool | None = None,
        max_det: int = 300,
        rect: bool = True,
    ) -> None:
        path = Path(model_path)
        if not 0.0 <= iou <= 1.0:
            raise DetectError(f"iou: must be in [0, 1], got {iou!r}")
        if max_det < 1:
            raise DetectError(f"max_det: must be at least 1, got {max_det!r}")
        self._session = _open_session(path, providers, intra_op_threads, spin)
        info = read_model_info(self._session, str(path))
        super().__init__(
            info, conf=conf, iou=iou, class_map=class_map, imgsz=imgsz, max_det=max_det, rect=rect
        )
        _check_output(self.info, self._session)
        self.provider: str = self._session.get_providers()[0]
        self._output_name = self._session.get_outputs()[0].name

    def _infer(self, blob: np.ndarray) -> np.ndarray:
        return np.asarray(self._session.run([self._output_name], {self.info.input_name: blob})[0])
