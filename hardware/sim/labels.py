"""Ground truth seen by a camera: each object's projected footprint, clipped to the image.

Example:
    >>> import numpy as np
    >>> from hardware.sim.camera import CameraPose
    >>> from hardware.sim.world import GroundTruthObject
    >>> obj = GroundTruthObject("obj-000", "pothole", 4, (0.0, 0.0),
    ...                         ((-0.5, -0.5), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)), 1.4, 0.1)
    >>> K = np.array([[100.0, 0, 50], [0, 100.0, 50], [0, 0, 1]])
    >>> [round(v, 1) for v in visible_objects([obj], K, CameraPose(0, 0, 10, 0, -90), 100, 100)[0].box]
    [45.0, 45.0, 55.0, 55.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from shapely.geometry import Polygon, box

from hardware.sim.camera import CameraPose, project_ground_points
from hardware.sim.world import GroundTruthObject


@dataclass(frozen=True, slots=True)
class VisibleObject:
    """An object in one image: clipped box ``x1, y1, x2, y2`` (pixels), visible share of its footprint."""

    obj: GroundTruthObject
    box: tuple[float, float, float, float]
    visible_fraction: float
    feature_px: float  # finest feature's width in image pixels


def visible_objects(
    objects: Sequence[GroundTruthObject],
    K: np.ndarray,
    pose: CameraPose,
    width: int,
    height: int,
    *,
    min_visible: float = 0.0,
) -> list[VisibleObject]:
    """Objects whose projected footprint overlaps the image by at least ``min_visible`` (0..1)."""
    frame = box(0.0, 0.0, float(width), float(height))
    out = []
    for obj in objects:
        uv, in_front = project_ground_points(K, pose, np.asarray(obj.footprint_xy))
        if not in_front.all():
            continue  # partly behind the camera: never fully seen from here
        poly = Polygon(uv)
        if not poly.is_valid:
            poly = poly.buffer(0)
        if poly.area <= 0:
            continue
        clipped = poly.intersection(frame)
        frac = clipped.area / poly.area
        if frac <= 0 or frac < min_visible:
            continue
        # pixel scale at the anchor: project a 1 m step there
        c = np.array(
            [
                obj.center_xy,
                (obj.center_xy[0] + 1.0, obj.center_xy[1]),
                (obj.center_xy[0], obj.center_xy[1] + 1.0),
            ]
        )
        cuv, _ = project_ground_points(K, pose, c)
        du, dv = cuv[1] - cuv[0], cuv[2] - cuv[0]
        px_per_m = float(np.sqrt(abs(du[0] * dv[1] - du[1] * dv[0])))
        x1, y1, x2, y2 = clipped.bounds
        out.append(VisibleObject(obj, (x1, y1, x2, y2), float(frac), obj.feature_m * px_per_m))
    return out
