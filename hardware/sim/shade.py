"""Shadows of roadside buildings reaching across the road (painted last, over objects too).

Long straight-edged shadows with a soft penumbra and a bluish skylight tint
are common in urban drone imagery; defects inside them stay labelled, so a
detector learns to see through the shade.
"""

from __future__ import annotations

import numpy as np

from hardware.sim.ortho import OrthoFrame
from hardware.sim.paint import PaintContext
from hardware.sim.road import Road


def paint_building_shadows(
    image: np.ndarray,
    frame: OrthoFrame,
    road: Road,
    shadow_dir: np.ndarray,
    rng: np.random.Generator,
    *,
    probability: float = 0.3,
) -> int:
    """With ``probability``, paint 1-2 building shadows from a kerb into the road; returns how many."""
    if rng.random() >= probability:
        return 0
    spec = road.spec
    count = int(rng.integers(1, 3))
    for _ in range(count):
        length = float(rng.uniform(8.0, 25.0))
        s0 = float(rng.uniform(0.0, max(1.0, spec.length_m - length)))
        side = float(rng.choice([-1.0, 1.0]))
        outer = side * (spec.half_corridor_m + 1.0)
        reach = side * (spec.half_width_m - rng.uniform(1.0, 6.0))  # how far into the road it falls
        s_mid = s0 + length / 2
        ctx = PaintContext(
            image,
            frame,
            road.point(s_mid, 0.0),
            road.tangent(s_mid)[0],
            road.normal(s_mid)[0],
            shadow_dir,
            rng,
        )
        # outline in the object frame (u along, v right): a slanted building edge
        slant = float(rng.uniform(-0.3, 0.3)) * length
        poly = np.array(
            [
                [-length / 2, outer],
                [length / 2, outer],
                [length / 2, reach + slant / 10],
                [-length / 2, reach - slant / 10],
            ]
        )
        crop = ctx.crop(poly, 0.5)
        m = crop.mask(ctx.to_px(poly), blur_px=max(1.0, 0.12 * ctx.px_per_m))
        crop.darken(float(rng.uniform(0.35, 0.55)) * m)
        crop.img[..., 0] *= 1.0 + 0.08 * m  # lit by blue skylight only
        crop.commit()
    return count
