"""Class-aware greedy non-maximum suppression in NumPy, without a per-box loop.

Greedy NMS is sequential by nature (a box survives only if no *kept*
higher-scoring box overlaps it), so a naive version loops over boxes in Python.
Here the sorted boxes are processed in blocks: each block is first checked
against the boxes kept so far with one IoU matrix, then resolved internally by
the Cluster-NMS fixed-point iteration (Zheng et al. 2021), which yields exactly
the greedy result: ``keep[i] = alive[i] and no kept j < i overlaps i``. The
recursion has a unique solution, so the iteration's fixed point *is* the greedy
answer, reached in a handful of vectorised steps. Blocks stop as soon as
``max_det`` boxes are kept (later boxes cannot change earlier decisions), which
bounds memory at ``block x block`` plus ``max_det x block``.

Classes are kept apart with the usual offset trick: each box is shifted by
``class * max_wh`` pixels so boxes of different classes never overlap. IoU is
computed in float32 exactly as ``torchvision.ops.nms`` does and a box is
suppressed when ``IoU > iou_threshold``.

Example:
    >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 10]], np.float32)
    >>> nms(boxes, np.array([0.9, 0.8, 0.7], np.float32), np.array([0, 0, 1]), 0.5).tolist()
    [0, 2]
"""

from __future__ import annotations

import numpy as np

MAX_WH = 7680  # class offset in pixels, as Ultralytics: larger than any model input side


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(len(a), len(b))`` of xyxy boxes, float32 like torchvision's NMS kernel."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(iw, 0) * np.maximum(ih, 0)
    with np.errstate(divide="ignore", invalid="ignore"):  # two empty boxes: nan, never "> threshold"
        iou: np.ndarray = inter / (area_a[:, None] + area_b[None, :] - inter)
    return iou


def _resolve_block(overlaps: np.ndarray, alive: np.ndarray) -> np.ndarray:
    """Greedy keep-mask of one score-sorted block; ``overlaps[j, i]`` says j would suppress i."""
    suppressor = np.triu(overlaps, k=1)  # only a higher-scoring box (j < i) suppresses
    keep = alive.copy()
    while True:
        new_keep = alive & ~(suppressor & keep[:, None]).any(axis=0)
        if np.array_equal(new_keep, keep):
            return keep
        keep = new_keep


def nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    classes: np.ndarray,
    iou_threshold: float,
    max_det: int = 300,
    *,
    max_wh: float = MAX_WH,
    block: int = 512,
) -> np.ndarray:
    """Indices of the boxes kept by class-aware greedy NMS, highest score first.

    Args:
        boxes: ``(N, 4)`` xyxy boxes (float32).
        scores: ``(N,)`` scores.
        classes: ``(N,)`` integer class (group) of each box; boxes of different classes never suppress
            each other.
        iou_threshold: a box is dropped when its IoU with a kept, higher-scoring box of its class is
            greater than this.
        max_det: keep at most this many boxes.
        max_wh: class offset in pixels; must exceed the largest coordinate.
        block: boxes resolved per vectorised step (memory is ``O(block**2 + max_det * block)``).
    """
    n = len(boxes)
    if n == 0 or max_det <= 0:
        return np.zeros(0, dtype=np.intp)
    order = np.argsort(-scores, kind="stable")
    # Offset by class in float32, as Ultralytics does, so decisions match it bit for bit.
    offsets = classes[order].astype(np.float32) * np.float32(max_wh)
    shifted = boxes[order].astype(np.float32) + offsets[:, None]
    threshold = np.float64(iou_threshold)  # compare in double, as torchvision does
    kept_parts: list[np.ndarray] = []
    kept_boxes = np.zeros((0, 4), np.float32)
    n_kept = 0
    for start in range(0, n, block):
        chunk = shifted[start : start + block]
        alive = np.ones(len(chunk), dtype=bool)
        if n_kept:
            alive &= ~(box_iou(kept_boxes, chunk) > threshold).any(axis=0)
        keep = _resolve_block(box_iou(chunk, chunk) > threshold, alive)
        kept_parts.append(order[start : start + block][keep])
        kept_boxes = np.concatenate([kept_boxes, chunk[keep]])
        n_kept += int(keep.sum())
        if n_kept >= max_det:
            break
    return np.concatenate(kept_parts)[:max_det]
