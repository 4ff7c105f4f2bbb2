"""Procedural noise and irregular shapes, all vectorised (OpenCV resizes, NumPy maths).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> fractal_noise((40, 60), rng, cell_px=16).shape
    (40, 60)
    >>> blob_polygon(rng, 1.0, 0.5).shape
    (48, 2)
"""

from __future__ import annotations

import cv2
import numpy as np


def value_noise(shape: tuple[int, int], rng: np.random.Generator, cell_px: float) -> np.ndarray:
    """Smooth noise in [-1, 1] with features about ``cell_px`` pixels wide (float32)."""
    h, w = shape
    gh = max(2, int(np.ceil(h / cell_px)) + 2)
    gw = max(2, int(np.ceil(w / cell_px)) + 2)
    grid = rng.uniform(-1.0, 1.0, size=(gh, gw)).astype(np.float32)
    big = cv2.resize(grid, (int(gw * cell_px), int(gh * cell_px)), interpolation=cv2.INTER_CUBIC)
    return np.asarray(big[:h, :w], dtype=np.float32)


def fractal_noise(
    shape: tuple[int, int], rng: np.random.Generator, cell_px: float, octaves: int = 4, gain: float = 0.5
) -> np.ndarray:
    """Sum of ``octaves`` value-noise layers (each half the size of the last), roughly in [-1, 1]."""
    out = np.zeros(shape, dtype=np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        if cell_px < 1.5:
            break
        out += amp * value_noise(shape, rng, cell_px)
        total += amp
        amp *= gain
        cell_px /= 2.0
    return out / max(total, 1e-6)


def blob_polygon(
    rng: np.random.Generator, rx: float, ry: float, *, n: int = 48, roughness: float = 0.2, harmonics: int = 6
) -> np.ndarray:
    """Irregular closed outline ``(n, 2)`` around (0, 0) with semi-axes about ``rx``, ``ry``.

    The radius is modulated by a few random Fourier harmonics, so outlines look
    like worn asphalt edges rather than ellipses.
    """
    theta = np.linspace(0.0, 2 * np.pi, n, endpoint=False)
    k = np.arange(2, 2 + harmonics)[:, None]
    amps = rng.normal(0.0, roughness, size=(harmonics, 1)) / np.sqrt(k - 1)
    phases = rng.uniform(0, 2 * np.pi, size=(harmonics, 1))
    mod = 1.0 + (amps * np.sin(k * theta[None, :] + phases)).sum(axis=0)
    mod = np.clip(mod, 0.55, 1.4)
    mod /= mod.max()  # the semi-axes are the largest extents, so sizes stay in range
    return np.column_stack([rx * mod * np.cos(theta), ry * mod * np.sin(theta)])


def random_walk(
    rng: np.random.Generator, length: float, step: float, heading: float, wiggle: float = 0.25
) -> np.ndarray:
    """Polyline ``(n, 2)`` from (0, 0): a persistent random walk, like a crack.

    ``heading`` is the mean direction in radians (in the x-y plane, x first).
    """
    n = max(2, int(length / step))
    turn = np.cumsum(rng.normal(0.0, wiggle, size=n))
    turn -= np.linspace(0.0, turn[-1], n)  # keep the mean direction
    ang = heading + 0.6 * turn + rng.normal(0.0, wiggle * 0.7, size=n)
    steps = step * np.column_stack([np.cos(ang), np.sin(ang)])
    return np.vstack([[0.0, 0.0], np.cumsum(steps, axis=0)])


def rotate(points: np.ndarray, angle_rad: float) -> np.ndarray:
    """Rotate ``(n, 2)`` points counter-clockwise by ``angle_rad`` about the origin."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    return np.asarray(points @ np.array([[c, s], [-s, c]]))


def displace(mask: np.ndarray, rng: np.random.Generator, amount_px: float, cell_px: float) -> np.ndarray:
    """Warp an image by a smooth random displacement field (wiggles straight lines)."""
    h, w = mask.shape[:2]
    dx = value_noise((h, w), rng, cell_px) * amount_px
    dy = value_noise((h, w), rng, cell_px) * amount_px
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(mask, gx + dx, gy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
