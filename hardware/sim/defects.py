"""Painters for the nine simulated taxonomy classes.

Each painter draws one object into the orthophoto around ``ctx.centre`` and
returns its footprint (object frame, metres: ``u`` along the road, ``v`` to the
right) and its finest feature width (used to decide whether a far camera can
see it at all). Appearances are procedurally varied by ``ctx.rng``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import shapely
from shapely.geometry import LineString, MultiPoint, Polygon

from hardware.sim.noise import blob_polygon, displace, random_walk, rotate, value_noise
from hardware.sim.paint import Crop, PaintContext, shifted


@dataclass(frozen=True, slots=True)
class Painted:
    """What a painter reports: footprint ``(n, 2)`` in the object frame and finest feature size."""

    footprint_uv: np.ndarray
    feature_m: float


Painter = Callable[[PaintContext, float], Painted]


def _hull(points: np.ndarray) -> np.ndarray:
    hull = MultiPoint([tuple(p) for p in points]).convex_hull
    return np.asarray(hull.exterior.coords)[:-1]


def _outline(geom: shapely.Geometry, tolerance: float) -> np.ndarray:
    if geom.geom_type != "Polygon":
        geom = geom.convex_hull
    assert isinstance(geom, Polygon)
    return np.asarray(geom.simplify(tolerance).exterior.coords)[:-1]


def _drop_shadow(ctx: PaintContext, crop: Crop, px: np.ndarray, height_m: float, strength: float) -> None:
    """Darken the ground where an object of ``height_m`` casts its shadow (before painting it)."""
    d = ctx.shadow_px(height_m)
    m = crop.mask(px + d, blur_px=max(0.8, 0.03 * ctx.px_per_m))
    crop.darken(strength * m)


# --------------------------------------------------------------------------- surface damage


def paint_pothole(ctx: PaintContext, size_m: float) -> Painted:
    rng = ctx.rng
    r = size_m / 2.0
    poly = blob_polygon(rng, r, r * rng.uniform(0.6, 0.95), roughness=0.22)
    poly = rotate(poly, rng.uniform(0, np.pi))
    crop = ctx.crop(poly, 0.25)
    px = ctx.to_px(poly)
    m = crop.mask(px, blur_px=0.6)
    ppm = ctx.px_per_m
    hard = (m > 0.5).astype(np.uint8)
    depth = np.clip(cv2.distanceTransform(hard, cv2.DIST_L2, 3) / (0.12 * ppm), 0, 1)
    base = ctx.local_mean(crop)
    gravel = (
        1.0
        + 0.25 * value_noise(crop.shape, rng, max(1.5, 0.03 * ppm))
        + 0.12 * rng.standard_normal(crop.shape).astype(np.float32)
    )
    tone = rng.uniform(0.38, 0.6)
    brown = np.array([0.92, 0.98, 1.06], np.float32) * rng.uniform(0.95, 1.05, 3).astype(np.float32)
    bottom = (base * brown * tone)[None, None, :] * (gravel * (1.0 - 0.25 * depth))[..., None]
    crop.blend(bottom, m)
    # the wall on the sun side is in shadow, the opposite wall catches light
    sd = ctx.shadow_px(0.08)
    shade = m * (1.0 - shifted(m, -sd[0], -sd[1]))
    lit = m * (1.0 - shifted(m, sd[0], sd[1]))
    crop.darken(0.55 * cv2.GaussianBlur(shade, (0, 0), 1.0))
    crop.img *= (1.0 + 0.35 * cv2.GaussianBlur(lit, (0, 0), 1.0))[..., None]
    # ravelled rim: broken edge with loose aggregate
    ring_px = max(2, int(0.07 * ppm))
    ring = cv2.dilate(hard, np.ones((2 * ring_px + 1, 2 * ring_px + 1), np.uint8)).astype(np.float32) - m
    broken = np.clip(ring * (value_noise(crop.shape, rng, max(2.0, 0.05 * ppm)) + 0.3), 0, 1)
    crop.darken(0.3 * broken)
    speck = (rng.random(crop.shape) < 0.08 * ring).astype(np.float32)
    crop.img += 50.0 * speck[..., None]
    crop.commit()
    return Painted(poly, 0.1)


def paint_patch(ctx: PaintContext, size_m: float) -> Painted:
    rng = ctx.rng
    aspect = rng.uniform(0.4, 0.9)
    length = size_m / np.hypot(1.0, aspect)  # the diagonal is the largest dimension
    width = length * aspect
    if rng.random() < 0.7:  # saw-cut rectangular repair
        poly = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * [length / 2, width / 2]
        poly = rotate(poly + rng.normal(0, 0.03, poly.shape), rng.normal(0, 0.06))
    else:  # hand-laid cold patch
        poly = rotate(blob_polygon(rng, length / 2, width / 2, roughness=0.12), rng.uniform(0, np.pi))
    crop = ctx.crop(poly, 0.2)
    px = ctx.to_px(poly)
    m = crop.mask(px, blur_px=0.5)
    base = ctx.local_mean(crop)
    tone = rng.uniform(0.55, 0.8) if rng.random() < 0.6 else rng.uniform(1.15, 1.35)
    ppm = ctx.px_per_m
    tex = 1.0 + 0.07 * value_noise(crop.shape, rng, max(1.5, rng.uniform(0.05, 0.15) * ppm))
    tex += 0.09 * rng.standard_normal(crop.shape).astype(np.float32)
    tint = np.array([1.0, 1.0, 1.0], np.float32) + rng.uniform(-0.05, 0.05, 3).astype(np.float32)
    fill = (base * tone * tint)[None, None, :] * tex[..., None]
    crop.blend(0.95 * fill + 0.05 * crop.img, m)  # new asphalt covers the old surface and its markings
    # crack-seal band along the saw cut, a little wobbly
    seal = crop.lines([px], max(1.0, rng.uniform(0.03, 0.07) * ppm), closed=True)
    seal = displace(seal, rng, 0.015 * ppm, max(2.0, 0.2 * ppm))
    crop.darken(rng.uniform(0.35, 0.6) * seal)
    crop.commit()
    return Painted(poly, 0.2)


def paint_ponding(ctx: PaintContext, size_m: float) -> Painted:
    rng = ctx.rng
    poly = rotate(
        blob_polygon(rng, size_m / 2, size_m / 2 * rng.uniform(0.4, 0.8), roughness=0.28),
        rng.uniform(0, np.pi),
    )
    crop = ctx.crop(poly, 0.4)
    ppm = ctx.px_per_m
    px = ctx.to_px(poly)
    m = crop.mask(px, blur_px=max(0.8, 0.025 * ppm))
    wet = cv2.GaussianBlur(m, (0, 0), max(1.0, rng.uniform(0.05, 0.15) * ppm))
    wet = np.clip(wet * 2.5, 0, 1)
    crop.darken(rng.uniform(0.15, 0.35) * wet * (1 - m))
    under = cv2.GaussianBlur(crop.img, (0, 0), max(1.0, 0.03 * ppm))
    if rng.random() < 0.6:  # mirror of a bright sky
        sky = np.array([200.0, 185.0, 165.0], np.float32) * rng.uniform(0.85, 1.15)
        f = rng.uniform(0.55, 0.85)
    else:  # dark, still water
        sky = np.array([120.0, 105.0, 90.0], np.float32) * rng.uniform(0.6, 1.0)
        f = rng.uniform(0.25, 0.5)
    xs, ys = crop.coords()
    ang = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(ang) * xs + np.sin(ang) * ys) / max(crop.shape)
    ramp = (ramp - ramp.mean()).astype(np.float32)
    ripple = 0.04 * value_noise(crop.shape, rng, max(2.0, 0.15 * ppm))
    refl = (1.0 + 0.5 * ramp + ripple)[..., None]
    water = (under * 0.45 * (1 - f) + sky * f) * refl
    crop.blend(water, m)
    crop.commit()
    return Painted(poly, 0.2)


# --------------------------------------------------------------------------- cracks


def _paint_crack_lines(ctx: PaintContext, crop: Crop, lines_uv: list[np.ndarray], width_m: float) -> None:
    rng = ctx.rng
    ppm = ctx.px_per_m
    core = crop.lines([ctx.to_px(p) for p in lines_uv], width_m * ppm)
    core *= np.clip(0.75 + 0.5 * value_noise(crop.shape, rng, max(2.0, 0.2 * ppm)), 0.3, 1.0)
    halo = cv2.GaussianBlur(core, (0, 0), max(1.0, 0.025 * ppm))
    crop.darken(rng.uniform(0.55, 0.8) * core + rng.uniform(0.15, 0.3) * halo)


def _crack(ctx: PaintContext, size_m: float, heading: float) -> Painted:
    rng = ctx.rng
    main = random_walk(rng, size_m, 0.04, heading, wiggle=rng.uniform(0.08, 0.2))
    main -= (main[0] + main[-1]) / 2
    lines = [main]
    for _ in range(rng.integers(0, 3)):
        i = int(rng.integers(len(main) // 5, max(len(main) // 5 + 1, 4 * len(main) // 5)))
        br = random_walk(
            rng,
            size_m * rng.uniform(0.1, 0.3),
            0.04,
            heading + rng.choice([-1, 1]) * rng.uniform(0.4, 1.0),
            wiggle=0.2,
        )
        lines.append(br + main[i])
    width = rng.uniform(0.02, 0.045)
    allpts = np.vstack(lines)
    crop = ctx.crop(allpts, 0.15)
    _paint_crack_lines(ctx, crop, lines, width)
    crop.commit()
    geom = shapely.union_all([LineString(p).buffer(width / 2 + 0.01) for p in lines])
    return Painted(_outline(geom, 0.01), width)


def paint_longitudinal_crack(ctx: PaintContext, size_m: float) -> Painted:
    return _crack(ctx, size_m, ctx.rng.normal(0.0, 0.12))


def paint_transverse_crack(ctx: PaintContext, size_m: float) -> Painted:
    return _crack(ctx, size_m, np.pi / 2 + ctx.rng.normal(0.0, 0.12))


def paint_alligator_crack(ctx: PaintContext, size_m: float) -> Painted:
    rng = ctx.rng
    rx, ry = size_m / 2, size_m / 2 * rng.uniform(0.5, 0.85)
    region = rotate(blob_polygon(rng, rx, ry, roughness=0.15), rng.normal(0, 0.3))
    crop = ctx.crop(region, 0.15)
    ppm = ctx.px_per_m
    px = ctx.to_px(region)
    mr = crop.mask(px, blur_px=max(1.0, 0.06 * ppm))
    spacing = rng.uniform(0.12, 0.24)
    n = int(np.pi * rx * ry / spacing**2 * 1.3)
    seeds = rng.uniform(-1, 1, (n, 2)) * [rx * 1.2, ry * 1.2]
    seeds = rotate(seeds, 0.0)
    cells = shapely.voronoi_polygons(MultiPoint([tuple(p) for p in seeds]))
    edges = [np.asarray(g.exterior.coords) for g in cells.geoms]
    width = rng.uniform(0.015, 0.035)
    net = crop.lines([ctx.to_px(e) for e in edges], width * ppm, closed=True)
    net = displace(net, rng, 0.02 * ppm, max(2.0, 0.08 * ppm))
    net *= np.clip(0.6 + 0.6 * value_noise(crop.shape, rng, max(2.0, 0.15 * ppm)), 0, 1)
    # some cells are lighter or darker (loosened pieces)
    tone = cv2.GaussianBlur(value_noise(crop.shape, rng, max(2.0, spacing * ppm)), (0, 0), 1.0)
    crop.img *= (1.0 + 0.06 * tone * mr - 0.06 * mr)[..., None]
    halo = cv2.GaussianBlur(net, (0, 0), max(1.0, 0.02 * ppm))
    crop.darken((rng.uniform(0.55, 0.8) * net + 0.2 * halo) * np.clip(mr * 1.4, 0, 1))
    crop.commit()
    return Painted(region, max(width, 0.06))  # the net reads as a dark texture even when lines blur


# --------------------------------------------------------------------------- manholes


def _manhole_cover(
    ctx: PaintContext, crop: Crop, radius: float, rust: float
) -> tuple[np.ndarray, np.ndarray]:
    """Paint a round cast-iron cover with its frame; return (cover mask, radial distance in metres)."""
    rng = ctx.rng
    ppm = ctx.px_per_m
    c = ctx.frame.to_px(ctx.centre)[0]
    xs, ys = crop.coords()
    dist = np.hypot(xs - c[0], ys - c[1]) / ppm
    ang = np.arctan2(ys - c[1], xs - c[0])
    frame_w = rng.uniform(0.04, 0.07)
    outer = np.clip((radius + frame_w - dist) * ppm + 0.5, 0, 1)
    inner = np.clip((radius - dist) * ppm + 0.5, 0, 1)
    metal = np.array([70.0, 72.0, 75.0], np.float32) * rng.uniform(0.7, 1.25)
    metal = metal * (1 - rust) + np.array([45.0, 70.0, 110.0], np.float32) * rust
    frame_col = np.array([150.0, 150.0, 148.0], np.float32) * rng.uniform(0.6, 1.0)
    crop.blend(frame_col, outer)
    if rng.random() < 0.5:  # concentric rings and spokes
        pattern = (np.sin(dist * 2 * np.pi / rng.uniform(0.05, 0.09)) > 0.3) | (
            np.sin(ang * rng.integers(8, 16)) > 0.85
        )
    else:  # raised grid
        p = rng.uniform(0.04, 0.07) * ppm
        pattern = ((xs % p) < max(1.0, p * 0.3)) | ((ys % p) < max(1.0, p * 0.3))
    tex = 1.0 + 0.25 * pattern.astype(np.float32) + 0.08 * rng.standard_normal(crop.shape).astype(np.float32)
    crop.blend(metal[None, None, :] * tex[..., None], inner)
    return inner, dist


def paint_damaged_manhole_cover(ctx: PaintContext, size_m: float) -> Painted:
    rng = ctx.rng
    radius = size_m / 2
    extent = radius + 0.35
    crop = ctx.crop(np.array([[-extent, -extent], [extent, extent]]), 0.1)
    ppm = ctx.px_per_m
    # broken, sunken surround first
    ring_poly = blob_polygon(
        rng, radius + rng.uniform(0.15, 0.3), radius + rng.uniform(0.15, 0.3), roughness=0.25
    )
    ring = crop.mask(ctx.to_px(ring_poly), blur_px=1.0)
    crop.darken(
        rng.uniform(0.25, 0.45) * ring * np.clip(0.7 + value_noise(crop.shape, rng, 0.05 * ppm), 0, 1)
    )
    spokes = [
        rotate(
            np.array([[radius, 0.0], [radius + rng.uniform(0.2, 0.45), rng.normal(0, 0.05)]]),
            rng.uniform(0, 2 * np.pi),
        )
        for _ in range(rng.integers(3, 8))
    ]
    _paint_crack_lines(ctx, crop, spokes, 0.025)
    cover, _dist = _manhole_cover(ctx, crop, radius, rust=rng.uniform(0.2, 0.8))
    # cracks across the lid and a missing or sunken piece
    cross = [
        random_walk(rng, radius * 1.6, 0.03, rng.uniform(0, 2 * np.pi), 0.15) + rng.normal(0, radius / 3, 2)
        for _ in range(rng.integers(1, 4))
    ]
    core = crop.lines([ctx.to_px(p) for p in cross], max(1.5, 0.025 * ppm)) * cover
    crop.darken(0.75 * core)
    if rng.random() < 0.75:
        a0 = rng.uniform(0, 2 * np.pi)
        wedge = np.vstack(
            [
                [0.0, 0.0],
                radius
                * np.column_stack(
                    [
                        np.cos(np.linspace(a0, a0 + rng.uniform(0.6, 1.5), 12)),
                        np.sin(np.linspace(a0, a0 + 1.0, 12)),
                    ]
                ),
            ]
        )
        wedge = wedge + rng.normal(0, 0.02, wedge.shape)
        hole = crop.mask(ctx.to_px(wedge), blur_px=0.7) * cover
        crop.blend(np.array([18.0, 20.0, 22.0], np.float32), hole * rng.uniform(0.8, 0.95))
    crop.commit()
    fp = blob_polygon(rng, radius + 0.06, radius + 0.06, roughness=0.0, n=32)
    return Painted(fp, 0.1)


def paint_intact_manhole_cover(ctx: PaintContext, size_m: float) -> Painted:
    """Distractor: a clean cover in a sound frame."""
    radius = size_m / 2
    crop = ctx.crop(np.array([[-radius, -radius], [radius, radius]]), 0.2)
    _manhole_cover(ctx, crop, radius, rust=ctx.rng.uniform(0.0, 0.4))
    crop.commit()
    return Painted(blob_polygon(ctx.rng, radius + 0.06, radius + 0.06, roughness=0.0, n=32), 0.1)


# --------------------------------------------------------------------------- things lying on the road

_BAG_COLOURS = np.array(
    [
        [28, 28, 30],
        [215, 218, 215],
        [170, 95, 40],
        [60, 125, 50],
        [45, 45, 170],
        [60, 200, 230],
        [150, 120, 200],
        [120, 120, 120],
        [200, 200, 190],
    ],
    np.float32,
)


def _item(ctx: PaintContext, crop: Crop, poly: np.ndarray, colour: np.ndarray, height_m: float) -> None:
    rng = ctx.rng
    px = ctx.to_px(poly)
    _drop_shadow(ctx, crop, px, height_m, rng.uniform(0.3, 0.5))
    m = crop.mask(px, blur_px=0.5)
    ppm = ctx.px_per_m
    shade = (
        1.0
        + 0.18 * value_noise(crop.shape, rng, max(2.0, 0.08 * ppm))
        + 0.05 * rng.standard_normal(crop.shape).astype(np.float32)
    )
    edge = cv2.GaussianBlur(m, (0, 0), max(1.0, 0.04 * ppm))
    shade *= 0.75 + 0.25 * np.clip(edge * 2 - 0.5, 0, 1)  # darker near the edge: looks rounded
    crop.blend(colour[None, None, :] * shade[..., None], m)


def paint_garbage_pile(ctx: PaintContext, size_m: float) -> Painted:
    rng = ctx.rng
    rx, ry = size_m / 2, size_m / 2 * rng.uniform(0.55, 0.95)
    crop = ctx.crop(np.array([[-rx, -ry], [rx, ry]]) * 1.2, 0.5)
    n = int(size_m * rng.uniform(9, 16))
    outlines = []
    for _ in range(n):
        while True:
            c = rng.normal(0, 0.45, 2)
            if np.hypot(*c) < 1.0:
                break
        s = rng.uniform(0.12, 0.3) * (1.3 - 0.5 * np.hypot(*c))
        c = c * [rx, ry]
        if rng.random() < 0.3:  # cardboard
            box = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * [s, s * rng.uniform(0.5, 1.0)]
            poly = rotate(box, rng.uniform(0, np.pi)) + c
            colour = np.array([95.0, 140.0, 180.0], np.float32) * rng.uniform(0.7, 1.15)
        else:  # plastic bag
            poly = (
                rotate(
                    blob_polygon(rng, s, s * rng.uniform(0.6, 1.0), roughness=0.15, n=24), rng.uniform(0, 3)
                )
                + c
            )
            colour = _BAG_COLOURS[rng.integers(len(_BAG_COLOURS))] * rng.uniform(0.8, 1.1)
        # clamp inside the pile's ellipse so the footprint stays near size_m
        poly = poly / max(1.0, float(np.max(np.hypot(poly[:, 0] / rx, poly[:, 1] / ry))))
        _item(ctx, crop, poly, colour, rng.uniform(0.1, 0.3))
        outlines.append(poly)
    # paper scraps and bottles
    for _ in range(int(size_m * 10)):
        c = rng.normal(0, 0.5, 2) * [rx, ry]
        if np.hypot(c[0] / rx, c[1] / ry) > 0.95:
            continue
        scrap = (
            rotate(
                np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * rng.uniform(0.02, 0.06, 2),
                rng.uniform(0, 3),
            )
            + c
        )
        crop.blend(
            np.array([230.0, 235.0, 235.0], np.float32) * rng.uniform(0.6, 1.0), crop.mask(ctx.to_px(scrap))
        )
        outlines.append(scrap)
    crop.commit()
    return Painted(_hull(np.vstack(outlines)), 0.15)


def paint_road_debris(ctx: PaintContext, size_m: float) -> Painted:
    rng = ctx.rng
    spread = size_m / 2
    crop = ctx.crop(np.array([[-spread, -spread], [spread, spread]]) * 1.1, 0.4)
    outlines: list[np.ndarray] = []
    for _ in range(int(rng.integers(3, 9))):
        c = rng.uniform(-0.75, 0.75, 2) * spread
        kind = rng.choice(["rock", "rock", "branch", "plank", "tyre", "brick"])
        if kind == "branch":
            line = random_walk(
                rng, rng.uniform(0.3, 1.0) * spread * 1.4, 0.03, rng.uniform(0, 2 * np.pi), 0.1
            )
            line = line - line.mean(axis=0) + c
            line = np.clip(line, -spread, spread)
            w = rng.uniform(0.03, 0.06)
            poly = _outline(LineString(line).buffer(w / 2), 0.005)
            colour = np.array([40.0, 70.0, 100.0], np.float32) * rng.uniform(0.7, 1.2)
        elif kind == "plank":
            L, W = rng.uniform(0.3, 0.8) * spread * 1.3, rng.uniform(0.08, 0.15)
            poly = rotate(np.array([[-L, -W], [L, -W], [L, W], [-L, W]]) / 2, rng.uniform(0, np.pi)) + c
            colour = np.array([85.0, 135.0, 175.0], np.float32) * rng.uniform(0.7, 1.1)
        elif kind == "tyre":
            a = rng.uniform(0, 2 * np.pi)
            arc = (
                np.column_stack([np.cos(np.linspace(a, a + 1.2, 16)), np.sin(np.linspace(a, a + 1.2, 16))])
                * 0.35
            )
            arc = arc - arc.mean(axis=0) + c
            poly = _outline(LineString(arc).buffer(rng.uniform(0.04, 0.07)), 0.005)
            colour = np.array([25.0, 25.0, 27.0], np.float32)
        elif kind == "brick":
            poly = (
                rotate(
                    np.array([[-0.11, -0.05], [0.11, -0.05], [0.11, 0.05], [-0.11, 0.05]]),
                    rng.uniform(0, np.pi),
                )
                + c
            )
            colour = np.array([55.0, 75.0, 150.0], np.float32) * rng.uniform(0.8, 1.1)
        else:
            r = rng.uniform(0.05, 0.18)
            poly = blob_polygon(rng, r, r * rng.uniform(0.6, 1.0), roughness=0.3, n=20) + c
            colour = np.array([120.0, 128.0, 135.0], np.float32) * rng.uniform(0.6, 1.3)
        poly = np.clip(poly, -spread, spread)
        _item(ctx, crop, poly, colour, rng.uniform(0.04, 0.15))
        outlines.append(poly)
    crop.commit()
    return Painted(_hull(np.vstack(outlines)), 0.05)


CLASS_PAINTERS: dict[str, Painter] = {
    "pothole": paint_pothole,
    "alligator_crack": paint_alligator_crack,
    "longitudinal_crack": paint_longitudinal_crack,
    "transverse_crack": paint_transverse_crack,
    "patch": paint_patch,
    "damaged_manhole_cover": paint_damaged_manhole_cover,
    "ponding": paint_ponding,
    "garbage_pile": paint_garbage_pile,
    "road_debris": paint_road_debris,
}
