"""What every YOLO backend that runs the raw graph shares: letterbox in, NMS and class mapping out.

:class:`YoloDetectorBase` does everything except the forward pass, which a
backend provides as :meth:`YoloDetectorBase._infer` (``(B, 3, H, W)`` tensor in,
raw head output out): ONNX Runtime in :mod:`detect.onnx_backend`, TensorRT in
:mod:`detect.tensorrt_backend`. So both backends letterbox, threshold, run NMS
and map classes with the very same code, and agree with Ultralytics.

Example:
    >>> class Echo(YoloDetectorBase):  # doctest: +SKIP
    ...     def _infer(self, blob):
    ...         return my_engine(blob)
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np

from capture import Frame
from detect.detector import detect_frames
from detect.errors import DetectError
from detect.letterbox import LetterboxGeometry
from detect.model_info import ModelInfo
from detect.postprocess import KeptBoxes, decode_anchor_based, decode_dense, decode_end2end
from detect.preprocess import InputBatcher
from detect.thresholds import model_class_thresholds
from detect.timings import DetectTimings
from detect.types import DetectedFrame, Detections, PreparedBatch
from taxonomy import ClassMapping, UnmappedClassError


def resolve_input_size(info: ModelInfo, imgsz: int | tuple[int, int] | None) -> tuple[int, int]:
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


class YoloDetectorBase:
    """Letterbox, batching, thresholds, NMS and taxonomy mapping around a backend's forward pass.

    Args:
        info: the model's interface (class names, stride, input size, batch, output layout).
        conf: score threshold, one for all classes or per taxonomy key with an optional ``"default"``.
        iou: NMS IoU threshold.
        class_map: model class name -> taxonomy key, or ``None`` to ignore that class.
        imgsz: letterbox size for models with a dynamic input size; defaults to the export size.
        max_det: boxes kept per frame at most.
        rect: letterbox a batch of same-shaped frames to the smallest stride-aligned rectangle
            (only where the graph's height and width are dynamic).

    One instance reuses its input buffers between calls, so use one detector per thread.
    """

    def __init__(
        self,
        info: ModelInfo,
        *,
        conf: float | dict[str, float],
        iou: float,
        class_map: Mapping[str, str | None] | None,
        imgsz: int | tuple[int, int] | None,
        max_det: int,
        rect: bool,
    ) -> None:
        if not 0.0 <= iou <= 1.0:
            raise DetectError(f"iou: must be in [0, 1], got {iou!r}")
        if max_det < 1:
            raise DetectError(f"max_det: must be at least 1, got {max_det!r}")
        self.info = info
        try:
            self.mapping = ClassMapping.build(info.names, class_map)
        except UnmappedClassError as exc:
            raise UnmappedClassError(f"{info.path}: {exc}") from None
        self.input_size = resolve_input_size(info, imgsz)
        self.iou = iou
        self.max_det = max_det
        self._class_conf = model_class_thresholds(conf, self.mapping)
        # NMS groups are dense ranks of taxonomy ids: small offsets keep float32 boxes precise.
        self._nms_group = np.unique(self.mapping.lookup, return_inverse=True)[1].astype(np.intp)
        # Rectangular inference needs a graph whose height and width are dynamic.
        self.rect = rect and info.input_hw is None
        self._batchers: dict[tuple[tuple[int, int], tuple[int, int]], InputBatcher] = {}
        self.timings = DetectTimings()  # cumulative letterbox / forward pass / NMS times

    @property
    def names(self) -> tuple[str, ...]:
        """The model's own class names, by model class index."""
        return self.info.names

    def _infer(self, blob: np.ndarray) -> np.ndarray:
        """The forward pass: ``(B, 3, H, W)`` input tensor -> raw head output with batch first."""
        raise NotImplementedError

    def _max_batch(self) -> int | None:
        """Frames per forward pass at most (a static batch, or an engine's profile); None = any."""
        return self.info.static_batch

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in BGR ``uint8`` frames; one :class:`Detections` per frame, in frame pixels.

        Frames may differ in size. A dynamic-batch model runs them in one call; a static-batch model in
        chunks of its batch size.
        """
        return self.detect_prepared(self.prepare(images))

    def prepare(self, images: Sequence[np.ndarray], *, slot: int = 0) -> PreparedBatch:
        """Letterbox ``images`` into input tensors (the first half of :meth:`detect`).

        The tensors are views on buffers reused by the next call with the same ``slot``: a caller
        that prepares batches ahead in another thread (overlapping letterbox with the forward pass
        of the batch before) rotates over enough slots that none is reused while still in use.
        """
        chunk = self._max_batch() or max(len(images), 1)
        t0 = time.perf_counter()
        chunks: list[tuple[np.ndarray, list[LetterboxGeometry], int]] = []
        for part, start in enumerate(range(0, len(images), chunk)):
            frames = images[start : start + chunk]
            batcher = self._batcher_for(self._input_hw_for(frames), (slot, part))
            blob, geometries = batcher.prepare(frames, self.info.static_batch, start)
            chunks.append((blob, geometries, len(frames)))
        self.timings.add(preprocess_s=time.perf_counter() - t0, inference_s=0.0, postprocess_s=0.0, frames=0)
        return PreparedBatch(chunks)

    def detect_prepared(self, prepared: PreparedBatch) -> list[Detections]:
        """The forward pass, box decoding and NMS on tensors from :meth:`prepare`."""
        results: list[Detections] = []
        for blob, geometries, n in prepared.chunks:
            results.extend(self._detect_chunk(blob, geometries, n))
        return results

    def detect_frames(self, frames: Sequence[Frame]) -> list[DetectedFrame]:
        """:meth:`detect` on captured frames; ``inference_ms`` is the batch's wall time shared per frame."""
        return detect_frames(self, frames)

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

    def _batcher_for(self, input_hw: tuple[int, int], slot: tuple[int, int] = (0, 0)) -> InputBatcher:
        key = (input_hw, slot)
        batcher = self._batchers.get(key)
        if batcher is None:
            batcher = self._batchers[key] = InputBatcher(input_hw, self.info.input_dtype)
        return batcher

    def _detect_chunk(
        self, blob: np.ndarray, geometries: list[LetterboxGeometry], n: int
    ) -> list[Detections]:
        t1 = time.perf_counter()
        pred = np.asarray(self._infer(blob)[:n], dtype=np.float32)
        t2 = time.perf_counter()
        if self.info.end2end:
            kept = decode_end2end(pred, self._class_conf, self.max_det)
        elif self.info.anchor_based:
            kept = decode_anchor_based(pred, self._class_conf, self._nms_group, self.iou, self.max_det)
        else:
            kept = decode_dense(pred, self._class_conf, self._nms_group, self.iou, self.max_det)
        detections = [self._to_detections(k, g) for k, g in zip(kept, geometries, strict=True)]
        self.timings.add(
            preprocess_s=0.0, inference_s=t2 - t1, postprocess_s=time.perf_counter() - t2, frames=n
        )
        return detections

    def _to_detections(self, kept: KeptBoxes, geometry: LetterboxGeometry) -> Detections:
        return Detections.from_arrays(
            geometry.boxes_to_frame(kept.xyxy),
            kept.score,
            self.mapping.to_taxonomy(kept.model_class),
        )
