"""Frames to the model's input tensor: letterbox, BGR->RGB, /255, NCHW, in reused buffers.

Matches Ultralytics' ``BasePredictor.preprocess`` for ``uint8`` BGR frames:
letterbox each frame, flip the channels to RGB, divide by 255 in float32.
The letterboxed ``uint8`` canvas and the float tensor are kept between calls
(grown when a larger batch arrives), so steady-state inference allocates
nothing here.

Example:
    >>> batcher = InputBatcher((64, 96))
    >>> blob, geoms = batcher.prepare([np.zeros((48, 48, 3), np.uint8)])
    >>> blob.shape, geoms[0].pad_left
    ((1, 3, 64, 96), 16)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from detect.errors import DetectError
from detect.letterbox import LetterboxGeometry


def check_frame(image: Any, index: int) -> np.ndarray:
    """Return ``image`` if it is ``H x W x 3 uint8``, else raise :class:`DetectError` naming ``index``."""
    if not isinstance(image, np.ndarray):
        raise DetectError(f"images[{index}]: expected a NumPy array, got {type(image).__name__}")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape:
        raise DetectError(
            f"images[{index}]: expected an H x W x 3 uint8 BGR image, "
            f"got shape {image.shape} dtype {image.dtype}"
        )
    return image


class InputBatcher:
    """Builds ``(n, 3, H, W)`` input tensors for a fixed model input size, reusing its buffers."""

    def __init__(self, input_hw: tuple[int, int], dtype: type[np.floating[Any]] = np.float32) -> None:
        self.input_hw = input_hw
        self.dtype = dtype
        self._canvas = np.empty((0, *input_hw, 3), np.uint8)
        self._blob = np.empty((0, 3, *input_hw), dtype)

    def _reserve(self, n: int) -> None:
        if n > len(self._canvas):
            self._canvas = np.empty((n, *self.input_hw, 3), np.uint8)
            self._blob = np.empty((n, 3, *self.input_hw), self.dtype)

    def prepare(
        self, images: Sequence[np.ndarray], batch_size: int | None = None, first_index: int = 0
    ) -> tuple[np.ndarray, list[LetterboxGeometry]]:
        """Letterbox ``images`` into the input tensor.

        ``batch_size`` (>= ``len(images)``) pads the tensor for static-batch models; the padding rows hold
        stale data whose outputs the caller drops. ``first_index`` only numbers frames in error messages.
        The returned tensor is a view on the reused buffer: valid until the next call.
        """
        n = len(images)
        total = max(n, batch_size or 0)
        self._reserve(total)
        geometries: list[LetterboxGeometry] = []
        for i, image in enumerate(images):  # per frame: OpenCV does the pixel work
            check_frame(image, first_index + i)
            geometry = LetterboxGeometry.fit(image.shape[:2], self.input_hw)
            geometry.draw(image, self._canvas[i])
            geometries.append(geometry)
        blob = self._blob[:total]
        # One pass: BGR->RGB flip, HWC->CHW and /255, written straight into the reused tensor.
        np.divide(self._canvas[:total, :, :, ::-1].transpose(0, 3, 1, 2), np.float32(255), out=blob)
        return blob, geometries
