"""mAP50 of any detector backend on a YOLO-format validation split.

Measures *our* inference path (letterbox, the backend, NMS, class mapping), not
Ultralytics' validator, so that an INT8 model, a TensorRT engine and the FP32
ONNX model are scored by one yardstick. The metric follows Ultralytics'
``DetMetrics`` at IoU 0.5: predictions are matched to labels of the same class
greedily by IoU (each label and each prediction used once), and AP is the area
under the monotone precision envelope sampled at 101 recall points, averaged
over the classes that have labels. Run the detector with a low score threshold
(``conf=0.001`` as Ultralytics' ``val``) or low-recall points are missing.

Example:
    >>> from detect import OnnxDetector  # doctest: +SKIP
    >>> det = OnnxDetector("detect/models/roadsight-starter.onnx", conf=0.001, iou=0.7)  # doctest: +SKIP
    >>> evaluate_map50(det, Path("ds/images/val"), Path("ds/labels/val")).map50  # doctest: +SKIP
    0.41
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from detect.dataset_tiles import IMAGE_SUFFIXES, read_yolo_labels
from detect.detector import Detector
from detect.errors import DetectError
from detect.nms import box_iou
from detect.types import Detections
from taxonomy import load_taxonomy

IOU_MATCH = 0.5


@dataclass
class MapResult:
    """mAP50 over a split and what it was computed from."""

    map50: float
    per_class_ap50: dict[str, float] = field(default_factory=dict)  # taxonomy key -> AP50
    images: int = 0
    labels: int = 0
    predictions: int = 0
    seconds: float = 0.0  # wall time of detect() calls only (no image reading)
    # At the detector's own thresholds (what the pipeline emits), IoU 0.5, same class:
    precision: float = float("nan")
    recall: float = float("nan")

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r > 0 else float("nan")


def match_at_iou(
    pred_xyxy: np.ndarray,
    pred_class: np.ndarray,
    gt_xyxy: np.ndarray,
    gt_class: np.ndarray,
    iou_threshold: float = IOU_MATCH,
) -> np.ndarray:
    """True-positive flag per prediction: matched one-to-one to a same-class label with IoU >= threshold.

    Pairs are taken in order of decreasing IoU, each label and prediction at most once (Ultralytics'
    ``match_predictions``), without a Python loop over boxes.
    """
    tp = np.zeros(len(pred_xyxy), bool)
    if len(pred_xyxy) == 0 or len(gt_xyxy) == 0:
        return tp
    iou = box_iou(gt_xyxy.astype(np.float32), pred_xyxy.astype(np.float32))
    iou = np.where(gt_class[:, None] == pred_class[None, :], iou, 0.0)
    gt_idx, pred_idx = np.nonzero(iou >= iou_threshold)
    if len(gt_idx) == 0:
        return tp
    order = np.argsort(-iou[gt_idx, pred_idx], kind="stable")
    gt_idx, pred_idx = gt_idx[order], pred_idx[order]
    _, first = np.unique(pred_idx, return_index=True)  # best pair of each prediction
    gt_idx, pred_idx = gt_idx[first], pred_idx[first]
    order = np.argsort(-iou[gt_idx, pred_idx], kind="stable")  # unique() sorted by index: re-sort
    gt_idx, pred_idx = gt_idx[order], pred_idx[order]
    _, first = np.unique(gt_idx, return_index=True)  # then each label once
    tp[pred_idx[first]] = True
    return tp


def average_precision(tp: np.ndarray, score: np.ndarray, n_labels: int) -> float:
    """AP of one class: area under the precision envelope at 101 recall points (COCO, Ultralytics)."""
    if n_labels == 0:
        return float("nan")
    if len(tp) == 0:
        return 0.0
    order = np.argsort(-score, kind="stable")
    tpc = np.cumsum(tp[order])
    fpc = np.cumsum(~tp[order])
    recall = tpc / n_labels
    precision = tpc / (tpc + fpc)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[1.0], precision, [0.0]])
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    x = np.linspace(0, 1, 101)
    return float(np.trapezoid(np.interp(x, mrec, mpre), x))


def _yolo_to_xyxy(labels: np.ndarray, width: int, height: int) -> np.ndarray:
    cx, cy = labels[:, 1] * width, labels[:, 2] * height
    half_w, half_h = labels[:, 3] * width / 2, labels[:, 4] * height / 2
    return np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1).astype(np.float32)


def list_images(images_dir: Path) -> list[Path]:
    """Image files of a split folder, sorted by name."""
    if not images_dir.is_dir():
        raise DetectError(f"{images_dir}: images folder not found")
    return sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def evaluate_map50(
    detector: Detector,
    images_dir: Path,
    labels_dir: Path,
    *,
    class_names: Sequence[str] | None = None,
    limit: int | None = None,
    on_image: Callable[[int, int], None] | None = None,
) -> MapResult:
    """mAP50 of ``detector`` on the images of a YOLO split (labels ``class cx cy w h``, normalised).

    Args:
        detector: any backend; its :class:`Detections` carry taxonomy ids.
        images_dir, labels_dir: the split; an image without a label file has no objects.
        class_names: taxonomy key of each label class index; default: the detector's own names.
        limit: score the first ``limit`` images only.
        on_image: called with (done, total) after each image (progress bars).
    """
    tax = load_taxonomy()
    names = list(class_names if class_names is not None else detector.names)
    unknown = [n for n in names if n not in tax.by_key]
    if unknown:
        raise DetectError(f"{labels_dir}: label classes {unknown} are not taxonomy keys")
    label_to_taxonomy = np.array([tax.by_key[n].id for n in names], np.int32)
    images = list_images(images_dir)[:limit]
    if not images:
        raise DetectError(f"{images_dir}: no images to evaluate")
    tps: list[np.ndarray] = []
    scores: list[np.ndarray] = []
    pred_classes: list[np.ndarray] = []
    gt_classes: list[np.ndarray] = []
    seconds = 0.0
    for done, path in enumerate(images, start=1):
        image = cv2.imread(str(path))
        if image is None:
            raise DetectError(f"{path}: not a readable image")
        labels = read_yolo_labels(labels_dir / f"{path.stem}.txt")
        bad = (labels[:, 0] < 0) | (labels[:, 0] >= len(names))
        if bad.any():
            label_file = labels_dir / f"{path.stem}.txt"
            raise DetectError(f"{label_file}: class {int(labels[bad][0, 0])} outside 0..{len(names) - 1}")
        gt_class = label_to_taxonomy[labels[:, 0].astype(np.intp)]
        gt_xyxy = _yolo_to_xyxy(labels, image.shape[1], image.shape[0])
        t0 = cv2.getTickCount()
        [found] = detector.detect([image])
        seconds += (cv2.getTickCount() - t0) / cv2.getTickFrequency()
        tps.append(match_at_iou(found.xyxy, found.class_id, gt_xyxy, gt_class))
        scores.append(found.confidence)
        pred_classes.append(found.class_id)
        gt_classes.append(gt_class)
        if on_image is not None:
            on_image(done, len(images))
    return _summarise(tps, scores, pred_classes, gt_classes, len(images), seconds)


def _summarise(
    tps: list[np.ndarray],
    scores: list[np.ndarray],
    pred_classes: list[np.ndarray],
    gt_classes: list[np.ndarray],
    n_images: int,
    seconds: float,
) -> MapResult:
    tp, score = np.concatenate(tps), np.concatenate(scores)
    pred_class, gt_class = np.concatenate(pred_classes), np.concatenate(gt_classes)
    by_id = load_taxonomy().by_id
    per_class = {
        by_id[int(c)].key: average_precision(tp[pred_class == c], score[pred_class == c], int(n))
        for c, n in zip(*np.unique(gt_class, return_counts=True), strict=True)
    }
    return MapResult(
        map50=float(np.mean(list(per_class.values()))) if per_class else float("nan"),
        per_class_ap50=per_class,
        images=n_images,
        labels=len(gt_class),
        predictions=len(tp),
        seconds=seconds,
        precision=float(tp.mean()) if len(tp) else float("nan"),
        recall=float(tp.sum() / len(gt_class)) if len(gt_class) else float("nan"),
    )


def detections_agreement(reference: Detections, other: Detections, iou_threshold: float = IOU_MATCH) -> float:
    """Share of ``reference`` boxes that ``other`` also finds (same class, IoU >= threshold); 1.0 if none."""
    if len(reference) == 0:
        return 1.0
    matched = match_at_iou(reference.xyxy, reference.class_id, other.xyxy, other.class_id, iou_threshold)
    return float(matched.mean())
