"""Painting helpers shared by the object painters: an object frame and float crops of the ortho.

An object is drawn in its own frame in metres: ``u`` along the road, ``v`` to
the right of the road. :class:`PaintContext` converts those to ortho pixels and
hands out :class:`Crop` s (float32 copies of a small window) that are written
back with :meth:`Crop.commit`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from hardware.sim.ortho import OrthoFrame

_SHIFT = 3


@dataclass(slots=True)
class Crop:
    """A float32 BGR copy of ``image[y0:y1, x0:x1]``; helpers take full-ortho pixel coordinates."""

    image: np.ndarray
    x0: int
    y0: int
    x1: int
    y1: int
    img: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.img = self.image[self.y0 : self.y1, self.x0 : self.x1].astype(np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.y1 - self.y0, self.x1 - self.x0)

    def _local(self, px: np.ndarray) -> np.ndarray:
        pts = (np.asarray(px, dtype=np.float64) - [self.x0, self.y0]) * (1 << _SHIFT)
        return np.round(pts).astype(np.int32).reshape(-1, 1, 2)

    def mask(self, px: np.ndarray, blur_px: float = 0.0) -> np.ndarray:
        """Anti-aliased coverage (0..1, float32) of a polygon, optionally blurred."""
        m = np.zeros(self.shape, np.uint8)
        cv2.fillPoly(m, [self._local(px)], 255, lineType=cv2.LINE_AA, shift=_SHIFT)
        out = m.astype(np.float32) / 255.0
        return cv2.GaussianBlur(out, (0, 0), blur_px) if blur_px > 0.3 else out

    def lines(self, polylines: list[np.ndarray], thickness_px: float, closed: bool = False) -> np.ndarray:
        """Anti-aliased coverage (0..1, float32) of polylines; thin lines are drawn faint, not fat."""
        m = np.zeros(self.shape, np.uint8)
        th = max(1, round(thickness_px))
        level = 255 if thickness_px >= 1 else int(255 * max(thickness_px, 0.3))
        cv2.polylines(m, [self._local(p) for p in polylines], closed, level, th, cv2.LINE_AA, _SHIFT)
        return m.astype(np.float32) / 255.0

    def coords(self) -> tuple[np.ndarray, np.ndarray]:
        """Full-ortho pixel coordinate grids (x, y) of the crop, float32."""
        ys, xs = np.mgrid[self.y0 : self.y1, self.x0 : self.x1]
        return xs.astype(np.float32), ys.astype(np.float32)

    def blend(self, colour: np.ndarray, alpha: np.ndarray) -> None:
        """``img = img * (1 - alpha) + colour * alpha``; colour is BGR (3,) or an image."""
        a = alpha[..., None]
        self.img = self.img * (1.0 - a) + np.asarray(colour, np.float32) * a

    def darken(self, amount: np.ndarray) -> None:
        """Multiply by ``1 - amount`` (amount 0..1)."""
        self.img *= (1.0 - np.clip(amount, 0.0, 1.0))[..., None]

    def commit(self) -> None:
        self.image[self.y0 : self.y1, self.x0 : self.x1] = np.clip(self.img, 0, 255).astype(np.uint8)


@dataclass(slots=True)
class PaintContext:
    """Where and how to paint one object: its centre and road axes, plus the sun for shadows."""

    image: np.ndarray
    frame: OrthoFrame
    centre: np.ndarray  # local metres
    along: np.ndarray  # unit vector along the road (local)
    right: np.ndarray  # unit vector to the right of the road (local)
    shadow_dir: np.ndarray  # unit vector (local) in which shadows fall
    rng: np.random.Generator

    @property
    def px_per_m(self) -> float:
        return 1.0 / self.frame.gsd

    def to_local(self, uv: np.ndarray) -> np.ndarray:
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        return np.asarray(self.centre + uv[:, :1] * self.along + uv[:, 1:] * self.right)

    def to_px(self, uv: np.ndarray) -> np.ndarray:
        return self.frame.to_px(self.to_local(uv))

    def shadow_uv(self, length_m: float) -> np.ndarray:
        """Shadow offset in the object frame for something ``length_m`` tall-ish."""
        return np.array([self.shadow_dir @ self.along, self.shadow_dir @ self.right]) * length_m

    def shadow_px(self, height_m: float) -> np.ndarray:
        """Ortho-pixel offset ``(2,)`` of the shadow of a point ``height_m`` above the ground."""
        ends = self.frame.to_px(np.vstack([self.centre, self.centre + self.shadow_dir * height_m]))
        return np.asarray(ends[1] - ends[0])

    def crop(self, uv: np.ndarray, margin_m: float = 0.3) -> Crop:
        px = self.to_px(uv)
        m = margin_m * self.px_per_m + 2
        h, w = self.image.shape[:2]
        x0 = int(max(0, np.floor(px[:, 0].min() - m)))
        y0 = int(max(0, np.floor(px[:, 1].min() - m)))
        x1 = int(min(w, np.ceil(px[:, 0].max() + m)))
        y1 = int(min(h, np.ceil(px[:, 1].max() + m)))
        return Crop(self.image, x0, y0, max(x1, x0 + 1), max(y1, y0 + 1))

    def local_mean(self, crop: Crop) -> np.ndarray:
        """Median colour of the crop (the surrounding surface), BGR float32."""
        return np.asarray(np.median(crop.img.reshape(-1, 3), axis=0), dtype=np.float32)


def shifted(mask: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """Translate a mask by (dx, dy) pixels (sub-pixel), zero fill."""
    M = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy]], dtype=np.float32)
    return cv2.warpAffine(mask, M, (mask.shape[1], mask.shape[0]), flags=cv2.INTER_LINEAR)
