"""Tiled inference: small defects in 4K drone frames, found in overlapping slices at full resolution.

A 4K frame letterboxed to a 960 px model input shrinks by 4: a 40 px pothole
becomes 10 px and is lost. :class:`TiledDetector` cuts each frame into
overlapping tiles (NumPy views, no copies), runs all tiles of all frames through
the wrapped detector in one call (plus, optionally, the whole frames for large
objects), shifts the boxes back to frame pixels and merges them per taxonomy
class.

Merging follows SAHI's idea with one refinement. A box that touches a tile
border lying inside the frame is *truncated*: the object may go on in the
neighbouring tile. Complete boxes are merged by ordinary greedy NMS (IoU). A
truncated box is also absorbed by a same-class box that covers most of it
(intersection over the smaller box > ``ios``), and complete boxes win over
truncated ones whatever their scores; a truncated box that survives (no tile saw
the object whole) grows to the union of the truncated pieces it absorbed. So an
object on a seam is reported once, with its full extent, while two distinct
objects that merely nest are both kept.

Example:
    >>> tiled = TiledDetector(OnnxDetector("road.onnx"), tile=(960, 960), overlap=0.2)  # doctest: +SKIP
    >>> [d] = tiled.detect([frame_4k])  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from capture import Frame
from detect.dataset_tiles import _tile_origins as tile_origins
from detect.detector import Detector, detect_frames
from detect.errors import DetectError
from detect.merge import concat_detections
from detect.nms import box_iou
from detect.types import DetectedFrame, Detections


def tile_rects(frame_hw: tuple[int, int], tile_hw: tuple[int, int], overlap: float) -> np.ndarray:
    """``(K, 4)`` int tile rectangles ``x1, y1, x2, y2`` covering the frame; the last row/column ends flush.

    Example:
        >>> tile_rects((100, 250), (100, 100), 0.2).tolist()
        [[0, 0, 100, 100], [80, 0, 180, 100], [150, 0, 250, 100]]
    """
    h, w = frame_hw
    th, tw = min(tile_hw[0], h), min(tile_hw[1], w)
    ys, xs = tile_origins(h, th, overlap), tile_origins(w, tw, overlap)
    y0, x0 = np.repeat(ys, len(xs)), np.tile(xs, len(ys))
    return np.stack([x0, y0, x0 + tw, y0 + th], axis=1).astype(np.int64)


def _truncated(xyxy: np.ndarray, rects: np.ndarray, frame_hw: tuple[int, int], margin: float) -> np.ndarray:
    """Boxes (frame pixels) touching a border of their tile (``rects``, one per box) inside the frame."""
    h, w = frame_hw
    inner = np.stack([rects[:, 0] > 0, rects[:, 1] > 0, rects[:, 2] < w, rects[:, 3] < h], axis=1)
    near = np.abs(xyxy - rects) <= margin
    return (near & inner).any(axis=1)


def merge_tiled(
    det: Detections, truncated: np.ndarray, iou: float, ios: float
) -> tuple[Detections, np.ndarray]:
    """Merge one frame's boxes from all tiles (see the module docstring); returns the kept boxes and
    whether each is still truncated."""
    kept_parts: list[Detections] = []
    kept_truncated: list[np.ndarray] = []
    for cls in np.unique(det.class_id):  # per class: small matrices, classes never interact
        idx = np.flatnonzero(det.class_id == cls)
        idx = idx[np.lexsort((-det.confidence[idx], truncated[idx]))]  # complete first, then by score
        boxes, trunc = det.xyxy[idx], truncated[idx]
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        overlap_iou = box_iou(boxes, boxes)
        inter = overlap_iou * (area[:, None] + area[None, :]) / (1 + overlap_iou)
        with np.errstate(divide="ignore", invalid="ignore"):
            overlap_ios = inter / np.minimum(area[:, None], area[None, :])
        either_truncated = trunc[:, None] | trunc[None, :]
        suppress = np.triu((overlap_iou > iou) | ((overlap_ios > ios) & either_truncated), k=1)
        keep = np.ones(len(idx), bool)
        while True:  # greedy result as a fixed point (as detect.nms): kept j < i suppressing i
            new_keep = ~(suppress & keep[:, None]).any(axis=0)
            if np.array_equal(new_keep, keep):
                break
            keep = new_keep
        # A kept truncated box grows to the union of the truncated pieces it absorbed.
        absorbs = suppress & (keep & trunc)[:, None] & (trunc & ~keep)[None, :]
        grown = boxes.copy()
        for col, reduce in ((0, np.min), (1, np.min), (2, np.max), (3, np.max)):
            fill = np.inf if reduce is np.min else -np.inf
            pieces = np.where(absorbs, boxes[None, :, col], fill)
            grown[:, col] = reduce(np.concatenate([boxes[:, col : col + 1], pieces], axis=1), axis=1)
        part = det[idx[keep]]
        part.xyxy = grown[keep]
        kept_parts.append(part)
        kept_truncated.append(trunc[keep])
    merged = concat_detections(kept_parts)
    flags = np.concatenate(kept_truncated) if kept_truncated else np.zeros(0, bool)
    order = np.argsort(-merged.confidence, kind="stable")
    return merged[order], flags[order]


class TiledDetector:
    """Runs ``detector`` on overlapping tiles of each frame (and the whole frame) and merges the boxes.

    Args:
        detector: any :class:`Detector` (its class map and thresholds apply to every tile).
        tile: tile size (height, width) in frame pixels; frames smaller than a tile are one tile.
        overlap: fraction of a tile shared with its neighbour, in [0, 0.9].
        include_full_frame: also run the whole frame (large objects that no tile holds whole).
        iou: IoU above which two complete same-class boxes are one object.
        ios: intersection over the smaller box above which a truncated box joins another.
        edge_margin: pixels from an inner tile border within which a box counts as truncated.
        max_det: boxes kept per frame at most after merging (None: no cap).
    """

    def __init__(
        self,
        detector: Detector,
        tile: tuple[int, int] = (960, 960),
        overlap: float = 0.2,
        include_full_frame: bool = True,
        *,
        iou: float = 0.5,
        ios: float = 0.6,
        edge_margin: float = 4.0,
        max_det: int | None = 300,
    ) -> None:
        if not 0.0 <= overlap <= 0.9:
            raise DetectError(f"tiling overlap: must be in [0, 0.9], got {overlap!r}")
        if len(tile) != 2 or min(tile) < 32:
            raise DetectError(f"tiling tile: must be (height, width) of at least 32 px, got {tile!r}")
        self.detector = detector
        self.tile = (int(tile[0]), int(tile[1]))
        self.overlap = overlap
        self.include_full_frame = include_full_frame
        self.iou, self.ios, self.edge_margin, self.max_det = iou, ios, edge_margin, max_det

    @property
    def names(self) -> tuple[str, ...]:
        return self.detector.names

    @property
    def input_size(self) -> tuple[int, int]:
        return self.detector.input_size

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """One merged :class:`Detections` per frame, in frame pixels."""
        rects = [tile_rects((im.shape[0], im.shape[1]), self.tile, self.overlap) for im in images]
        tiles = [im[y1:y2, x1:x2] for im, r in zip(images, rects, strict=True) for x1, y1, x2, y2 in r]
        tile_dets = self.detector.detect(tiles)  # all tiles of all frames in one call
        full_dets = self.detector.detect(images) if self.include_full_frame else []
        results: list[Detections] = []
        start = 0
        for i, (im, r) in enumerate(zip(images, rects, strict=True)):
            parts, own_rects = tile_dets[start : start + len(r)], []
            start += len(r)
            for det, rect in zip(parts, r, strict=True):
                det.xyxy = det.xyxy + rect[[0, 1, 0, 1]].astype(np.float32)
                own_rects.append(np.broadcast_to(rect, (len(det), 4)))
            frame_hw = (im.shape[0], im.shape[1])
            shifted = concat_detections(parts)
            box_rects = np.concatenate(own_rects) if own_rects else np.zeros((0, 4), np.int64)
            truncated = _truncated(shifted.xyxy, box_rects, frame_hw, self.edge_margin)
            if self.include_full_frame:
                shifted = concat_detections([shifted, full_dets[i]])
                truncated = np.concatenate([truncated, np.zeros(len(full_dets[i]), bool)])
            merged, _ = merge_tiled(shifted, truncated, self.iou, self.ios)
            results.append(
                merged if self.max_det is None else merged[np.arange(min(len(merged), self.max_det))]
            )
        return results

    def detect_frames(self, frames: Sequence[Frame]) -> list[DetectedFrame]:
        """:meth:`detect` on captured frames."""
        return detect_frames(self, frames)
