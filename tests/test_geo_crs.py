"""The local metric frame: metres, true north and the meridian convergence away from the centre."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
from fixtures_geo import GEOD, ORIGIN_LAT, ORIGIN_LON, offset_lonlat

from geo import GeoError, LocalFrame
from geo.crs import TangentOffsets, cgcs2000_3deg_crs, measurement_crs, rotate_en_to_grid, utm_crs


def test_round_trip_and_metric_distances():
    frame = LocalFrame.centred_on(np.array([ORIGIN_LON]), np.array([ORIGIN_LAT]))
    lon, lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, 300.0, -400.0)
    x, y = frame.to_local(np.array([lon]), np.array([lat]))
    assert (x[0], y[0]) == pytest.approx((300.0, -400.0), abs=1e-6)  # aeqd: exact from the centre
    back = frame.to_lonlat(x, y)
    assert (back[0][0], back[1][0]) == pytest.approx((lon, lat), abs=1e-12)


def test_grid_north_azimuth_matches_meridian_convergence():
    frame = LocalFrame.centred_on(np.array([ORIGIN_LON]), np.array([ORIGIN_LAT]))
    east_lon, east_lat = offset_lonlat(ORIGIN_LON, ORIGIN_LAT, 10_000.0, 0.0)
    lons, lats = np.array([ORIGIN_LON, east_lon]), np.array([ORIGIN_LAT, east_lat])
    _, _, azimuth = frame.to_local_with_north(lons, lats)
    assert azimuth[0] == pytest.approx(0.0, abs=1e-7)
    # East of the centre, meridians converge towards the pole: true north leans grid-west (~ -dlon sin lat).
    expected = -np.radians(east_lon - ORIGIN_LON) * np.sin(np.radians(ORIGIN_LAT))
    assert azimuth[1] == pytest.approx(expected, rel=0.02)
    # A true-north metre there, rotated into the grid, is a geodesic metre due north.
    dx, dy = rotate_en_to_grid(np.array([0.0]), np.array([100.0]), azimuth[1:])
    x, y, _ = frame.to_local_with_north(np.array([east_lon]), np.array([east_lat]))
    lon2, lat2 = frame.to_lonlat(x + dx, y + dy)
    az, _, dist = GEOD.inv(east_lon, east_lat, lon2[0], lat2[0])
    assert dist == pytest.approx(100.0, abs=1e-3) and az == pytest.approx(0.0, abs=1e-4)


def test_no_positions_is_an_error():
    with pytest.raises(GeoError, match="no finite lon/lat"):
        LocalFrame.centred_on(np.array([np.nan]), np.array([np.nan]))


@pytest.mark.parametrize(
    ("lon", "lat", "epsg"),
    [
        (120.15, 30.27, 32651),  # Hangzhou
        (-43.17, -22.91, 32723),  # Rio de Janeiro: southern hemisphere
        (5.3, 60.4, 32632),  # Bergen: the Norway exception (would be 31)
        (15.6, 78.2, 32633),  # Longyearbyen: Svalbard
        (179.9, 10.0, 32660),
    ],
)
def test_utm_zone_from_longitude(lon: float, lat: float, epsg: int):
    assert utm_crs(lon, lat).to_epsg() == epsg
    assert measurement_crs(lon, lat).to_epsg() == epsg


@pytest.mark.parametrize(("lon", "cm"), [(120.15, 120), (121.6, 123), (75.0, 75), (134.9, 135), (116.4, 117)])
def test_cgcs2000_three_degree_zone_by_central_meridian(lon: float, cm: int):
    crs = cgcs2000_3deg_crs(lon)
    assert "CGCS2000" in crs.name and f"CM {cm}E" in crs.name
    assert measurement_crs(lon, 30.0, "cgcs2000") == crs
    # Gauss-Kruger (scale 1 on the CM): 100 m measure 100 m within the zone's scale error,
    # at most (1.5 deg * cos(lat))^2 / 2 = 2.6e-4 at the edge of a 3-degree zone at 30N.
    to = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    lon2, lat2 = offset_lonlat(lon, 30.0, 100.0, 0.0)
    x1, y1 = to.transform(lon, 30.0)
    x2, y2 = to.transform(lon2, lat2)
    assert np.hypot(x2 - x1, y2 - y1) == pytest.approx(100.0, rel=3e-4)


def test_crs_outside_their_range_are_errors():
    with pytest.raises(GeoError, match="outside the CGCS2000 3-degree zones"):
        cgcs2000_3deg_crs(2.35)
    with pytest.raises(GeoError, match="outside UTM's latitude range"):
        utm_crs(0.0, 87.0)
    with pytest.raises(GeoError, match="expected 'utm' or 'cgcs2000'"):
        measurement_crs(120.0, 30.0, "gk6")


def test_tangent_offsets_match_geodesics_to_a_millimetre_at_a_kilometre():
    rng = np.random.default_rng(0)
    east, north = rng.uniform(-1000, 1000, (2, 200))
    t = TangentOffsets.at(np.array([ORIGIN_LON]), np.array([ORIGIN_LAT]))
    lon, lat = t.to_lonlat(east, north)
    truth = np.array([offset_lonlat(ORIGIN_LON, ORIGIN_LAT, e, n) for e, n in zip(east, north, strict=True)])
    _, _, d = GEOD.inv(lon, lat, truth[:, 0], truth[:, 1])
    assert float(np.max(d)) < 1e-3
