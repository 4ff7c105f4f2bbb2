"""GCJ-02 display conversion: published reference pairs, the inverse, identity outside China."""

from __future__ import annotations

import numpy as np
import pytest
from fixtures_geo import GEOD

from geo.gcj02 import gcj02_to_wgs84, in_china, wgs84_to_gcj02

# (wgs lon, wgs lat) -> (gcj lon, gcj lat): the eviltransform test vectors (Shanghai, Shenzhen, Beijing).
PAIRS = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
]


def test_forward_matches_published_pairs():
    wgs = np.array([p[0] for p in PAIRS])
    gcj = np.array([p[1] for p in PAIRS])
    lon, lat = wgs84_to_gcj02(wgs[:, 0], wgs[:, 1])
    assert np.column_stack([lon, lat]) == pytest.approx(gcj, abs=1e-9)


def test_inverse_recovers_wgs84_to_a_tenth_of_a_millimetre():
    gcj = np.array([p[1] for p in PAIRS])
    wgs = np.array([p[0] for p in PAIRS])
    lon, lat = gcj02_to_wgs84(gcj[:, 0], gcj[:, 1])
    _, _, d = GEOD.inv(lon, lat, wgs[:, 0], wgs[:, 1])
    assert float(np.max(d)) < 1e-4


def test_hangzhou_shift_is_hundreds_of_metres_and_identity_abroad():
    lon, lat = (
        np.array([120.1551, 2.3522, -43.1729, 151.2093]),
        np.array([30.2741, 48.8566, -22.9068, -33.8688]),
    )
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    _, _, shift = GEOD.inv(lon, lat, g_lon, g_lat)
    assert 300.0 < shift[0] < 600.0  # Hangzhou
    assert in_china(lon, lat).tolist() == [True, False, False, False]
    assert (g_lon[1:] == lon[1:]).all() and (g_lat[1:] == lat[1:]).all()  # Paris, Rio, Sydney untouched
    back = gcj02_to_wgs84(g_lon, g_lat)
    assert back[0] == pytest.approx(lon, abs=1e-9) and back[1] == pytest.approx(lat, abs=1e-9)
