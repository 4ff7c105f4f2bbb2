"""NumPy class-aware NMS against torchvision.ops.batched_nms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from detect.nms import box_iou, nms


def _random_detections(seed: int, n: int, n_classes: int, size: float = 640.0) -> tuple[np.ndarray, ...]:
    """Clustered random boxes (so that many overlap), distinct scores, random classes."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform(0, size, (max(n // 8, 1), 2))
    xy = centres[rng.integers(len(centres), size=n)] + rng.normal(0, 8, (n, 2))
    wh = rng.uniform(5, 80, (n, 2))
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1).astype(np.float32)
    scores = rng.permutation(n).astype(np.float32) / n + rng.uniform(0, 1e-4, n).astype(np.float32)
    classes = rng.integers(0, n_classes, n)
    return boxes, scores, classes


def _torchvision(
    boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float, max_det: int
) -> np.ndarray:
    keep = torchvision.ops.batched_nms(
        torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(classes), iou
    )
    return keep.numpy()[:max_det]


@pytest.mark.parametrize(
    ("seed", "n", "n_classes", "iou", "block"),
    [
        (0, 50, 1, 0.45, 512),
        (1, 400, 3, 0.45, 512),
        (2, 2000, 5, 0.5, 512),  # several blocks
        (3, 700, 28, 0.7, 64),  # small blocks: many cross-block suppressions
        (4, 300, 2, 0.1, 17),  # aggressive threshold, odd block size
        (5, 1500, 1, 0.6, 256),
    ],
)
def test_matches_torchvision_batched_nms(seed: int, n: int, n_classes: int, iou: float, block: int) -> None:
    boxes, scores, classes = _random_detections(seed, n, n_classes)
    expected = _torchvision(boxes, scores, classes, iou, max_det=10**9)
    ours = nms(boxes, scores, classes, iou, max_det=10**9, block=block)
    assert 0 < len(expected) < n, "the case should suppress some boxes and keep some"
    np.testing.assert_array_equal(ours, expected)


def test_max_det_keeps_the_best_boxes() -> None:
    boxes, scores, classes = _random_detections(7, 1000, 4)
    expected = _torchvision(boxes, scores, classes, 0.5, max_det=25)
    np.testing.assert_array_equal(nms(boxes, scores, classes, 0.5, max_det=25, block=8), expected)


def test_classes_do_not_suppress_each_other() -> None:
    boxes = np.array([[0, 0, 10, 10]] * 3, np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert nms(boxes, scores, np.array([0, 0, 0]), 0.5).tolist() == [0]
    assert nms(boxes, scores, np.array([0, 1, 2]), 0.5).tolist() == [0, 1, 2]


def test_greedy_chain_is_resolved_exactly() -> None:
    # a suppresses b, b would suppress c, but b is gone, so c survives (Fast-NMS would drop c).
    boxes = np.array([[0, 0, 10, 10], [4, 0, 14, 10], [8, 0, 18, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    assert nms(boxes, scores, np.zeros(3, int), 0.4).tolist() == [0, 2]


def test_empty_and_degenerate_input() -> None:
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int), 0.5).size == 0
    zero_area = np.array([[5, 5, 5, 5], [5, 5, 5, 5]], np.float32)  # IoU is 0/0: never suppresses
    assert nms(zero_area, np.array([0.9, 0.8], np.float32), np.zeros(2, int), 0.5).tolist() == [0, 1]


def test_box_iou_matches_torchvision() -> None:
    a, _, _ = _random_detections(8, 40, 1)
    b, _, _ = _random_detections(9, 30, 1)
    expected = torchvision.ops.box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(box_iou(a, b), expected, rtol=1e-5, atol=1e-6)
