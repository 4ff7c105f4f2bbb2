"""Letterbox geometry and pre-processing: same pixels as Ultralytics, boxes round-trip exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ultralytics.data.augment import LetterBox
from ultralytics.utils.ops import scale_boxes

from detect import DetectError
from detect.letterbox import PAD_VALUE, LetterboxGeometry
from detect.preprocess import InputBatcher

# (frame h, w) -> (input h, w): landscape, portrait, odd sizes, upscaling, identity, extreme aspect.
CASES = [
    ((720, 1280), (640, 640)),
    ((1080, 1920), (384, 640)),
    ((300, 200), (128, 192)),
    ((97, 131), (160, 160)),
    ((33, 501), (64, 96)),
    ((640, 640), (640, 640)),
    ((5, 2000), (320, 320)),
]


def _random_boxes(rng: np.random.Generator, hw: tuple[int, int], n: int = 50) -> np.ndarray:
    h, w = hw
    xy = rng.uniform(0, [w, h], size=(n, 2))
    wh = rng.uniform(0, [w, h], size=(n, 2))
    return np.concatenate([xy, np.minimum(xy + wh, [w, h])], axis=1).astype(np.float32)


@pytest.mark.parametrize(("frame_hw", "input_hw"), CASES)
def test_letterboxed_pixels_equal_ultralytics(frame_hw: tuple[int, int], input_hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (*frame_hw, 3), dtype=np.uint8)
    expected = np.asarray(LetterBox(input_hw, auto=False, stride=32)(image=image))
    canvas = np.zeros((*input_hw, 3), np.uint8)
    LetterboxGeometry.fit(frame_hw, input_hw).draw(image, canvas)
    np.testing.assert_array_equal(canvas, expected)


@pytest.mark.parametrize(("frame_hw", "input_hw"), CASES)
def test_boxes_map_back_like_ultralytics_scale_boxes(
    frame_hw: tuple[int, int], input_hw: tuple[int, int]
) -> None:
    rng = np.random.default_rng(1)
    in_boxes = _random_boxes(rng, input_hw)
    expected = np.asarray(scale_boxes(input_hw, torch.from_numpy(in_boxes.copy()), frame_hw))
    ours = LetterboxGeometry.fit(frame_hw, input_hw).boxes_to_frame(in_boxes.copy())
    np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize(("frame_hw", "input_hw"), CASES)
def test_boxes_round_trip(frame_hw: tuple[int, int], input_hw: tuple[int, int]) -> None:
    rng = np.random.default_rng(2)
    boxes = _random_boxes(rng, frame_hw)
    geometry = LetterboxGeometry.fit(frame_hw, input_hw)
    in_input = geometry.boxes_to_input(boxes)
    # inside the resized window of the input, never in the padding
    top, left = geometry.pad_top, geometry.pad_left
    new_h, new_w = geometry.resized_hw
    assert in_input[:, 0::2].min() >= left - 1e-3 and in_input[:, 0::2].max() <= left + new_w + 1e-3
    assert in_input[:, 1::2].min() >= top - 1e-3 and in_input[:, 1::2].max() <= top + new_h + 1e-3
    back = geometry.boxes_to_frame(in_input)
    np.testing.assert_allclose(back, boxes, rtol=1e-6, atol=1e-3)


def test_drawn_rectangle_lands_where_the_box_maps() -> None:
    frame = np.zeros((300, 500, 3), np.uint8)
    frame[100:200, 250:400] = 255  # box x1=250, y1=100, x2=400, y2=200
    geometry = LetterboxGeometry.fit(frame.shape[:2], (320, 320))
    canvas = np.empty((320, 320, 3), np.uint8)
    geometry.draw(frame, canvas)
    [(x1, y1, x2, y2)] = geometry.boxes_to_input(np.array([[250, 100, 400, 200]], np.float32))
    ys, xs = np.nonzero(canvas[..., 0] > 128)
    assert abs(xs.min() - x1) <= 1 and abs(xs.max() + 1 - x2) <= 1
    assert abs(ys.min() - y1) <= 1 and abs(ys.max() + 1 - y2) <= 1
    assert (canvas[: geometry.pad_top] == PAD_VALUE).all()
    assert (canvas[geometry.pad_top + geometry.resized_hw[0] :] == PAD_VALUE).all()


def test_boxes_outside_the_frame_are_clipped() -> None:
    geometry = LetterboxGeometry.fit((100, 200), (64, 64))
    boxes = np.array([[-50, -50, 500, 500]], np.float32)
    np.testing.assert_allclose(geometry.boxes_to_frame(boxes), [[0, 0, 200, 100]])


def test_input_tensor_is_rgb_nchw_scaled_and_buffers_are_reused() -> None:
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (48, 80, 3), dtype=np.uint8), rng.integers(0, 256, (90, 30, 3), np.uint8)]
    batcher = InputBatcher((64, 64))
    blob, geometries = batcher.prepare(frames)
    assert blob.shape == (2, 3, 64, 64) and blob.dtype == np.float32 and blob.flags.c_contiguous
    for i, frame in enumerate(frames):
        letterboxed = np.asarray(LetterBox((64, 64), auto=False)(image=frame))
        expected = letterboxed[..., ::-1].transpose(2, 0, 1) / np.float32(255)
        np.testing.assert_array_equal(blob[i], expected)
    assert geometries[1].resized_hw == (64, 21)
    again, _ = batcher.prepare(frames[:1])
    assert np.shares_memory(again, blob)  # steady state allocates no new tensor


def test_static_batch_pads_the_tensor() -> None:
    blob, geometries = InputBatcher((32, 32)).prepare([np.zeros((10, 10, 3), np.uint8)], batch_size=4)
    assert blob.shape == (4, 3, 32, 32) and len(geometries) == 1


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((10, 10), np.uint8), "shape"),
        (np.zeros((10, 10, 4), np.uint8), "shape"),
        (np.zeros((10, 10, 3), np.float32), "uint8"),
        (np.zeros((0, 10, 3), np.uint8), "shape"),
        ([[1, 2, 3]], "NumPy array"),
    ],
)
def test_bad_frames_are_named_by_index(bad: object, message: str) -> None:
    good = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(DetectError, match=rf"images\[1\].*{message}"):
        InputBatcher((32, 32)).prepare([good, bad])  # type: ignore[list-item]
