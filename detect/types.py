"""Records owned by the detect stage."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from capture import Frame


@dataclass(slots=True)
class Detections:
    """Boxes found in one frame, as parallel NumPy arrays (supervision style).

    ``class_id`` holds *taxonomy* ids (a model's own indices are mapped at
    load time). ``tracker_id`` is ``-1`` where no tracker assigned one.

    Example:
        >>> d = Detections.empty()
        >>> len(d)
        0
    """

    xyxy: np.ndarray  # (N, 4) float32, pixels in the frame: x1, y1, x2, y2
    confidence: np.ndarray  # (N,) float32 in [0, 1]
    class_id: np.ndarray  # (N,) int32, taxonomy ids
    tracker_id: np.ndarray  # (N,) int64, -1 = untracked

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4) or not (
            len(self.confidence) == len(self.class_id) == len(self.tracker_id) == n
        ):
            raise ValueError("Detections arrays must be parallel: xyxy (N,4) and three (N,) arrays")

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            xyxy=np.zeros((0, 4), np.float32),
            confidence=np.zeros(0, np.float32),
            class_id=np.zeros(0, np.int32),
            tracker_id=np.zeros(0, np.int64),
        )

    @classmethod
    def from_arrays(
        cls,
        xyxy: np.ndarray,
        confidence: np.ndarray,
        class_id: np.ndarray,
        tracker_id: np.ndarray | None = None,
    ) -> Detections:
        n = len(xyxy)
        return cls(
            xyxy=np.asarray(xyxy, np.float32).reshape(n, 4),
            confidence=np.asarray(confidence, np.float32),
            class_id=np.asarray(class_id, np.int32),
            tracker_id=(np.full(n, -1, np.int64) if tracker_id is None else np.asarray(tracker_id, np.int64)),
        )

    def __getitem__(self, index: np.ndarray | slice) -> Detections:
        return Detections(
            xyxy=self.xyxy[index],
            confidence=self.confidence[index],
            class_id=self.class_id[index],
            tracker_id=self.tracker_id[index],
        )


@dataclass(slots=True)
class DetectedFrame:
    """A frame and what the detector found in it."""

    frame: Frame
    detections: Detections
    inference_ms: float = 0.0


@dataclass(slots=True)
class PreparedBatch:
    """Frames letterboxed into model input tensors, ready for the forward pass.

    One ``(tensor, letterbox geometries, frames)`` chunk per forward pass (a static-batch
    model takes a batch in several). The tensors are views on a detector's reused buffers.
    """

    chunks: list[tuple[np.ndarray, list[Any], int]]
