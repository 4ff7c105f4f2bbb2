"""YOLO detection with ONNX Runtime: Ultralytics exports in, taxonomy-labelled boxes out.

Example:
    >>> det = OnnxDetector("models/road.onnx", conf={"default": 0.3, "pothole": 0.4})  # doctest: +SKIP
    >>> [d] = det.detect([cv2.imread("frame.jpg")])  # doctest: +SKIP
    >>> d.xyxy, d.confidence, d.class_id  # frame pixels, scores, taxonomy ids  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort

from capture import Frame
from detect.errors import DetectError
from detect.letterbox import LetterboxGeometry
from detect.model_info import ModelInfo, read_model_info
from detect.postprocess import KeptBoxes, decode_dense, decode_end2end
from detect.preprocess import InputBatcher
from detect.thresholds import model_class_thresholds
from detect.types import DetectedFrame, Detections
from taxonomy import ClassMapping, UnmappedClassError

DEFAULT_PROVIDERS = ["CPUExecutionProvider"]


def _open_session(
    path: Path, providers: list[str] | None, intra_op_threads: int | None
) -> ort.InferenceSession:
    if not path.is_file():
        raise DetectError(f"{path}: model file not found")
    providers = providers or DEFAULT_PROVIDERS
    missing = [p for p in providers if p not in ort.get_available_providers()]
    if missing:
        raise DetectError(
            f"{path}: execution providers {missing} are not available "
            f"(this onnxruntime has {ort.get_available_providers()})"
        )
    options = ort.SessionOptions()
    if intra_op_threads is not None:
        options.intra_op_num_threads = intra_op_threads
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # ORT raises its own untyped pybind errors for unreadable graphs
        raise DetectError(f"{path}: ONNX Runtime cannot load the model: {exc}") from exc


def _input_size(info: ModelInfo, imgsz: int | tuple[int, int] | None) -> tuple[int, int]:
    """The letterbox target: the graph's fixed size, else ``imgsz``, else the export size in the metadata."""
    wanted = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    if info.input_hw is not None:
        if wanted is not None and tuple(wanted) != info.input_hw:
            raise DetectError(
                f"{info.path}: imgsz={imgsz} but the model input is fixed at {info.input_hw} (h, w); "
                "re-export with dynamic image size to change it"
            )
        return info.input_hw
    size = tuple(wanted) if wanted is not None else info.meta_imgsz
    if size is None:
        raise DetectError(f"{info.path}: input size is dynamic and there is no 'imgsz' metadata; pass imgsz=")
    if len(size) != 2 or any(s <= 0 or s % info.stride for s in size):
        raise DetectError(f"{info.path}: imgsz {size} must be two positive multiples of stride {info.stride}")
    return int(size[0]), int(size[1])


def _check_output(info: ModelInfo, session: ort.InferenceSession) -> None:
    shape = session.get_outputs()[0].shape
    expected_rows = 6 if info.end2end else 4 + len(info.names)
    axis = 2 if info.end2end else 1
    if len(shape) != 3 or (isinstance(shape[axis], int) and shape[axis] != expected_rows):
        raise DetectError(
            f"{info.path}: output shape {shape} does not fit a {'end-to-end' if info.end2end else 'YOLO'} "
            f"detection head with {len(info.names)} classes (expected {expected_rows} on axis {axis})"
        )


class OnnxDetector:
    """A YOLO detection model (Ultralytics ONNX export) run with ONNX Runtime.

    Class names, stride and input size come from the ONNX metadata that Ultralytics writes; the names are
    mapped onto the taxonomy at load time and a class that cannot be mapped raises
    :class:`~taxonomy.UnmappedClassError`. Pre- and post-processing match ``YOLO(onnx).predict()``
    (letterbox, class-aware NMS, boxes scaled back to the frame and clipped), except that NMS groups boxes
    by *taxonomy* class, so two model classes mapped to one taxonomy class do not report duplicates.

    Args:
        model_path: the ``.onnx`` file.
        conf: score threshold, one for all classes or per taxonomy key with an optional ``"default"``.
        iou: NMS IoU threshold.
        class_map: model class name -> taxonomy key, or ``None`` to ignore that class
            (see :meth:`taxonomy.ClassMapping.build`).
        imgsz: letterbox size (int or (height, width)) for models with a dynamic input size; defaults to
            the export size. Must agree with a fixed input size.
        providers: ONNX Runtime execution providers, default CPU.
        intra_op_threads: ONNX Runtime intra-op threads (default: ORT's choice).
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
        providers: list[str] | None = None,
        intra_op_threads: int | None = None,
        max_det: int = 300,
        rect: bool = True,
    ) -> None:
        path = Path(model_path)
        if not 0.0 <= iou <= 1.0:
            raise DetectError(f"iou: must be in [0, 1], got {iou!r}")
        if max_det < 1:
            raise DetectError(f"max_det: must be at least 1, got {max_det!r}")
        self._session = _open_session(path, providers, intra_op_threads)
        self.info = read_model_info(self._session, str(path))
        try:
            self.mapping = ClassMapping.build(self.info.names, class_map)
        except UnmappedClassError as exc:
            raise UnmappedClassError(f"{path}: {exc}") from None
        _check_output(self.info, self._session)
        self.input_size = _input_size(self.info, imgsz)
        self.iou = iou
        self.max_det = max_det
        self._class_conf = model_class_thresholds(conf, self.mapping)
        # NMS groups are dense ranks of taxonomy ids: small offsets keep float32 boxes precise.
        self._nms_group = np.unique(self.mapping.lookup, return_inverse=True)[1].astype(np.intp)
        # Rectangular inference needs a graph whose height and width are dynamic.
        self.rect = rect and self.info.input_hw is None
        self._batchers: dict[tuple[int, int], InputBatcher] = {}
        self._output_name = self._session.get_outputs()[0].name

    @property
    def names(self) -> tuple[str, ...]:
        """The model's own class names, by model class index."""
        return self.info.names

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in BGR ``uint8`` frames; one :class:`Detections` per frame, in frame pixels.

        Frames may differ in size. A dynamic-batch model runs them in one call; a static-batch model in
        chunks of its batch size.
        """
        chunk = self.info.static_batch or max(len(images), 1)
        results: list[Detections] = []
        for start in range(0, len(images), chunk):
            results.extend(self._detect_chunk(images[start : start + chunk], start))
        return results

    def detect_frames(self, frames: Sequence[Frame]) -> list[DetectedFrame]:
        """:meth:`detect` on captured frames; ``inference_ms`` is the batch's wall time shared per frame."""
        t0 = time.perf_counter()
        detections = self.detect([f.image for f in frames])
        per_frame_ms = (time.perf_counter() - t0) * 1000 / max(len(frames), 1)
        return [DetectedFrame(f, d, per_frame_ms) for f, d in zip(frames, detections, strict=True)]

    def _input_hw_for(self, images: Sequence[np.ndarray]) -> tuple[int, int]:
        """The letterbox target of a batch: rectangular when all frames share one shape."""
        if not self.rect or not images:
            return self.input_size
        shape = getattr(images[0], "shape", None)
        if shape is None or len(shape) < 2 or any(getattr(im, "shape", None) != shape for im in images):
            return self.input_size
        return LetterboxGeometry.rect_input_hw(
            (int(shape[0]), int(shape[1])), self.input_size, self.info.stride
        )

    def _batcher_for(self, input_hw: tuple[int, int]) -> InputBatcher:
        batcher = self._batchers.get(input_hw)
        if batcher is None:
            batcher = self._batchers[input_hw] = InputBatcher(input_hw, self.info.input_dtype)
        return batcher

    def _detect_chunk(self, images: Sequence[np.ndarray], first_index: int) -> list[Detections]:
        batcher = self._batcher_for(self._input_hw_for(images))
        blob, geometries = batcher.prepare(images, self.info.static_batch, first_index)
        pred = self._session.run([self._output_name], {self.info.input_name: blob})[0]
        pred = np.asarray(pred[: len(images)], dtype=np.float32)
        if self.info.end2end:
            kept = decode_end2end(pred, self._class_conf, self.max_det)
        else:
            kept = decode_dense(pred, self._class_conf, self._nms_group, self.iou, self.max_det)
        return [self._to_detections(k, g) for k, g in zip(kept, geometries, strict=True)]

    def _to_detections(self, kept: KeptBoxes, geometry: LetterboxGeometry) -> Detections:
        return Detections.from_arrays(
            geometry.boxes_to_frame(kept.xyxy),
            kept.score,
            self.mapping.to_taxonomy(kept.model_class),
        )
