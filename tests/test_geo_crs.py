"""The local metric frame: metres, true north and the meridian convergence away from the centre."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_geo import GEOD, ORIGIN_LAT, ORIGIN_LON, offset_lonlat

from geo import GeoError, LocalFrame
from geo.crs import rotate_en_to_grid


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
