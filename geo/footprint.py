"""The ground area a frame sees, for coverage maps.

Example:
    >>> from capture import Pose
    >>> from hardware.profiles import load_camera_profile
    >>> cam = CameraModel.from_profile(load_camera_profile("dji_m3e_wide"), 1920, 1080)
    >>> poly = frame_footprint(Pose(1.7e9, 30.27, 120.15, alt_agl=30.0, camera_pitch=-90.0), cam)
    >>> poly.is_valid
    True
"""

from __future__ import annotations

import numpy as np
from shapely.geometry import Polygon

from capture import Pose
from geo.camera import CameraModel
from geo.georeference import camera_pose
from geo.raycast import DEFAULT_MAX_RANGE_M, cast_rays


def _border_pixels(width: int, height: int, per_edge: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions going clockwise around the image border (top, right, bottom, left)."""
    s = np.linspace(0.0, 1.0, per_edge, endpoint=False)
    u = np.concatenate([s * width, np.full_like(s, width), (1 - s) * width, np.zeros_like(s)])
    v = np.concatenate([np.zeros_like(s), s * height, np.full_like(s, height), (1 - s) * height])
    return u, v


def frame_footprint(
    pose: Pose | None,
    camera: CameraModel,
    *,
    per_edge: int = 8,
    max_range_m: float = DEFAULT_MAX_RANGE_M,
) -> Polygon | None:
    """Ground polygon (WGS84 lon/lat) seen by ``camera`` at ``pose``; ``None`` if unlocated.

    The image border is sampled ``per_edge`` times per side. For an oblique
    camera the part of the border at or above the horizon (or beyond
    ``max_range_m``) is left out, so the polygon is the visible ground up to
    that range; ``None`` when fewer than three border rays reach the ground.
    """
    cp = camera_pose(pose, camera)
    if cp is None:
        return None
    u, v = _border_pixels(camera.width, camera.height, per_edge)
    xn, yn = camera.normalized(u, v)
    hits = cast_rays(
        xn,
        yn,
        lon=np.full(u.shape, cp.lon),
        lat=np.full(u.shape, cp.lat),
        height_m=cp.height_m,
        yaw_deg=cp.yaw_deg,
        pitch_deg=cp.pitch_deg,
        roll_deg=cp.roll_deg,
        max_range_m=max_range_m,
    )
    if int(hits.hit.sum()) < 3:
        return None
    poly = Polygon(np.column_stack([hits.lon[hits.hit], hits.lat[hits.hit]]))
    return poly if poly.is_valid else poly.buffer(0)
