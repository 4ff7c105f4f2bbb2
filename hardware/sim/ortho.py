"""The orthophoto raster frame: an affine map between ortho pixels and local metres.

The raster is aligned with the road's chord (columns run along the road, rows
to its right), so a long diagonal road does not need a huge axis-aligned image.
Pixel ``(col, row)`` means the pixel *centre* (OpenCV convention).

Example:
    >>> import numpy as np
    >>> fr = OrthoFrame.aligned(0.0, gsd=0.5, x_range=(0.0, 10.0), y_range=(-2.0, 2.0), origin=(0.0, 0.0))
    >>> fr.to_local(np.array([[0.0, 0.0]])).tolist()  # heading north: columns go north, rows go east
    [[-2.0, 0.0]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class OrthoFrame:
    """``width`` x ``height`` pixels of ``gsd`` metres; ``px_to_local`` is a 3x3 affine matrix."""

    gsd: float
    width: int
    height: int
    px_to_local: np.ndarray

    @classmethod
    def aligned(
        cls,
        heading_rad: float,
        gsd: float,
        x_range: tuple[float, float],
        y_range: tuple[float, float],
        origin: tuple[float, float],
    ) -> OrthoFrame:
        """Frame whose columns run along ``heading_rad`` from ``origin``.

        ``x_range`` is the along-heading extent and ``y_range`` the extent to the
        right of the heading, both in metres relative to ``origin``.
        """
        a = np.array([math.sin(heading_rad), math.cos(heading_rad)])  # along
        n = np.array([math.cos(heading_rad), -math.sin(heading_rad)])  # right
        width = math.ceil((x_range[1] - x_range[0]) / gsd)
        height = math.ceil((y_range[1] - y_range[0]) / gsd)
        corner = np.asarray(origin) + x_range[0] * a + y_range[0] * n
        A = np.array(
            [[gsd * a[0], gsd * n[0], corner[0]], [gsd * a[1], gsd * n[1], corner[1]], [0.0, 0.0, 1.0]]
        )
        return cls(gsd=gsd, width=width, height=height, px_to_local=A)

    @property
    def local_to_px(self) -> np.ndarray:
        return np.asarray(np.linalg.inv(self.px_to_local))

    def to_px(self, xy: np.ndarray) -> np.ndarray:
        """Local metres ``(n, 2)`` to ortho pixel coordinates ``(n, 2)``."""
        A = self.local_to_px
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        return np.asarray(pts @ A[:2, :2].T + A[:2, 2])

    def to_local(self, px: np.ndarray) -> np.ndarray:
        """Ortho pixel coordinates ``(n, 2)`` to local metres ``(n, 2)``."""
        A = self.px_to_local
        pts = np.asarray(px, dtype=np.float64).reshape(-1, 2)
        return np.asarray(pts @ A[:2, :2].T + A[:2, 2])

    def level_px_to_local(self, level: int) -> np.ndarray:
        """Affine map for pyramid level ``level`` (each level halves the size, ``cv2.pyrDown``).

        ``cv2.pyrDown`` blurs and keeps every even pixel, so pixel ``i`` of level
        ``L`` is centred on pixel ``i * 2**L`` of level 0.
        """
        k = float(2**level)
        S = np.array([[k, 0.0, 0.0], [0.0, k, 0.0], [0.0, 0.0, 1.0]])
        return np.asarray(self.px_to_local @ S)
