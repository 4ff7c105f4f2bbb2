"""OpenCV Haar cascades run with NumPy (OpenCV 5 dropped ``cv2.CascadeClassifier`` from its main module).

Reads a cascade in OpenCV's XML format (``<cascade>`` with ``<stages>`` and
``<features>``, as written by ``opencv_traincascade``; the ones Debian's
``opencv-data`` installs under ``/usr/share/opencv4/haarcascades``) and runs it
as OpenCV does: the image is shrunk by ``scale_factor`` per level, every window
of the cascade's size is scored stage by stage on integral images (a window
leaves at the first stage it fails), each feature normalised by the window's
standard deviation, and overlapping hits are grouped (``min_neighbors``).

All windows of a level are evaluated together (NumPy), so a 1280x720 frame takes
about a second for a face cascade. Upright features only: a cascade with tilted
(45 degree) features is refused with a clear error.

Example:
    >>> cascade = load_cascade(find_cascade("haarcascade_frontalface_default.xml"))  # doctest: +SKIP
    >>> boxes = cascade.detect(gray, min_size=(30, 30))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Where cascade files are looked for, in order (ROADSIGHT_HAAR_DIR first).
CASCADE_DIRS = (
    "/usr/share/opencv4/haarcascades",  # Debian/Ubuntu opencv-data
    "/usr/share/opencv/haarcascades",
    "/usr/local/share/opencv4/haarcascades",
)


class CascadeError(ValueError):
    """A cascade file that cannot be found or read (the message names the file)."""


@dataclass(frozen=True, slots=True)
class WeakTree:
    """One weak classifier: nodes (left, right, feature, threshold); a child <= 0 is leaf ``-child``."""

    left: tuple[int, ...]
    right: tuple[int, ...]
    feature: tuple[int, ...]
    threshold: tuple[float, ...]
    leaves: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Stage:
    threshold: float
    trees: tuple[WeakTree, ...]


@dataclass(frozen=True, slots=True)
class StumpStage:
    """A stage whose weak classifiers are all single-node stumps, as flat arrays (one gather a stage).

    ``rects`` (R, 4) x, y, w, h of every rectangle of every stump's feature; ``weights`` (R,);
    ``first`` (T,) index of each stump's first rectangle (for ``np.add.reduceat``).
    """

    threshold: float
    rects: np.ndarray
    weights: np.ndarray
    first: np.ndarray
    split: np.ndarray  # (T,) threshold of each stump
    below: np.ndarray  # (T,) value when the feature is below the split
    above: np.ndarray  # (T,)


def _stump_stage(stage: Stage, features: list[tuple[np.ndarray, np.ndarray]]) -> StumpStage | None:
    if any(len(t.feature) != 1 or t.left[0] > 0 or t.right[0] > 0 for t in stage.trees):
        return None
    rects = [features[t.feature[0]] for t in stage.trees]
    first = np.cumsum([0] + [len(r) for r, _ in rects[:-1]])
    return StumpStage(
        threshold=stage.threshold,
        rects=np.concatenate([r for r, _ in rects]),
        weights=np.concatenate([w for _, w in rects]),
        first=first.astype(np.int64),
        split=np.array([t.threshold[0] for t in stage.trees]),
        below=np.array([t.leaves[-t.left[0]] for t in stage.trees]),
        above=np.array([t.leaves[-t.right[0]] for t in stage.trees]),
    )


@dataclass(frozen=True, slots=True)
class HaarCascade:
    """A boosted cascade of Haar features over a ``width`` x ``height`` window."""

    width: int
    height: int
    stages: tuple[Stage, ...]
    # Per feature: (rects (k, 4) int as x, y, w, h; weights (k,) float).
    features: tuple[tuple[np.ndarray, np.ndarray], ...]
    stumps: tuple[StumpStage | None, ...]  # per stage: its flat form, None for deeper trees
    source: str = "cascade"

    def detect(
        self,
        gray: np.ndarray,
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 3,
        min_size: tuple[int, int] = (0, 0),
        max_size: tuple[int, int] | None = None,
    ) -> np.ndarray:
        """Boxes ``(N, 4)`` int as x, y, w, h in ``gray``'s pixels (a 2-D uint8 image)."""
        if gray.ndim != 2:
            raise ValueError(f"{self.source}: detect needs a single-channel image, got shape {gray.shape}")
        if scale_factor <= 1.0:
            raise ValueError(f"scale_factor must be > 1, got {scale_factor}")
        h_img, w_img = gray.shape
        hits: list[np.ndarray] = []
        factor = 1.0
        while True:
            win_w, win_h = round(self.width * factor), round(self.height * factor)
            if win_w > w_img or win_h > h_img:
                break
            if max_size is not None and (win_w > max_size[0] or win_h > max_size[1]):
                break
            if win_w >= min_size[0] and win_h >= min_size[1]:
                size = (max(int(w_img / factor), self.width), max(int(h_img / factor), self.height))
                level = cv2.resize(gray, size, interpolation=cv2.INTER_LINEAR)
                # OpenCV's step: every other window on fine levels, every one on coarse ones.
                step = 1 if factor > 2.0 else 2
                xy = self._level_hits(level, step)
                if len(xy):
                    boxes = np.column_stack(
                        [np.round(xy * factor), np.full((len(xy), 2), (win_w, win_h))]
                    ).astype(np.int64)
                    hits.append(boxes)
            factor *= scale_factor
        if not hits:
            return np.zeros((0, 4), np.int64)
        return group_boxes(np.concatenate(hits), min_neighbors)

    def _level_hits(self, level: np.ndarray, step: int) -> np.ndarray:
        img = level.astype(np.float64)
        ii = np.zeros((img.shape[0] + 1, img.shape[1] + 1))
        ii[1:, 1:] = img.cumsum(0).cumsum(1)
        sq = np.zeros_like(ii)
        sq[1:, 1:] = (img * img).cumsum(0).cumsum(1)
        ys, xs = np.mgrid[0 : img.shape[0] - self.height + 1 : step, 0 : img.shape[1] - self.width + 1 : step]
        ys, xs = ys.ravel(), xs.ravel()

        def rect_sum(table: np.ndarray, y: np.ndarray, x: np.ndarray, r: np.ndarray) -> np.ndarray:
            x0, y0, w, h = (int(v) for v in r)
            y1, x1 = y + y0, x + x0
            return table[y1 + h, x1 + w] - table[y1, x1 + w] - table[y1 + h, x1] + table[y1, x1]

        # Variance normalisation over the window less a 1-pixel border (as OpenCV's normrect).
        norm = np.array([1, 1, self.width - 2, self.height - 2])
        area = float(norm[2] * norm[3])
        s, s2 = rect_sum(ii, ys, xs, norm), rect_sum(sq, ys, xs, norm)
        nf = area * s2 - s * s
        inv_nf = 1.0 / np.where(nf > 0, np.sqrt(np.maximum(nf, 0)), 1.0)

        stride = ii.shape[1]
        for stage, flat in zip(self.stages, self.stumps, strict=True):
            if flat is not None:
                keep = np.zeros(len(ys), bool)
                # Chunks bound the (windows x rectangles) gather to a few MB.
                for lo in range(0, len(ys), 4096):
                    base = (ys[lo : lo + 4096] * stride + xs[lo : lo + 4096])[:, None]
                    r = flat.rects
                    tl = r[:, 1] * stride + r[:, 0]
                    tr, bl = tl + r[:, 2], tl + r[:, 3] * stride
                    br = bl + r[:, 2]
                    sums = (
                        ii.ravel()[base + br]
                        - ii.ravel()[base + tr]
                        - ii.ravel()[base + bl]
                        + ii.ravel()[base + tl]
                    )
                    value = np.add.reduceat(sums * flat.weights, flat.first, axis=1)
                    value *= inv_nf[lo : lo + 4096, None]
                    total = np.where(value < flat.split, flat.below, flat.above).sum(axis=1)
                    keep[lo : lo + 4096] = total >= flat.threshold
                ys, xs, inv_nf = ys[keep], xs[keep], inv_nf[keep]
                if not len(ys):
                    break
                continue
            total = np.zeros(len(ys))
            for tree in stage.trees:
                node = np.zeros(len(ys), np.int64)
                leaf = np.full(len(ys), -1, np.int64)
                pending = np.ones(len(ys), bool)
                while pending.any():
                    for n in np.unique(node[pending]):
                        at = pending & (node == n)
                        rects, weights = self.features[tree.feature[n]]
                        y, x = ys[at], xs[at]
                        value = sum(w * rect_sum(ii, y, x, r) for r, w in zip(rects, weights, strict=True))
                        child = np.where(value * inv_nf[at] < tree.threshold[n], tree.left[n], tree.right[n])
                        done = child <= 0
                        idx = np.flatnonzero(at)
                        leaf[idx[done]] = -child[done]
                        node[idx[~done]] = child[~done]
                        pending[idx[done]] = False
                total += np.asarray(tree.leaves)[leaf]
            keep = total >= stage.threshold
            ys, xs, inv_nf = ys[keep], xs[keep], inv_nf[keep]
            if not len(ys):
                break
        return np.column_stack([xs, ys])


def group_boxes(boxes: np.ndarray, min_neighbors: int, eps: float = 0.2) -> np.ndarray:
    """OpenCV's ``groupRectangles``: cluster similar boxes, keep clusters with more than
    ``min_neighbors`` members, return each cluster's mean box (``(N, 4)`` x, y, w, h)."""
    n = len(boxes)
    parent = np.arange(n)

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    b = boxes.astype(np.float64)
    for i in range(n):
        # Similar: every edge within eps * mean of the smaller sides (vectorised against all j > i).
        delta = eps * (np.minimum(b[i, 2], b[i + 1 :, 2]) + np.minimum(b[i, 3], b[i + 1 :, 3])) * 0.5
        near = (
            (np.abs(b[i, 0] - b[i + 1 :, 0]) <= delta)
            & (np.abs(b[i, 1] - b[i + 1 :, 1]) <= delta)
            & (np.abs(b[i, 0] + b[i, 2] - b[i + 1 :, 0] - b[i + 1 :, 2]) <= delta)
            & (np.abs(b[i, 1] + b[i, 3] - b[i + 1 :, 1] - b[i + 1 :, 3]) <= delta)
        )
        for j in np.flatnonzero(near) + i + 1:
            ri, rj = root(i), root(int(j))
            if ri != rj:
                parent[rj] = ri
    labels = np.array([root(i) for i in range(n)])
    out = [
        b[labels == lab].mean(axis=0) for lab in np.unique(labels) if (labels == lab).sum() > min_neighbors
    ]
    return np.round(np.array(out)).astype(np.int64).reshape(-1, 4)


def find_cascade(name: str) -> Path | None:
    """The path of cascade file ``name`` in ``$ROADSIGHT_HAAR_DIR``, OpenCV's own data folder or
    :data:`CASCADE_DIRS`; None when it is nowhere."""
    dirs = [os.environ.get("ROADSIGHT_HAAR_DIR", "")]
    data = getattr(getattr(cv2, "data", None), "haarcascades", "")
    dirs += [str(data), *CASCADE_DIRS]
    for folder in dirs:
        if folder and (Path(folder) / name).is_file():
            return Path(folder) / name
    return None


def _numbers(node: ET.Element | None, where: str) -> list[float]:
    if node is None or node.text is None:
        raise CascadeError(f"{where}: missing")
    return [float(v) for v in node.text.split()]


def load_cascade(path: str | Path) -> HaarCascade:
    """Read an OpenCV HAAR cascade XML (the ``opencv_traincascade`` format)."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise CascadeError(f"{path}: not a readable cascade XML ({exc})") from None
    cascade = root.find("cascade")
    if cascade is None:
        raise CascadeError(f"{path}: no <cascade> element (old haarcascade2 format is not supported)")
    kind = (cascade.findtext("featureType") or "").strip()
    if kind != "HAAR":
        raise CascadeError(f"{path}: featureType {kind!r}, only HAAR is supported")
    width, height = int(cascade.findtext("width") or 0), int(cascade.findtext("height") or 0)
    stages = []
    for si, st in enumerate(cascade.iterfind("stages/_")):
        trees = []
        for ti, wc in enumerate(st.iterfind("weakClassifiers/_")):
            where = f"{path}: stage {si} weak classifier {ti}"
            nodes = _numbers(wc.find("internalNodes"), f"{where}: internalNodes")
            if len(nodes) % 4:
                raise CascadeError(f"{where}: internalNodes is not a list of 4-tuples")
            quads = [nodes[i : i + 4] for i in range(0, len(nodes), 4)]
            trees.append(
                WeakTree(
                    left=tuple(int(q[0]) for q in quads),
                    right=tuple(int(q[1]) for q in quads),
                    feature=tuple(int(q[2]) for q in quads),
                    threshold=tuple(q[3] for q in quads),
                    leaves=tuple(_numbers(wc.find("leafValues"), f"{where}: leafValues")),
                )
            )
        stages.append(Stage(float(st.findtext("stageThreshold") or "nan"), tuple(trees)))
    features = []
    for fi, ft in enumerate(cascade.iterfind("features/_")):
        if (ft.findtext("tilted") or "0").strip() == "1":
            raise CascadeError(f"{path}: feature {fi} is tilted; only upright Haar features are supported")
        rows = [_numbers(r, f"{path}: feature {fi} rect") for r in ft.iterfind("rects/_")]
        arr = np.array(rows, np.float64).reshape(-1, 5)
        features.append((arr[:, :4].astype(np.int64), arr[:, 4]))
    if not stages or not features or width <= 2 or height <= 2:
        raise CascadeError(f"{path}: empty cascade (stages {len(stages)}, features {len(features)})")
    stumps = tuple(_stump_stage(st, features) for st in stages)
    return HaarCascade(width, height, tuple(stages), tuple(features), stumps, source=str(path))
