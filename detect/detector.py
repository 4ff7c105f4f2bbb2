"""The one interface every detection backend implements.

:class:`~detect.onnx_backend.OnnxDetector` (ONNX Runtime: CPU, CUDA, TensorRT or
OpenVINO execution providers), :class:`~detect.tensorrt_backend.TensorRTDetector`
(serialised TensorRT engines) and :class:`~detect.ultralytics_backend.UltralyticsDetector`
(``ultralytics.YOLO`` on any format, the reference) all take BGR ``uint8``
frames and return one :class:`~detect.types.Detections` per frame, in frame
pixels with taxonomy class ids. Use :func:`detect.load_detector` to pick one by
file type.

Example:
    >>> from detect import load_detector  # doctest: +SKIP
    >>> detector: Detector = load_detector("detect/models/roadsight-starter.onnx")  # doctest: +SKIP
    >>> [d] = detector.detect([frame])  # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from capture import Frame
from detect.types import DetectedFrame, Detections, PreparedBatch


@runtime_checkable
class Detector(Protocol):
    """Frames in, taxonomy-labelled boxes out."""

    @property
    def names(self) -> tuple[str, ...]:
        """The model's own class names, by model class index."""
        ...

    @property
    def input_size(self) -> tuple[int, int]:
        """The letterbox size (height, width) for a square budget (rectangular inference may use less)."""
        ...

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """One :class:`Detections` per BGR ``uint8`` frame, in frame pixels, taxonomy class ids."""
        ...


@runtime_checkable
class StagedDetector(Detector, Protocol):
    """A detector whose letterbox can run apart from its forward pass (a batch ahead, in another thread).

    ``detect(images)`` equals ``detect_prepared(prepare(images))``. ``prepare`` reuses its
    buffers per ``slot``: rotate over as many slots as batches can be in flight at once.
    """

    def prepare(self, images: Sequence[np.ndarray], *, slot: int = 0) -> PreparedBatch: ...

    def detect_prepared(self, prepared: PreparedBatch) -> list[Detections]: ...


def detect_frames(detector: Detector, frames: Sequence[Frame]) -> list[DetectedFrame]:
    """``detector.detect`` on captured frames; ``inference_ms`` is the batch's wall time shared per frame."""
    t0 = time.perf_counter()
    detections = detector.detect([f.image for f in frames])
    per_frame_ms = (time.perf_counter() - t0) * 1000 / max(len(frames), 1)
    return [DetectedFrame(f, d, per_frame_ms) for f, d in zip(frames, detections, strict=True)]
