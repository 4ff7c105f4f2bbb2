"""Tiled inference on a 4K drone frame: small objects found in tiles, seam objects reported once."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from detect import OnnxDetector
from detect.nms import box_iou
from detect.tiling import TiledDetector, merge_tiled, tile_rects
from detect.types import Detections

STARTER = Path(__file__).resolve().parents[1] / "detect/models/roadsight-starter.onnx"
CELL_HW = (540, 960)  # a 1080p sim frame at half size; 4 x 4 cells make a 3840 x 2160 frame
GRID = 4
NATIVE_CONF = 0.5  # objects the model finds at native 1080p with at least this score are the reference


def test_tiles_cover_the_frame_with_overlap_and_end_flush() -> None:
    rects = tile_rects((2160, 3840), (960, 960), 0.2)
    assert rects[:, 0].max() + 960 == 3840 and rects[:, 1].max() + 960 == 2160
    xs = np.unique(rects[:, 0])
    assert (np.diff(xs) <= 768).all()  # neighbours share at least 20 %
    assert tile_rects((500, 600), (960, 960), 0.2).tolist() == [[0, 0, 600, 500]]


def test_truncated_pieces_join_the_complete_box_and_nested_objects_stay_apart() -> None:
    det = Detections.from_arrays(
        np.array(
            [
                [100, 100, 160, 140],  # complete view of an object (from the tile that holds it whole)
                [100, 100, 130, 140],  # left piece of the same object, cut at the seam x = 130: higher score
                [300, 300, 400, 400],  # a large patch ...
                [320, 320, 350, 350],  # ... with a smaller patch inside it: two objects, both complete
                [500, 100, 540, 140],  # an object only seen in two pieces (no tile holds it whole): the left
                [510, 100, 560, 140],  # tile ends at x = 540, the right one starts at 510
            ]
        ),
        np.array([0.6, 0.9, 0.8, 0.7, 0.5, 0.55]),
        np.array([4, 4, 8, 8, 4, 4]),
    )
    truncated = np.array([False, True, False, False, True, True])
    merged, still_truncated = merge_tiled(det, truncated, iou=0.5, ios=0.6)
    boxes = {tuple(b) for b in merged.xyxy.round().astype(int).tolist()}
    assert boxes == {(100, 100, 160, 140), (300, 300, 400, 400), (320, 320, 350, 350), (500, 100, 560, 140)}
    assert still_truncated.sum() == 1


@pytest.fixture(scope="module")
def sim_cells() -> list[np.ndarray]:
    from hardware.sim.generate import plan_mission

    plan = plan_mission("drone_sample", 0)
    n = len(plan.frames.t)
    return [plan.render_frame(int(i)) for i in np.linspace(0, n - 1, GRID * GRID)]


def _mosaic(cells: list[np.ndarray]) -> np.ndarray:
    ch, cw = CELL_HW
    frame = np.empty((GRID * ch, GRID * cw, 3), np.uint8)
    for k, cell in enumerate(cells):
        r, c = divmod(k, GRID)
        frame[r * ch : (r + 1) * ch, c * cw : (c + 1) * cw] = cv2.resize(
            cell, (cw, ch), interpolation=cv2.INTER_AREA
        )
    return frame


def _found(truth_xyxy: np.ndarray, truth_cls: np.ndarray, det: Detections) -> np.ndarray:
    """Per reference box: does ``det`` hold a same-class box with IoU >= 0.5?"""
    if not len(det) or not len(truth_xyxy):
        return np.zeros(len(truth_xyxy), bool)
    iou = box_iou(truth_xyxy.astype(np.float32), det.xyxy)
    iou[truth_cls[:, None] != det.class_id[None, :]] = 0
    return iou.max(axis=1) >= 0.5


@pytest.mark.skipif(not STARTER.is_file(), reason="starter model missing")
def test_4k_frame_small_objects_found_by_tiles_and_seam_object_reported_once(
    sim_cells: list[np.ndarray],
) -> None:
    detector = OnnxDetector(STARTER, conf=0.3)
    # Reference: what the model finds in each 1080p frame at its native scale (a 960 px input).
    native = detector.detect(sim_cells)
    ch, cw = CELL_HW
    truth_xyxy, truth_cls = [], []
    for k, d in enumerate(native):
        r, c = divmod(k, GRID)
        sure = d.confidence >= NATIVE_CONF
        truth_xyxy.append(d.xyxy[sure] * 0.5 + np.array([c * cw, r * ch] * 2, np.float32))
        truth_cls.append(d.class_id[sure])
    xyxy, cls = np.concatenate(truth_xyxy), np.concatenate(truth_cls)
    assert len(xyxy) >= 8, "too few reference objects in the sim frames to compare"
    frame = _mosaic(sim_cells)
    assert frame.shape == (2160, 3840, 3)

    tiled = TiledDetector(detector, tile=(960, 960), overlap=0.2)
    [by_tiles] = tiled.detect([frame])
    [whole] = detector.detect([frame])  # the 4K frame shrunk 4x into the 960 px input
    found_tiles, found_whole = _found(xyxy, cls, by_tiles), _found(xyxy, cls, whole)
    counts = f"of {len(xyxy)}: tiles found {found_tiles.sum()}, the whole frame {found_whole.sum()}"
    assert found_tiles.mean() >= 0.7, counts
    assert (found_tiles & ~found_whole).sum() >= 3, (
        "tiling should find small objects that the whole frame misses"
    )
    assert found_whole.mean() < found_tiles.mean(), counts

    # Shift the frame so that the surest small object straddles the right border of the first tile column
    # (x = 960; the next column starts at 768, so that tile holds it whole): it must be reported once.
    k = int(
        np.argmax(
            np.where(
                found_tiles, np.concatenate([n.confidence[n.confidence >= NATIVE_CONF] for n in native]), -1
            )
        )
    )
    x1, y1, x2, y2 = xyxy[k]
    assert x2 - x1 < 150, "the reference object should fit in the tile overlap"
    shift = int(np.rint(960 - (x1 + x2) / 2))
    rolled = np.roll(frame, shift, axis=1)
    target = np.array([[x1 + shift, y1, x2 + shift, y2]], np.float32)
    [seam] = TiledDetector(detector, tile=(960, 960), overlap=0.2, include_full_frame=False).detect([rolled])
    same = seam[seam.class_id == cls[k]]
    overlapping = box_iou(target, same.xyxy)[0] > 0.1
    assert overlapping.sum() == 1, f"seam object reported {overlapping.sum()} times: {same.xyxy[overlapping]}"
    assert box_iou(target, same.xyxy[overlapping])[0, 0] >= 0.5
