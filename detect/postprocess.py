"""Turn raw YOLO head output into kept boxes in model-input pixels.

Three output layouts exist (:class:`~detect.model_info.OutputLayout`):

* YOLOv8/11 (and YOLO26 exported with its one-to-many head): ``(B, 4 + nc, N)``,
  rows ``cx, cy, w, h`` then one sigmoid score per class, one column per anchor.
  Needs thresholding and NMS (done here, matching Ultralytics'
  ``non_max_suppression`` with ``multi_label=False``).
* YOLOv5 (the original repository's export, anchor-based): ``(B, N, 5 + nc)``,
  columns ``cx, cy, w, h, objectness`` then one sigmoid score per class. A
  box's score for a class is ``objectness * class score``; thresholding and NMS
  match YOLOv5's ``non_max_suppression`` with ``multi_label=False`` (a
  candidate needs objectness and best score above the threshold).
* End-to-end graphs (YOLO26 one-to-one head, or exports with ``nms=True``):
  ``(B, max_det, 6)`` rows ``x1, y1, x2, y2, score, class``; only thresholding.

All return, per image, ``(xyxy, score, model_class)`` arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detect.errors import DetectError
from detect.nms import nms

MAX_NMS = 30000  # boxes entering NMS at most, highest scores first (as Ultralytics)


@dataclass(frozen=True, slots=True)
class KeptBoxes:
    """Boxes of one image in model-input pixels."""

    xyxy: np.ndarray  # (K, 4) float32
    score: np.ndarray  # (K,) float32
    model_class: np.ndarray  # (K,) intp


def _xywh_to_xyxy(cxcywh: np.ndarray) -> np.ndarray:
    """``(4, K)`` rows cx, cy, w, h -> ``(K, 4)`` x1, y1, x2, y2 (float32)."""
    half = cxcywh[2:4] / 2
    return np.ascontiguousarray(np.concatenate([cxcywh[0:2] - half, cxcywh[0:2] + half]).T, dtype=np.float32)


def decode_dense(
    pred: np.ndarray,
    class_conf: np.ndarray,
    nms_group: np.ndarray,
    iou: float,
    max_det: int,
) -> list[KeptBoxes]:
    """Threshold and NMS a ``(B, 4 + nc, N)`` YOLO head output.

    Args:
        pred: raw output, float.
        class_conf: ``(nc,)`` threshold per model class; a box's best class score must exceed it.
        nms_group: ``(nc,)`` NMS group per model class; boxes in different groups never suppress each other.
        iou: NMS IoU threshold.
        max_det: boxes kept per image at most.
    """
    nc = len(class_conf)
    if pred.ndim != 3 or pred.shape[1] != 4 + nc:
        raise DetectError(f"YOLO head output {pred.shape} does not have 4 + {nc} rows (B, 4 + nc, N)")
    scores = pred[:, 4 : 4 + nc]  # view (B, nc, N)
    best_class = scores.argmax(axis=1)  # (B, N); the first maximum on ties, as torch.max
    best_score = np.take_along_axis(scores, best_class[:, None, :], axis=1)[:, 0]
    candidate = best_score > class_conf[best_class]
    kept: list[KeptBoxes] = []
    for b in range(pred.shape[0]):  # per image; everything inside is vectorised over boxes
        idx = np.flatnonzero(candidate[b])
        if len(idx) > MAX_NMS:
            idx = idx[np.argsort(-best_score[b, idx], kind="stable")[:MAX_NMS]]
        xyxy = _xywh_to_xyxy(pred[b, :4][:, idx])
        score = best_score[b, idx].astype(np.float32, copy=False)
        cls = best_class[b, idx]
        keep = nms(xyxy, score, nms_group[cls], iou, max_det)
        kept.append(KeptBoxes(xyxy[keep], score[keep], cls[keep]))
    return kept


def decode_anchor_based(
    pred: np.ndarray,
    class_conf: np.ndarray,
    nms_group: np.ndarray,
    iou: float,
    max_det: int,
) -> list[KeptBoxes]:
    """Threshold and NMS a ``(B, N, 5 + nc)`` YOLOv5 head output (arguments as :func:`decode_dense`).

    Only rows whose objectness passes the lowest class threshold are scored, which for a real head is a
    small share of its 25,200 anchors, so the ``obj * cls`` products are never formed for all of them.
    """
    nc = len(class_conf)
    if pred.ndim != 3 or pred.shape[2] != 5 + nc:
        raise DetectError(f"YOLOv5 head output {pred.shape} does not have 5 + {nc} columns (B, N, 5 + nc)")
    kept: list[KeptBoxes] = []
    for b in range(pred.shape[0]):
        rows = np.flatnonzero(pred[b, :, 4] > class_conf.min())  # YOLOv5: xc = obj > conf_thres
        scores = pred[b, rows, 5 : 5 + nc] * pred[b, rows, 4:5]  # (K, nc) obj * cls
        best_class = scores.argmax(axis=1)
        best_score = scores[np.arange(len(rows)), best_class]
        passed = best_score > class_conf[best_class]
        # YOLOv5 also requires obj > conf for the box's own class threshold (implied when cls <= 1).
        passed &= pred[b, rows, 4] > class_conf[best_class]
        rows, best_class, best_score = rows[passed], best_class[passed], best_score[passed]
        if len(rows) > MAX_NMS:
            order = np.argsort(-best_score, kind="stable")[:MAX_NMS]
            rows, best_class, best_score = rows[order], best_class[order], best_score[order]
        xyxy = _xywh_to_xyxy(pred[b, rows, :4].T)
        score = best_score.astype(np.float32, copy=False)
        keep = nms(xyxy, score, nms_group[best_class], iou, max_det)
        kept.append(KeptBoxes(xyxy[keep], score[keep], best_class[keep]))
    return kept


def decode_end2end(pred: np.ndarray, class_conf: np.ndarray, max_det: int) -> list[KeptBoxes]:
    """Threshold a ``(B, K, 6)`` end-to-end output (rows x1, y1, x2, y2, score, class)."""
    nc = len(class_conf)
    cls = np.clip(pred[..., 5].astype(np.intp), 0, nc - 1)  # (B, K)
    candidate = pred[..., 4] > class_conf[cls]
    kept: list[KeptBoxes] = []
    for b in range(pred.shape[0]):
        idx = np.flatnonzero(candidate[b])[:max_det]
        kept.append(
            KeptBoxes(
                pred[b, idx, :4].astype(np.float32),
                pred[b, idx, 4].astype(np.float32),
                cls[b, idx],
            )
        )
    return kept
