"""Vectorised ray casting from camera pixels onto flat ground.

The ground is the plane at the take-off elevation; a camera ``height_m`` above
it looks along the earth-frame angles of ``docs/architecture.md``. Rays at or
above the horizon, and rays that would meet the ground further than
``max_range_m`` away (grazing rays whose position is meaningless), are
*rejected*: their outputs are NaN and ``hit`` is False; nothing is ever
projected to infinity.

Example:
    >>> import numpy as np
    >>> hits = cast_rays(np.zeros(1), np.zeros(1), lon=np.array([120.15]), lat=np.array([30.27]),
    ...                  height_m=np.array([30.0]), yaw_deg=np.zeros(1), pitch_deg=np.array([-90.0]),
    ...                  roll_deg=np.zeros(1))
    >>> bool(hits.hit[0]), round(float(hits.lon[0]), 6), round(float(hits.lat[0]), 6)
    (True, 120.15, 30.27)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from geo.camera import camera_axes
from geo.crs import LocalFrame, rotate_en_to_grid

DEFAULT_MAX_RANGE_M = 1000.0


@dataclass(frozen=True)
class GroundOffsets:
    """Where rays meet the ground, as true east/north metres from the point under the camera."""

    east: np.ndarray
    north: np.ndarray
    slant_m: np.ndarray  # camera -> ground point distance
    hit: np.ndarray  # bool; False: at/above the horizon, behind the camera, or beyond max range

    @property
    def ground_m(self) -> np.ndarray:
        """Horizontal distance from the nadir point (NaN where missed)."""
        return np.hypot(self.east, self.north)


@dataclass(frozen=True)
class GroundHits(GroundOffsets):
    """Ground points with their WGS84 positions (NaN where missed)."""

    lon: np.ndarray
    lat: np.ndarray
    x: np.ndarray  # local metric CRS of ``frame``
    y: np.ndarray
    frame: LocalFrame


def ground_offsets(
    x_norm: npt.ArrayLike,
    y_norm: npt.ArrayLike,
    height_m: npt.ArrayLike,
    yaw_deg: npt.ArrayLike,
    pitch_deg: npt.ArrayLike,
    roll_deg: npt.ArrayLike,
    *,
    max_range_m: float = DEFAULT_MAX_RANGE_M,
) -> GroundOffsets:
    """Intersect rays through normalised image points with the ground plane (pure NumPy).

    All arguments broadcast to one shape ``(N,)`` (scalars to ``(1,)``): one pose per point.
    ``x_norm = (u - cx)/fx`` and ``y_norm = (v - cy)/fy``.
    """
    inputs = (x_norm, y_norm, height_m, yaw_deg, pitch_deg, roll_deg)
    x_norm, y_norm, height_m, yaw_deg, pitch_deg, roll_deg = np.broadcast_arrays(
        *(np.atleast_1d(np.asarray(a, np.float64)) for a in inputs)
    )
    f, r, d = camera_axes(yaw_deg, pitch_deg, roll_deg)
    ray = x_norm[..., None] * r + y_norm[..., None] * d + f
    down = -ray[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        # The camera-side coefficient of the ray is +1 along f, so t > 0 is in
        # front of the camera; down <= 0 means at or above the horizon.
        t = np.where(down > 0, height_m / down, np.nan)
        east = t * ray[..., 0]
        north = t * ray[..., 1]
        slant = t * np.linalg.norm(ray, axis=-1)
    hit = np.isfinite(t) & (t > 0) & (height_m > 0) & (np.hypot(east, north) <= max_range_m)
    nan = np.full_like(t, np.nan)
    return GroundOffsets(
        east=np.where(hit, east, nan),
        north=np.where(hit, north, nan),
        slant_m=np.where(hit, slant, nan),
        hit=hit,
    )


def cast_rays(
    x_norm: npt.ArrayLike,
    y_norm: npt.ArrayLike,
    *,
    lon: npt.ArrayLike,
    lat: npt.ArrayLike,
    height_m: npt.ArrayLike,
    yaw_deg: npt.ArrayLike,
    pitch_deg: npt.ArrayLike,
    roll_deg: npt.ArrayLike,
    frame: LocalFrame | None = None,
    max_range_m: float = DEFAULT_MAX_RANGE_M,
) -> GroundHits:
    """Ground points in WGS84 for rays from cameras at ``lon``/``lat`` (one camera per point).

    Works in a local azimuthal equidistant frame centred on the batch (or
    ``frame``): one PROJ call places the cameras and measures the grid azimuth
    of true north at each, one more brings the ground points back to lon/lat.
    """
    offsets = ground_offsets(x_norm, y_norm, height_m, yaw_deg, pitch_deg, roll_deg, max_range_m=max_range_m)
    lon_a, lat_a = np.broadcast_arrays(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
    lon_a = np.broadcast_to(lon_a, offsets.hit.shape).ravel()
    lat_a = np.broadcast_to(lat_a, offsets.hit.shape).ravel()
    frame = frame or LocalFrame.centred_on(lon_a, lat_a)
    cam_x, cam_y, north_az = frame.to_local_with_north(lon_a, lat_a)
    dx, dy = rotate_en_to_grid(offsets.east.ravel(), offsets.north.ravel(), north_az)
    x, y = cam_x + dx, cam_y + dy
    out_lon, out_lat = frame.to_lonlat(x, y)
    hit = offsets.hit.ravel()
    return GroundHits(
        east=offsets.east.ravel(),
        north=offsets.north.ravel(),
        slant_m=offsets.slant_m.ravel(),
        hit=hit,
        lon=np.where(hit, out_lon, np.nan),
        lat=np.where(hit, out_lat, np.nan),
        x=x,
        y=y,
        frame=frame,
    )
