"""Terrain from a DEM GeoTIFF: bilinear elevations and vectorised ray-terrain intersection.

A :class:`Dem` holds one elevation band (metres above mean sea level, NaN
for nodata) with its affine grid and CRS. Rays are cast in the local tangent
frame of each camera (east/north metres); their points go to lon/lat by
:class:`geo.crs.TangentOffsets` and then, explicitly, into the DEM's CRS with a
PROJ transformation built once per DEM. A DEM without a CRS, with a rotated
grid, or in a CRS PROJ cannot reach from WGS84 is refused with a
:class:`GeoError` naming the file and the CRS.

Camera elevation (see :mod:`geo.camera_poses`): drones at ``take-off
elevation + alt_agl``; the take-off elevation is given, or taken from the
telemetry as the median of ``alt_msl - alt_agl`` (GNSS for the datum,
barometer for the motion). Cameras on a vehicle ride the terrain: DEM under
the vehicle + mount height. The DEM's vertical datum must match the
telemetry's ``alt_msl`` (both above mean sea level); that is not checkable
from the file and is the caller's responsibility.

Intersection: march along each ray in steps of the DEM cell size from where
the ray drops below the DEM's highest point, to the first sign change of
``ray height - terrain``, then bisect to 1 mm. Rays that leave the DEM (or
meet nodata) before hitting it, exceed ``max_range_m``, or start below the
terrain are *rejected* (NaN, never a pin).

Example:
    >>> import numpy as np, pyproj
    >>> dem = Dem(np.full((3, 3), 12.0), (1e-3, 0.0, 120.149, 0.0, -1e-3, 30.271), pyproj.CRS.from_epsg(4326))
    >>> float(dem.sample_lonlat(np.array([120.15]), np.array([30.27]))[0])
    12.0
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyproj
from pyproj.exceptions import CRSError, ProjError

from geo.crs import TangentOffsets
from geo.errors import GeoError

_BISECT_TOL_M = 1e-3  # along the ray
_METRES_PER_DEGREE = 111_320.0  # for the step size of a geographic DEM only


@dataclass(frozen=True)
class Dem:
    """Elevations ``(H, W)`` on the grid ``transform`` (GDAL/rasterio order ``a, b, c, d, e, f``)."""

    elevation: np.ndarray
    transform: tuple[float, float, float, float, float, float]
    crs: pyproj.CRS
    source: str = "<array>"
    _to_dem: pyproj.Transformer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        a, b, _, d, e, _ = self.transform
        if b != 0.0 or d != 0.0:
            raise GeoError(f"{self.source}: rotated DEM grids are not supported (transform {self.transform})")
        if a == 0.0 or e == 0.0:
            raise GeoError(f"{self.source}: degenerate DEM transform {self.transform}")
        object.__setattr__(self, "elevation", np.asarray(self.elevation, np.float64))
        if not self.crs.is_geographic and not self.crs.is_projected:
            raise GeoError(
                f"{self.source}: the DEM's CRS {self.crs.name!r} is neither geographic nor projected; "
                "reproject the DEM (e.g. gdalwarp -t_srs EPSG:4326)"
            )
        try:
            to_dem = pyproj.Transformer.from_crs(4326, self.crs, always_xy=True)
        except (CRSError, ProjError) as exc:
            raise GeoError(
                f"{self.source}: cannot transform WGS84 to the DEM's CRS {self.crs.name!r}: {exc}"
            ) from None
        object.__setattr__(self, "_to_dem", to_dem)

    @classmethod
    def open(cls, path: str | Path) -> Dem:
        """Read band 1 of a GeoTIFF (rasterio); nodata becomes NaN."""
        import rasterio
        from rasterio.errors import RasterioIOError

        try:
            with rasterio.open(path) as src:
                band = src.read(1).astype(np.float64)
                if src.nodata is not None:
                    band[band == src.nodata] = np.nan
                if src.crs is None:
                    raise GeoError(f"{path}: the DEM has no CRS; set one (gdal_edit.py -a_srs EPSG:...)")
                crs = pyproj.CRS.from_user_input(src.crs.to_wkt())
                t = src.transform
                transform = (t.a, t.b, t.c, t.d, t.e, t.f)
        except RasterioIOError as exc:
            raise GeoError(f"{path}: cannot read the DEM: {exc}") from None
        return cls(band, transform, crs, str(path))

    @property
    def cell_m(self) -> float:
        """Cell size in metres (the smaller side; degrees converted at the equator's scale)."""
        a, _, _, _, e, _ = self.transform
        size = min(abs(a), abs(e))
        return float(size * _METRES_PER_DEGREE if self.crs.is_geographic else size)

    @property
    def max_elevation(self) -> float:
        return float(np.nanmax(self.elevation)) if np.isfinite(self.elevation).any() else np.nan

    def sample_lonlat(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Bilinear elevation at WGS84 points; NaN outside the grid or next to nodata."""
        x, y = self._to_dem.transform(np.asarray(lon, np.float64), np.asarray(lat, np.float64))
        a, _, c, _, e, f = self.transform
        col = (np.asarray(x) - c) / a - 0.5  # cell centres at half-integers
        row = (np.asarray(y) - f) / e - 0.5
        h, w = self.elevation.shape
        inside = (col >= 0) & (col <= w - 1) & (row >= 0) & (row <= h - 1)
        c0 = np.clip(np.floor(np.where(inside, col, 0)).astype(np.intp), 0, max(w - 2, 0))
        r0 = np.clip(np.floor(np.where(inside, row, 0)).astype(np.intp), 0, max(h - 2, 0))
        fc = np.where(inside, col, 0) - c0
        fr = np.where(inside, row, 0) - r0
        c1 = np.minimum(c0 + 1, w - 1)
        r1 = np.minimum(r0 + 1, h - 1)
        z = self.elevation
        top = z[r0, c0] * (1 - fc) + z[r0, c1] * fc
        bottom = z[r1, c0] * (1 - fc) + z[r1, c1] * fc
        return np.where(inside, top * (1 - fr) + bottom * fr, np.nan)


@dataclass(frozen=True)
class TerrainHits:
    """Ray-terrain intersections: offsets from the camera and the camera's height above the hit."""

    east: np.ndarray
    north: np.ndarray
    hit: np.ndarray
    height_above_m: np.ndarray


@dataclass(frozen=True)
class Terrain:
    """A DEM and how cameras are placed above it (``takeoff_elevation_m``: see the module docstring)."""

    dem: Dem
    takeoff_elevation_m: float | None = None

    def camera_elevation(
        self,
        lon: np.ndarray,
        lat: np.ndarray,
        height_m: np.ndarray,
        alt_msl: np.ndarray,
        *,
        mounted: bool,
    ) -> np.ndarray:
        """Camera elevations (metres above mean sea level) of frames; NaN where unknown."""
        if mounted:
            return np.asarray(self.dem.sample_lonlat(lon, lat) + height_m)
        takeoff = self.takeoff_elevation_m
        if takeoff is None:
            offsets = alt_msl - height_m
            offsets = offsets[np.isfinite(offsets)]
            if offsets.size == 0:
                raise GeoError(
                    f"terrain {self.dem.source}: the take-off elevation is needed to place the camera over "
                    "the DEM; give takeoff_elevation_m, or telemetry with alt_msl"
                )
            takeoff = float(np.median(offsets))
        return np.asarray(takeoff + height_m)

    def intersect(
        self,
        tangent: TangentOffsets,
        z_cam: np.ndarray,
        rx: np.ndarray,
        ry: np.ndarray,
        rz: np.ndarray,
        *,
        max_range_m: float,
    ) -> TerrainHits:
        """Intersect rays (flat arrays ``(M,)``, one camera each) with the DEM.

        ``tangent`` holds each ray's camera position (coefficients ``(M,)``),
        ``z_cam`` its elevation.
        """
        m = rx.shape[0]
        norm = np.sqrt(rx * rx + ry * ry + rz * rz)
        dx, dy, dz = rx / norm, ry / norm, rz / norm
        horiz = np.hypot(dx, dy)
        with np.errstate(divide="ignore", invalid="ignore"):
            t_max = np.where(horiz > 0, max_range_m / horiz, np.inf)
            # Nothing can be hit before the ray drops below the DEM's highest point.
            t_start = np.where(dz < 0, np.maximum(0.0, (z_cam - self.dem.max_elevation) / -dz), 0.0)
        step = self.dem.cell_m

        def gap(idx: np.ndarray, t: np.ndarray) -> np.ndarray:
            """Ray height above the terrain at ``t`` along rays ``idx`` (NaN off the DEM)."""
            lon, lat = tangent.rows(idx).to_lonlat(t * dx[idx], t * dy[idx])
            return np.asarray(z_cam[idx] + t * dz[idx] - self.dem.sample_lonlat(lon, lat))

        lo = np.full(m, np.nan)
        hi = np.full(m, np.nan)
        idx = np.flatnonzero(np.isfinite(z_cam) & np.isfinite(norm))
        t = t_start[idx]
        above = gap(idx, t) > 0  # a camera under (or off) the terrain hits nothing
        # Only rays that can still come down to the terrain: descending, or level below its top.
        can_hit = (dz[idx] < 0) | (z_cam[idx] <= self.dem.max_elevation)
        idx, t = idx[above & can_hit], t[above & can_hit]
        while idx.size:
            t_next = t + step
            g = gap(idx, t_next)
            crossed = g <= 0
            lo[idx[crossed]], hi[idx[crossed]] = t[crossed], t_next[crossed]
            go_on = (g > 0) & (t_next <= t_max[idx])  # NaN: left the DEM or nodata -> stops, rejected
            idx, t = idx[go_on], t_next[go_on]
        idx = np.flatnonzero(np.isfinite(lo))
        a, b = lo[idx], hi[idx]
        while idx.size and np.max(b - a) > _BISECT_TOL_M:
            mid = 0.5 * (a + b)
            below = ~(gap(idx, mid) > 0)  # NaN at the edge of the DEM counts as "below": stays bracketed
            b = np.where(below, mid, b)
            a = np.where(below, a, mid)
        t_hit = np.full(m, np.nan)
        t_hit[idx] = 0.5 * (a + b)
        east, north = t_hit * dx, t_hit * dy
        hit = np.isfinite(t_hit) & (east * east + north * north <= max_range_m * max_range_m)
        nan = np.full(m, np.nan)
        return TerrainHits(
            east=np.where(hit, east, nan),
            north=np.where(hit, north, nan),
            hit=hit,
            height_above_m=np.where(hit, -t_hit * dz, nan),
        )
