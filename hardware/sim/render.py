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


def render_view(world: World, K: np.ndarray, pose: CameraPose, width: int, height: int) -> np.ndarray:
    """``height x width`` BGR image of the world seen from ``pose`` with pinhole intrinsics ``K``."""
    ground_to_img = ground_to_image_homography(K, pose)
    img_to_ortho = np.linalg.inv(ground_to_img @ world.frame.px_to_local)
    down = _ray_down(K, pose, width, height)
    sees_ground = down < -1e-4
    levels = _level_map(img_to_ortho, width, height)
    # cells that look at the sky would get nonsense levels; they are masked anyway
    coarse_down = _ray_down(K, pose, width + _GRID, height + _GRID, _GRID)[
        : levels.shape[0], : levels.shape[1]
    ]
    levels = np.where(coarse_down < -1e-4, levels, MAX_LEVEL)
    fill = tuple(float(c) for c in np.median(world.pyramid(MAX_LEVEL).reshape(-1, 3), axis=0))
    wanted = np.unique(levels[coarse_down < -1e-4]) if sees_ground.any() else np.array([], int)
    out = np.empty((height, width, 3), np.uint8)
    out[:] = np.asarray(fill, np.uint8)
    if len(wanted) == 1:
        out = _warp_level(world, ground_to_img, int(wanted[0]), width, height, fill)
    elif len(wanted) > 1:
        full_levels = cv2.resize(
            levels.astype(np.float32),
            (levels.shape[1] * _GRID, levels.shape[0] * _GRID),
            interpolation=cv2.INTER_NEAREST,
        )[:height, :width]
        for lv in wanted:
            img = _warp_level(world, ground_to_img, int(lv), width, height, fill)
            sel = full_levels == lv
            out[sel] = img[sel]
    if not sees_ground.all():
        # sky above the horizon, with a haze band just above it
        t = np.clip(down / 0.3, 0.0, 1.0)[..., None]
        sky = (SKY_HORIZON * (1 - t) + SKY_TOP * t).astype(np.uint8)
        out = np.where(sees_ground[..., None], out, sky)
        # aerial perspective: far ground fades towards the horizon colour
        dist = np.where(sees_ground, pose.height / np.maximum(-down, 1e-4), 0.0)
        haze = (1.0 - np.exp(-dist / 400.0))[..., None].astype(np.float32)
        out = (out * (1 - haze) + SKY_HORIZON * haze).astype(np.uint8)
    return out


def _warp_level(
    world: World, ground_to_img: np.ndarray, level: int, width: int, height: int, fill: tuple[float, ...]
) -> np.ndarray:
    src = world.pyramid(level)
    ortho_to_img = ground_to_img @ world.frame.level_px_to_local(level)
    img_to_ortho = np.linalg.inv(ortho_to_img)
    return cv2.warpPerspective(
        src,
        img_to_ortho,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=fill,
    )
