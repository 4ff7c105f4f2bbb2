"""Merging boxes from several passes over one frame (models of an ensemble, tiles of a frame).

Boxes of one taxonomy class from different passes that overlap are one object:
class-aware greedy NMS keeps the highest-scoring box of each overlapping group.
Classes are grouped by dense rank and offset by the largest coordinate (not a
fixed 7680 px), so 8K frames and their float32 boxes stay exact.

Example:
    >>> a = Detections.from_arrays([[0, 0, 10, 10]], [0.9], [4])
    >>> b = Detections.from_arrays([[1, 0, 10, 10], [50, 50, 60, 60]], [0.8, 0.7], [4, 4])
    >>> len(merge_detections([a, b], iou=0.5))
    2
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detect.nms import nms
from detect.types import Detections


def concat_detections(parts: Sequence[Detections]) -> Detections:
    """All boxes of ``parts`` in one :class:`Detections`, in order."""
    if not parts:
        return Detections.empty()
    return Detections(
        xyxy=np.concatenate([p.xyxy for p in parts]),
        confidence=np.concatenate([p.confidence for p in parts]),
        class_id=np.concatenate([p.class_id for p in parts]),
        tracker_id=np.concatenate([p.tracker_id for p in parts]),
    )


def merge_detections(
    parts: Sequence[Detections], iou: float | None, max_det: int | None = None
) -> Detections:
    """Concatenate ``parts``; with ``iou``, keep one box per overlapping same-class group (greedy NMS).

    The kept boxes come highest score first; ``max_det`` caps them (None: no cap).
    """
    merged = concat_detections(parts)
    if iou is None or len(merged) == 0:
        return merged if max_det is None else merged[np.arange(min(len(merged), max_det))]
    group = np.unique(merged.class_id, return_inverse=True)[1]
    offset = float(np.abs(merged.xyxy).max()) + 1.0
    keep = nms(merged.xyxy, merged.confidence, group, iou, max_det or len(merged), max_wh=offset)
    return merged[keep]
