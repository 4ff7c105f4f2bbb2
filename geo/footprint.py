"""The ground area a frame sees, for coverage maps.

:func:`frame_footprints` does every frame of a batch in one vectorised pass
(the same kernel as the detections, ``4 * per_edge`` border rays per frame);
:func:`frame_footprint` is the one-frame convenience returning a polygon.

Example:
    >>> from capture import Pose
    >>> from hardware.profiles import load_camera_profile
    >>> cam = CameraModel.from_profile(load_camera_profile("dji_m3e_wide"), 1920, 1080)
    >>> poly = frame_footprint(Pose(1.7e9, 30.27, 120.15, alt_agl=30.0, camera_pitch=-90.0), cam)
    >>> poly.is_valid
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from shapely.geometry import Polygon

from capture import Pose
from geo.camera import CameraModel
from geo.camera_poses import CameraPoses
from geo.dem import Terrain
from geo.georeference import cast_pixels
from geo.raycast import DEFAULT_MAX_RANGE_M


def _border_pixels(width: int, height: int, per_edge: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel positions going clockwise around the image border (top, right, bottom, left)."""
    s = np.linspace(0.0, 1.0, per_edge, endpoint=False)
    u = np.concatenate([s * width, np.full_like(s, width), (1 - s) * width, np.zeros_like(s)])
    v = np.concatenate([np.zeros_like(s), s * height, np.full_like(s, height), (1 - s) * height])
    return u, v


@dataclass(frozen=True)
class FrameFootprints:
    """Border rays of ``F`` frames on the ground: ``lonlat`` ``(F, K, 2)``, NaN where ``hit`` is False."""

    lonlat: np.ndarray
    hit: np.ndarray  # (F, K)

    def polygon(self, i: int) -> Polygon | None:
        """Frame ``i``'s ground polygon (WGS84), ``None`` when fewer than three border rays hit."""
        pts = self.lonlat[i][self.hit[i]]
        if len(pts) < 3:
            return None
        poly = Polygon(pts)
        return poly if poly.is_valid else poly.buffer(0)


def frame_footprints(
    poses: CameraPoses,
    camera: CameraModel,
    *,
    per_edge: int = 8,
    max_range_m: float = DEFAULT_MAX_RANGE_M,
    terrain: Terrain | None = None,
) -> FrameFootprints:
    """Ground footprints of every frame of ``poses`` in one pass (unlocated frames: no hits).

    The image border is sampled ``per_edge`` times per side. For an oblique
    camera the part of the border at or above the horizon (or beyond
    ``max_range_m``) is left out, so the polygon is the visible ground up to that range.
    With ``terrain`` the border rays meet the DEM (hills hide what lies behind them).
    """
    u, v = _border_pixels(camera.width, camera.height, per_edge)
    n_frames, k = len(poses), len(u)
    lonlat = np.full((n_frames, k, 2), np.nan)
    hit = np.zeros((n_frames, k), bool)
    rows = np.flatnonzero(poses.located)
    if rows.size:
        camera_z = None
        if terrain is not None:
            camera_z = terrain.camera_elevation(
                poses.lon, poses.lat, poses.height_m, poses.alt_msl, mounted=poses.mounted
            )
        g = cast_pixels(
            np.broadcast_to(u, (rows.size, k)),
            np.broadcast_to(v, (rows.size, k)),
            rows,
            poses,
            camera,
            max_range_m=max_range_m,
            terrain=terrain,
            camera_z=camera_z,
        )
        hit[rows] = g.hit
        lonlat[rows] = np.where(g.hit[..., None], np.stack([g.lon, g.lat], axis=-1), np.nan)
    return FrameFootprints(lonlat, hit)


def frame_footprint(
    pose: Pose | None,
    camera: CameraModel,
    *,
    per_edge: int = 8,
    max_range_m: float = DEFAULT_MAX_RANGE_M,
) -> Polygon | None:
    """Ground polygon (WGS84 lon/lat) seen by ``camera`` at ``pose``; ``None`` if unlocated."""
    poses = CameraPoses.from_poses([pose], camera, [pose.time_utc if pose is not None else np.nan])
    return frame_footprints(poses, camera, per_edge=per_edge, max_range_m=max_range_m).polygon(0)
