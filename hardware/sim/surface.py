"""The intact road surface: asphalt, lane markings, kerbs, paved sidewalks and grass verges.

Everything is rasterised as polygons (``cv2.fillPoly`` with sub-pixel ``shift``)
and textured with vectorised noise; there are no per-pixel Python loops.
"""

from __future__ import annotations

import cv2
import numpy as np

from hardware.sim.noise import fractal_noise, value_noise
from hardware.sim.ortho import OrthoFrame
from hardware.sim.road import Road

ASPHALT, SIDEWALK, KERB, VERGE = 0, 1, 2, 3
_SHIFT = 3  # sub-pixel bits for cv2 polygon drawing
_WHITE = np.array([226.0, 230.0, 232.0])
_YELLOW = np.array([40.0, 180.0, 225.0])


def fill_polygon(mask: np.ndarray, px: np.ndarray, value: int | float) -> None:
    """Fill a polygon given in (float) pixel coordinates with sub-pixel accuracy, in place."""
    pts = np.round(np.asarray(px) * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)
    cv2.fillPoly(
        mask, [pts], value, lineType=cv2.LINE_AA if mask.dtype == np.uint8 else cv2.LINE_8, shift=_SHIFT
    )


def draw_polyline(
    mask: np.ndarray, px: np.ndarray, value: int | float, thickness: int, closed: bool = False
) -> None:
    pts = np.round(np.asarray(px) * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(mask, [pts], closed, value, thickness=max(1, thickness), lineType=cv2.LINE_AA, shift=_SHIFT)


def _region_map(road: Road, frame: OrthoFrame) -> np.ndarray:
    spec = road.spec
    region = np.full((frame.height, frame.width), VERGE, np.uint8)
    hw = spec.half_width_m
    for t0, t1, value in (
        (-(hw + spec.kerb_m + spec.sidewalk_m), hw + spec.kerb_m + spec.sidewalk_m, SIDEWALK),
        (-(hw + spec.kerb_m), hw + spec.kerb_m, KERB),
        (-hw, hw, ASPHALT),
    ):
        pts = frame.to_px(road.band(t0, t1, -5.0, spec.length_m + 5.0))
        cv2.fillPoly(region, [np.round(pts * 8).astype(np.int32)], value, shift=3)
    return region


def _wheel_path_mask(road: Road, frame: OrthoFrame, rng: np.random.Generator) -> np.ndarray:
    """Smooth darkening (0..1) along the wheel paths of every lane, drawn at 1/8 scale."""
    spec = road.spec
    small = np.zeros((frame.height // 8 + 1, frame.width // 8 + 1), np.float32)
    width_px = max(1, round(0.55 / frame.gsd / 8))
    for lane in range(spec.lanes_per_direction):
        centre = (lane + 0.5) * spec.lane_width_m
        for side in (-1.0, 1.0):
            for wheel in (-0.85, 0.85):
                t = side * centre + wheel
                s = np.arange(-5.0, spec.length_m + 5.0, 2.0)
                px = frame.to_px(road.points(s, t)) / 8.0
                draw_polyline(small, px, float(rng.uniform(0.5, 1.0)), width_px)
    blurred = cv2.GaussianBlur(small, (0, 0), max(1.0, width_px * 0.6))
    return cv2.resize(blurred, (frame.width, frame.height), interpolation=cv2.INTER_LINEAR)[
        : frame.height, : frame.width
    ]


def _marking_mask(road: Road, frame: OrthoFrame, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Anti-aliased paint coverage (uint8) and a yellow flag mask for the centre lines."""
    spec = road.spec
    cover = np.zeros((frame.height, frame.width), np.uint8)
    yellow = np.zeros_like(cover)
    L = spec.length_m
    edge = spec.lanes_per_direction * spec.lane_width_m
    # a zebra crossing with stop lines in some worlds (a common marking that is not a defect);
    # the centre and lane lines stop short of it
    crossing = rng.random() < 0.6
    sc = float(rng.uniform(0.2, 0.8) * L)
    depth = float(rng.uniform(4.0, 6.0))
    gaps = [(sc - 2.0, sc + depth + 2.0)] if crossing else []

    def spans(s0: float, s1: float) -> list[tuple[float, float]]:
        """``[s0, s1]`` minus the gaps."""
        out = [(s0, s1)]
        for g0, g1 in gaps:
            out = [p for a, b in out for p in ((a, min(b, g0)), (max(a, g1), b)) if p[1] - p[0] > 0.05]
        return out

    # double solid yellow centre line
    for t in (-0.2, 0.2):
        for s0, s1 in spans(-5.0, L + 5.0):
            fill_polygon(yellow, frame.to_px(road.band(t - 0.075, t + 0.075, s0, s1)), 255)
    # solid white edge lines
    for side in (-1.0, 1.0):
        t = side * edge
        fill_polygon(cover, frame.to_px(road.band(t - 0.1, t + 0.1, -5.0, L + 5.0)), 255)
    # dashed white lane dividers: 6 m dash, 9 m gap
    phase = float(rng.uniform(0.0, 15.0))
    for lane in range(1, spec.lanes_per_direction):
        for side in (-1.0, 1.0):
            t = side * lane * spec.lane_width_m
            for d0 in np.arange(-phase, L, 15.0):
                for s0, s1 in spans(float(d0), float(d0) + 6.0):
                    fill_polygon(cover, frame.to_px(road.band(t - 0.075, t + 0.075, s0, s1, step=1.0)), 255)
    if crossing:
        hw = spec.half_width_m - 0.3
        for t0 in np.arange(-hw, hw - 0.3, 1.0):
            fill_polygon(cover, frame.to_px(road.band(t0, t0 + 0.45, sc, sc + depth, step=1.0)), 255)
        fill_polygon(cover, frame.to_px(road.band(0.3, edge, sc - 2.5, sc - 2.1, step=0.2)), 255)
        fill_polygon(
            cover, frame.to_px(road.band(-edge, -0.3, sc + depth + 2.1, sc + depth + 2.5, step=0.2)), 255
        )
    cover = np.maximum(cover, yellow)
    return cover, yellow


def paint_surface(road: Road, frame: OrthoFrame, rng: np.random.Generator) -> np.ndarray:
    """Render the intact corridor (no defects) as an ``H x W x 3`` BGR ``uint8`` orthophoto.

    Smooth noise fields are made for the whole raster; per-pixel noise and the
    colour composition run in row chunks, which keeps the float temporaries small.
    """
    gsd = frame.gsd
    shape = (frame.height, frame.width)
    region = _region_map(road, frame)
    low = fractal_noise(shape, rng, cell_px=6.0 / gsd, octaves=3)
    mid = fractal_noise(shape, rng, cell_px=0.4 / gsd, octaves=3)
    wheel = _wheel_path_mask(road, frame, rng)
    stains = np.clip(value_noise(shape, rng, cell_px=1.5 / gsd) * 2.5 - 1.6, 0.0, 1.0)

    # per-seed tones
    asphalt_level = rng.uniform(55.0, 140.0)  # fresh black to old grey
    asphalt_tint = (np.array([1.0, 1.0, 1.0]) + rng.uniform(-0.04, 0.04, 3)).astype(np.float32)
    agg = max(1e-3, 0.02 / gsd * 0.04)  # aggregate density grows when pixels are coarse
    light_agg = agg * rng.uniform(0.6, 1.6)
    wheel_dark = rng.uniform(0.06, 0.16)
    stain_dark = rng.uniform(0.05, 0.18)
    tile = rng.choice([0.3, 0.4, 0.6]) / gsd
    tile_rows = tile / 2 if tile > 12 else tile
    paver_level = rng.uniform(140.0, 185.0)
    grass_bgr = (np.array([55.0, 105.0, 75.0]) * rng.uniform(0.8, 1.1)).astype(np.float32)
    soil_bgr = (np.array([75.0, 105.0, 125.0]) * rng.uniform(0.8, 1.1)).astype(np.float32)
    paver_tint = (np.array([1.0, 1.0, 1.0]) + rng.uniform(-0.06, 0.06, 3)).astype(np.float32)

    out = np.empty((*shape, 3), np.uint8)
    cols = np.arange(frame.width)[None, :]
    for r0 in range(0, frame.height, 256):
        sl = slice(r0, min(frame.height, r0 + 256))
        n = sl.stop - sl.start
        lo, mi, reg = low[sl], mid[sl], region[sl]
        fine = rng.standard_normal((n, frame.width), dtype=np.float32)
        speck = rng.random((n, frame.width), dtype=np.float32)
        # asphalt: tone variation, aggregate speckle, darker wheel paths and stains
        lum = asphalt_level * (1.0 + 0.10 * lo + 0.06 * mi + 0.07 * fine)
        lum += np.where(speck < light_agg, 45.0, 0.0).astype(np.float32)
        lum -= np.where(speck > 1.0 - agg * 0.8, 35.0, 0.0).astype(np.float32)
        lum *= 1.0 - wheel_dark * wheel[sl] * (0.6 + 0.4 * lo)
        lum *= 1.0 - stain_dark * stains[sl]
        rgb = lum[..., None] * asphalt_tint
        # sidewalk pavers with joints, kerb stones, grass with bare soil
        rows = np.arange(sl.start, sl.stop)[:, None]
        joints = ((cols % tile) < 1.0) | ((rows % tile_rows) < 1.0)
        paver = paver_level * (1.0 + 0.06 * lo + 0.05 * mi + 0.05 * fine) * np.where(joints, 0.72, 1.0)
        rgb = np.where((reg == SIDEWALK)[..., None], paver[..., None].astype(np.float32) * paver_tint, rgb)
        kerb = 185.0 * (1.0 + 0.03 * mi + 0.03 * fine) * np.where((cols % (1.0 / gsd)) < 1.0, 0.8, 1.0)
        rgb = np.where((reg == KERB)[..., None], kerb[..., None].astype(np.float32), rgb)
        soil = np.clip(lo * 2.0 + 0.4, 0.0, 1.0)[..., None]
        veg = (1.0 + 0.25 * lo + 0.15 * mi + 0.12 * fine)[..., None] * (
            (1 - soil) * grass_bgr + soil * soil_bgr
        )
        rgb = np.where((reg == VERGE)[..., None], veg, rgb)
        out[sl] = np.clip(rgb, 0, 255).astype(np.uint8)

    # paint: worn white and yellow lines
    cover, yellow = _marking_mask(road, frame, rng)
    ys, xs = np.nonzero(cover)
    grain = np.abs(rng.standard_normal(len(ys))) * rng.uniform(0.2, 1.0)
    wear = np.clip(1.0 - 0.5 * (mid[ys, xs] + 0.3) - 0.25 * grain, 0.2, 1.0)
    alpha = (cover[ys, xs] / 255.0 * wear * rng.uniform(0.75, 0.95))[:, None]
    paint = np.where((yellow[ys, xs] > 0)[:, None], _YELLOW, _WHITE)
    out[ys, xs] = np.clip(out[ys, xs] * (1 - alpha) + paint * alpha, 0, 255).astype(np.uint8)
    return out
