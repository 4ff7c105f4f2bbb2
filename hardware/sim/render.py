"""Render a camera view of the flat world by warping the orthophoto through the exact ground homography.

Each output pixel samples the ortho pyramid level whose pixel size best matches
the ground footprint of that image pixel (no aliasing far away); rays at or
above the horizon get sky, never a wrapped-around ground.

Example:
    >>> from hardware.sim.world import WorldSpec, build_world
    >>> from hardware.sim.road import RoadSpec
    >>> world = build_world(WorldSpec(road=RoadSpec(length_m=20.0, verge_m=1.0), gsd=0.05,
    ...                               objects_per_class={}, n_distractors=0), seed=1)
    >>> K = np.array([[300.0, 0, 160], [0, 300.0, 90], [0, 0, 1]])
    >>> render_view(world, K, CameraPose(0.0, 0.0, 10.0, 0.0, -90.0), 320, 180).shape
    (180, 320, 3)
"""

from __future__ import annotations

import cv2
import numpy as np

from hardware.sim.camera import CameraPose, camera_axes, ground_to_image_homography
from hardware.sim.world import World

SKY_TOP = np.array([205.0, 170.0, 140.0], np.float32)  # BGR
SKY_HORIZON = np.array([225.0, 215.0, 205.0], np.float32)
MAX_LEVEL = 6
HAZE_START_M = 25.0  # ground nearer than this shows no aerial perspective
_GRID = 16  # pixels between samples of the level map


def _ray_down(K: np.ndarray, pose: CameraPose, width: int, height: int, step: int = 1) -> np.ndarray:
    """Vertical (z) component of each pixel's ray; negative means it hits the ground."""
    axes = camera_axes(pose.yaw_deg, pose.pitch_deg, pose.roll_deg)
    u = (np.arange(0, width, step, dtype=np.float32) - K[0, 2]) / K[0, 0]
    v = (np.arange(0, height, step, dtype=np.float32) - K[1, 2]) / K[1, 1]
    return np.asarray(u[None, :] * axes[2, 0] + v[:, None] * axes[2, 1] + axes[2, 2], dtype=np.float32)


def _level_map(img_to_ortho: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pyramid level per grid cell from the local area scale of the image->ortho map."""
    us = np.arange(0, width + _GRID, _GRID, dtype=np.float64)
    vs = np.arange(0, height + _GRID, _GRID, dtype=np.float64)
    gu, gv = np.meshgrid(us, vs)
    pts = np.stack([gu, gv, np.ones_like(gu)], axis=-1)

    def to_ortho(p: np.ndarray) -> np.ndarray:
        h = p @ img_to_ortho.T
        w = np.where(np.abs(h[..., 2]) < 1e-12, 1e-12, h[..., 2])
        return np.asarray(h[..., :2] / w[..., None])

    o = to_ortho(pts)
    du = to_ortho(pts + np.array([1.0, 0.0, 0.0])) - o
    dv = to_ortho(pts + np.array([0.0, 1.0, 0.0])) - o
    area = np.abs(du[..., 0] * dv[..., 1] - du[..., 1] * dv[..., 0])
    scale = np.sqrt(np.maximum(area, 1e-12))
    level = np.floor(np.log2(np.maximum(scale, 1.0)) + 0.25)
    return np.clip(np.nan_to_num(level, nan=MAX_LEVEL), 0, MAX_LEVEL).astype(np.int32)


def _fill_colour(world: World) -> tuple[float, ...]:
    """Colour for ground outside the orthophoto: the median of the whole corridor."""
    key = "_fill_colour"
    cached = world.__dict__.get(key)
    if cached is None:
        cached = tuple(float(c) for c in np.median(world.pyramid(MAX_LEVEL).reshape(-1, 3), axis=0))
        world.__dict__[key] = cached
    return tuple(cached)


def render_view(world: World, K: np.ndarray, pose: CameraPose, width: int, height: int) -> np.ndarray:
    """``height x width`` BGR image of the world seen from ``pose`` with pinhole intrinsics ``K``."""
    ground_to_img = ground_to_image_homography(K, pose)
    img_to_ortho = np.linalg.inv(ground_to_img @ world.frame.px_to_local)
    fill = _fill_colour(world)
    corners = _ray_down(K, pose, width + 1, height + 1, max(width, height))
    all_ground = bool(corners.max() < -1e-4)  # the ray's z is linear in (u, v): corners bound it
    levels = _level_map(img_to_ortho, width, height)
    rows, cols = levels.shape
    coarse_down = _ray_down(K, pose, cols * _GRID, rows * _GRID, _GRID)
    # cells whose corner looks at the sky sample the coarsest level: any ground in them is far away,
    # and every pixel belongs to exactly one level's warp
    levels = np.where(coarse_down < -1e-4, levels, MAX_LEVEL)
    wanted = np.unique(levels)
    if len(wanted) <= 1:
        lv = int(wanted[0]) if len(wanted) else MAX_LEVEL
        out = _warp_level(world, ground_to_img, lv, (0, 0, width, height), fill)
    else:
        out = np.empty((height, width, 3), np.uint8)
        full_levels = np.repeat(np.repeat(levels, _GRID, axis=0), _GRID, axis=1)[:height, :width]
        for lv in wanted:
            cells = np.nonzero(levels == lv)
            y0, y1 = int(cells[0].min()) * _GRID, min(height, (int(cells[0].max()) + 1) * _GRID)
            x0, x1 = int(cells[1].min()) * _GRID, min(width, (int(cells[1].max()) + 1) * _GRID)
            if y0 >= y1 or x0 >= x1:
                continue  # only in the grid's margin beyond the image
            part = _warp_level(world, ground_to_img, int(lv), (x0, y0, x1, y1), fill)
            np.copyto(out[y0:y1, x0:x1], part, where=(full_levels[y0:y1, x0:x1] == lv)[..., None])
    if not all_ground:
        down = _ray_down(K, pose, width, height)
        # only rows that look beyond HAZE_START_M (or at the sky) change; near ground is left alone
        far = (down > -pose.height / HAZE_START_M).any(axis=1)
        rows = int(np.nonzero(far)[0].max()) + 1 if far.any() else 0
        d = down[:rows]
        sees_ground = d < -1e-4
        # aerial perspective: far ground fades towards the horizon colour; the sky fades upwards
        dist = pose.height / np.maximum(-d, 1e-4)
        haze = np.where(sees_ground, 1.0 - np.exp(-np.maximum(dist - HAZE_START_M, 0.0) / 400.0), 1.0)
        t = np.clip(d / 0.3, 0.0, 1.0)[..., None]
        sky = (SKY_HORIZON * (1 - t) + SKY_TOP * t).astype(np.float32)
        band = cv2.blendLinear(
            out[:rows].astype(np.float32), sky, (1.0 - haze).astype(np.float32), haze.astype(np.float32)
        )
        out[:rows] = np.clip(band, 0, 255).astype(np.uint8)
    return out


def _warp_level(
    world: World,
    ground_to_img: np.ndarray,
    level: int,
    rect: tuple[int, int, int, int],
    fill: tuple[float, ...],
) -> np.ndarray:
    """Warp pyramid level ``level`` into the image sub-rectangle ``rect`` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = rect
    src = world.pyramid(level)
    ortho_to_img = ground_to_img @ world.frame.level_px_to_local(level)
    shift = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]])
    img_to_ortho = np.linalg.inv(ortho_to_img) @ shift
    return cv2.warpPerspective(
        src,
        img_to_ortho,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=fill,
    )
