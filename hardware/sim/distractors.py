"""Painters for things that are NOT taxonomy classes but look a bit like them.

Oil stains (dark like potholes, but soft and flat), shadows (dark like ponding),
road arrows (painted like markings), intact manhole covers and drain grates
(metal like a damaged cover). A detector must learn the real differences.
"""

from __future__ import annotations

import cv2
import numpy as np
from shapely.geometry import Polygon

from hardware.sim.defects import Painted, Painter, paint_intact_manhole_cover
from hardware.sim.noise import blob_polygon, rotate, value_noise
from hardware.sim.paint import PaintContext


def paint_oil_stain(ctx: PaintContext, size_m: float) -> Painted:
    rng = ctx.rng
    poly = rotate(
        blob_polygon(rng, size_m / 2, size_m / 2 * rng.uniform(0.4, 0.9), roughness=0.3),
        rng.uniform(0, np.pi),
    )
    crop = ctx.crop(poly, 0.3)
    ppm = ctx.px_per_m
    m = crop.mask(ctx.to_px(poly), blur_px=max(1.0, rng.uniform(0.04, 0.12) * ppm))
    m *= np.clip(0.75 + 0.4 * value_noise(crop.shape, rng, max(2.0, 0.15 * ppm)), 0, 1)
    crop.darken(rng.uniform(0.25, 0.5) * m)
    crop.commit()
    return Painted(poly, 0.2)


def paint_shadow(ctx: PaintContext, size_m: float) -> Painted:
    """A pole's long thin shadow or a tree canopy's blotchy one."""
    rng = ctx.rng
    if rng.random() < 0.5:
        w = rng.uniform(0.12, 0.3)
        poly = np.array([[-size_m / 2, -w], [size_m / 2, -w], [size_m / 2, w], [-size_m / 2, w]]) / [1, 2]
        poly = rotate(poly, rng.uniform(0, np.pi))
    else:
        poly = rotate(
            blob_polygon(rng, size_m / 2, size_m / 2 * rng.uniform(0.5, 0.9), roughness=0.35),
            rng.uniform(0, np.pi),
        )
    crop = ctx.crop(poly, 0.4)
    ppm = ctx.px_per_m
    m = crop.mask(ctx.to_px(poly), blur_px=max(1.0, 0.08 * ppm))
    m *= np.clip(0.8 + 0.6 * value_noise(crop.shape, rng, max(2.0, 0.3 * ppm)), 0, 1)
    crop.darken(rng.uniform(0.3, 0.5) * m)
    crop.img[..., 0] *= 1.0 + 0.06 * m  # skylight makes shadows a little blue
    crop.commit()
    return Painted(poly, 0.2)


def paint_road_arrow(ctx: PaintContext, size_m: float) -> Painted:
    rng = ctx.rng
    L, w, head_w = size_m, 0.15, 0.6
    shaft = L * 0.55
    arrow = np.array(
        [
            [-L / 2, -w],
            [-L / 2 + shaft, -w],
            [-L / 2 + shaft, -head_w / 2],
            [L / 2, 0.0],
            [-L / 2 + shaft, head_w / 2],
            [-L / 2 + shaft, w],
            [-L / 2, w],
        ]
    )
    if rng.random() < 0.5:
        arrow = arrow * [-1, 1]
    crop = ctx.crop(arrow, 0.2)
    m = crop.mask(ctx.to_px(arrow), blur_px=0.5)
    m *= np.clip(0.9 - 0.5 * (value_noise(crop.shape, rng, max(2.0, 0.3 * ctx.px_per_m)) + 0.3), 0.2, 0.95)
    crop.blend(np.array([226.0, 230.0, 232.0], np.float32), m)
    crop.commit()
    return Painted(arrow, 0.15)


def paint_drain_grate(ctx: PaintContext, size_m: float) -> Painted:
    rng = ctx.rng
    L, W = size_m, size_m * rng.uniform(0.4, 0.55)
    rect = np.array([[-L / 2, -W / 2], [L / 2, -W / 2], [L / 2, W / 2], [-L / 2, W / 2]])
    crop = ctx.crop(rect, 0.1)
    ppm = ctx.px_per_m
    m = crop.mask(ctx.to_px(rect), blur_px=0.5)
    xs, ys = crop.coords()
    ends = ctx.frame.to_px(np.vstack([ctx.centre, ctx.centre + ctx.along]))
    bars_dir = (ends[1] - ends[0]) / ppm  # unit vector along the road in ortho pixels
    proj = xs * bars_dir[0] + ys * bars_dir[1]
    period = rng.uniform(0.04, 0.06) * ppm
    bars = ((proj % period) < period * 0.5).astype(np.float32)
    metal = np.array([60.0, 62.0, 66.0], np.float32) * rng.uniform(0.8, 1.3)
    crop.blend(metal[None, None, :] * (0.35 + 0.65 * bars)[..., None], m)
    crop.commit()
    return Painted(rect, 0.05)


_CAR_COLOURS = np.array(
    [
        [235, 235, 235],
        [30, 30, 32],
        [175, 175, 170],
        [110, 110, 110],
        [40, 40, 170],
        [140, 80, 30],
        [60, 60, 60],
        [200, 205, 210],
    ],
    np.float32,
)


def paint_car(ctx: PaintContext, size_m: float) -> Painted:
    """A parked or stopped car seen from above: body, glass, roof and a cast shadow."""
    rng = ctx.rng
    L, W = size_m, size_m * rng.uniform(0.38, 0.42)
    heading = rng.normal(0, 0.04) + (np.pi if rng.random() < 0.5 else 0.0)
    body = rotate(
        Polygon(np.array([[-L / 2, -W / 2], [L / 2, -W / 2], [L / 2, W / 2], [-L / 2, W / 2]]) * 0.85)
        .buffer(0.075 * L, quad_segs=4)
        .exterior.coords[:-1]
        * np.array([1.0, 1.0]),
        heading,
    )
    body = np.asarray(body)
    crop = ctx.crop(np.vstack([body, body + ctx.shadow_uv(1.5)]), 0.3)
    ppm = ctx.px_per_m
    shadow = crop.mask(ctx.to_px(body + ctx.shadow_uv(1.2)), blur_px=max(1.0, 0.12 * ppm))
    crop.darken(0.5 * shadow)
    m = crop.mask(ctx.to_px(body), blur_px=0.6)
    colour = _CAR_COLOURS[rng.integers(len(_CAR_COLOURS))] * rng.uniform(0.85, 1.1)
    edge = cv2.GaussianBlur(m, (0, 0), max(1.0, 0.2 * ppm))
    shade = 0.7 + 0.35 * np.clip(edge * 1.6 - 0.3, 0, 1)  # rounded body: darker towards the sides
    crop.blend(colour[None, None, :] * shade[..., None], m)
    glass = np.array([40.0, 38.0, 35.0], np.float32) * rng.uniform(0.8, 1.4)
    for x0, x1 in ((0.12, 0.30), (-0.40, -0.28)):  # windscreen and rear window (fractions of L)
        pane = rotate(
            np.array([[x0 * L, -0.4 * W], [x1 * L, -0.42 * W], [x1 * L, 0.42 * W], [x0 * L, 0.4 * W]]),
            heading,
        )
        crop.blend(glass, crop.mask(ctx.to_px(pane), blur_px=0.6) * 0.9)
    crop.commit()
    return Painted(body, 0.2)


DISTRACTOR_PAINTERS: dict[str, tuple[Painter, tuple[float, float]]] = {
    "oil_stain": (paint_oil_stain, (0.4, 1.6)),
    "shadow": (paint_shadow, (1.5, 5.0)),
    "road_arrow": (paint_road_arrow, (4.0, 6.0)),
    "intact_manhole_cover": (paint_intact_manhole_cover, (0.6, 0.8)),
    "drain_grate": (paint_drain_grate, (0.6, 0.9)),
    "car": (paint_car, (4.2, 4.9)),
}
