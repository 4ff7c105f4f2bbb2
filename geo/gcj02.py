"""GCJ-02 ("Mars coordinates") for display on Chinese basemaps only; never stored.

Basemaps from Chinese providers (AMap/Gaode, Tencent) are drawn in GCJ-02, an
obfuscated offset of WGS84 (a few hundred metres, varying smoothly). roadsight
stores and measures in WGS84 (EPSG:4326); a map that shows such a basemap
converts its *display* copy with :func:`wgs84_to_gcj02`. The forward formula
is the standard public one (as in the eviltransform libraries); the inverse
is found by iteration to < 1e-9 degrees. Outside mainland China (the usual
bounding-box test) both are the identity, as the basemaps there are not offset.

Example:
    >>> lon, lat = wgs84_to_gcj02(np.array([121.5272106]), np.array([31.1774276]))
    >>> round(float(lon[0]), 9), round(float(lat[0]), 9)
    (121.531541859, 31.175303984)
"""

from __future__ import annotations

import numpy as np

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as the formula uses
_EE = 0.00669342162296594323
_INVERSE_TOL_DEG = 1e-9
_INVERSE_MAX_STEPS = 30


def in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The bounding box the public algorithm treats as China (where GCJ-02 differs from WGS84)."""
    lon, lat = np.asarray(lon, np.float64), np.asarray(lat, np.float64)
    return np.asarray((lon >= 72.004) & (lon <= 137.8347) & (lat >= 0.8293) & (lat <= 55.8271))


def _offsets(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = lon - 105.0, lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    sqrt_abs_x = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    dlat = dlat * 180.0 / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * np.pi)
    dlon = dlon * 180.0 / (_A / sqrt_magic * np.cos(rad) * np.pi)
    return dlon, dlat


def wgs84_to_gcj02(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 degrees to GCJ-02 degrees (vectorised); identity outside China."""
    lon, lat = np.asarray(lon, np.float64), np.asarray(lat, np.float64)
    dlon, dlat = _offsets(lon, lat)
    inside = in_china(lon, lat)
    return np.where(inside, lon + dlon, lon), np.where(inside, lat + dlat, lat)


def gcj02_to_wgs84(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 degrees back to WGS84 by fixed-point iteration (to < 1e-9 degrees, ~0.1 mm)."""
    g_lon, g_lat = np.asarray(lon, np.float64), np.asarray(lat, np.float64)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(_INVERSE_MAX_STEPS):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon, e_lat = f_lon - g_lon, f_lat - g_lat
        w_lon, w_lat = w_lon - e_lon, w_lat - e_lat
        if not np.nanmax(np.abs(e_lon) + np.abs(e_lat), initial=0.0) > _INVERSE_TOL_DEG:
            break
    return w_lon, w_lat
