"""Street trees on the verges: textured canopies with their shadows (seen from above).

Canopies may overhang the sidewalk; they never cover the asphalt, so they
never hide a ground-truth object.
"""

from __future__ import annotations

import cv2
import numpy as np

from hardware.sim.noise import blob_polygon, value_noise
from hardware.sim.ortho import OrthoFrame
from hardware.sim.paint import PaintContext
from hardware.sim.road import Road


def paint_trees(
    image: np.ndarray, frame: OrthoFrame, road: Road, shadow_dir: np.ndarray, rng: np.random.Generator
) -> int:
    """Paint street trees in place along both verges; returns how many."""
    spec = road.spec
    if spec.verge_m < 1.0:
        return 0
    inner = spec.half_width_m + spec.kerb_m + 0.3  # canopies stay off the asphalt
    spacing = float(rng.uniform(7.0, 14.0))
    count = 0
    for side in (-1.0, 1.0):
        for s in np.arange(rng.uniform(0, spacing), spec.length_m, spacing):
            if rng.random() < 0.25:
                continue  # gaps in the row
            radius = float(rng.uniform(1.5, 3.2))
            t = side * (
                inner + radius + rng.uniform(0.0, max(0.1, spec.sidewalk_m + spec.verge_m - 2 * radius))
            )
            s_j = float(np.clip(s + rng.normal(0, 1.0), 0.0, spec.length_m))
            centre = road.point(s_j, float(t))
            ctx = PaintContext(
                image, frame, centre, road.tangent(s_j)[0], road.normal(s_j)[0], shadow_dir, rng
            )
            _paint_canopy(ctx, radius, height_m=float(rng.uniform(5.0, 9.0)))
            count += 1
    return count


def _paint_canopy(ctx: PaintContext, radius: float, height_m: float) -> None:
    rng = ctx.rng
    ppm = ctx.px_per_m
    poly = blob_polygon(rng, radius, radius * rng.uniform(0.8, 1.0), roughness=0.3, n=40)
    # a high sun (mid-morning, early summer): the shadow sits close beside the canopy
    shadow_uv = ctx.shadow_uv(height_m * 0.3)
    crop = ctx.crop(np.vstack([poly, poly + shadow_uv]), 0.3)
    shadow = np.maximum(crop.mask(ctx.to_px(poly + shadow_uv)), crop.mask(ctx.to_px(poly + shadow_uv / 2)))
    crop.darken(rng.uniform(0.35, 0.55) * cv2.GaussianBlur(shadow, (0, 0), max(1.0, 0.2 * ppm)))
    m = crop.mask(ctx.to_px(poly), blur_px=max(0.8, 0.05 * ppm))
    clumps = value_noise(crop.shape, rng, max(2.0, 0.35 * ppm)) + 0.5 * value_noise(
        crop.shape, rng, max(2.0, 0.1 * ppm)
    )
    leaf = np.array([40.0, 105.0, 70.0], np.float32) * rng.uniform(0.75, 1.2)
    tex = np.clip(1.0 + 0.45 * clumps, 0.35, 1.6)
    gaps = np.clip(clumps * 2.0 + 2.2, 0.0, 1.0)  # a few holes in the foliage
    crop.blend(leaf[None, None, :] * tex[..., None], m * gaps)
    crop.commit()
