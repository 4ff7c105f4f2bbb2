"""The case map as pydeck layers, aggregated on the server so 100,000 cases stay smooth.

The browser gets at most :data:`POINT_LIMIT` case points. With more cases in
view, the server bins them into at most ``GRID_SIDE x GRID_SIDE`` cells of the
view's bounding box (NumPy, one pass) and sends the cells: count and worst
severity each. Picking cells on the map (selection) narrows the area filter to
them, which is how a user "zooms in" until single cases appear. Frame
footprints (what a run actually looked at) and the camera tracks are drawn when
the case book has a ``coverage`` layer, capped at :data:`COVERAGE_LIMIT`
footprints (the cap is reported, never silent).

Without a map style there is no basemap (works offline, no tiles); with a
MapLibre style URL there is. GCJ-02 is applied to the *displayed* coordinates
only, and only when the basemap is a Chinese one (``gcj02=True``).

Example:
    >>> view = build_case_map(shown_cases, coverage=None, tracks=None)  # doctest: +SKIP
    >>> view.mode, view.points_sent  # doctest: +SKIP
    ('points', 42)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pydeck as pdk
import shapely

from dashboard.filters import bbox_wkt
from dashboard.palette import class_color
from geo.gcj02 import wgs84_to_gcj02

POINT_LIMIT = 3000  # case points sent to the browser at most; more are aggregated
GRID_SIDE = 64  # cells per side of the aggregation grid at most
COVERAGE_LIMIT = 2000  # frame footprints drawn at most (evenly thinned, reported)
DISPLAY_DECIMALS = 7
SEVERITY_COLORS = {1: [255, 196, 0], 2: [255, 112, 0], 3: [214, 24, 48]}
POINT_LAYER_ID = "cases"
CELL_LAYER_ID = "cells"
TOOLTIP_HTML = (
    "{tooltip}"  # each layer fills one prepared text column: no template left with raw {placeholders}
)


@dataclass(frozen=True)
class CaseMap:
    """The deck and what went into it (for the page's captions and the tests)."""

    deck: pdk.Deck
    mode: str  # "points" | "grid" | "empty"
    points_sent: int
    cells_sent: int
    coverage_sent: int
    coverage_total: int
    tracks_sent: int


@dataclass(frozen=True)
class MapPick:
    """What the user picked on the map: an area (the bounding box of picked cells) and/or a case."""

    area_wkt: str | None = None
    case_id: str | None = None


def map_pick(state: Mapping[str, Any] | None) -> MapPick:
    """Read ``st.pydeck_chart``'s selection state (``{"selection": {"objects": {layer id: [...]}}}``)."""
    objects = ((state or {}).get("selection") or {}).get("objects") or {}
    cells = objects.get(CELL_LAYER_ID) or []
    area = None
    if cells:
        area = bbox_wkt(
            min(float(c["min_lon"]) for c in cells),
            min(float(c["min_lat"]) for c in cells),
            max(float(c["max_lon"]) for c in cells),
            max(float(c["max_lat"]) for c in cells),
        )
    points = objects.get(POINT_LAYER_ID) or []
    return MapPick(area, str(points[-1]["case_id"]) if points else None)


def display_lonlat(lon: np.ndarray, lat: np.ndarray, gcj02: bool) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates as the basemap wants them: GCJ-02 for a Chinese basemap, WGS84 otherwise.

    Rounded to 1e-7 degrees (about 1 cm): the JSON sent to the browser shrinks by a third.
    """
    x, y = np.asarray(lon, np.float64), np.asarray(lat, np.float64)
    if gcj02:
        x, y = wgs84_to_gcj02(x, y)
    return np.round(x, DISPLAY_DECIMALS), np.round(y, DISPLAY_DECIMALS)


def grid_cells(lon: np.ndarray, lat: np.ndarray, severity: np.ndarray, side: int = GRID_SIDE) -> pd.DataFrame:
    """Counts and worst severity per square-ish cell of the points' bounding box (empty cells left out).

    Columns ``min_lon, min_lat, max_lon, max_lat, count, max_severity``.
    """
    columns = ["min_lon", "min_lat", "max_lon", "max_lat", "count", "max_severity"]
    if len(lon) == 0:
        return pd.DataFrame(columns=columns)
    lon0, lat0 = float(lon.min()), float(lat.min())
    span = max(float(lon.max()) - lon0, float(lat.max()) - lat0, 1e-6)
    step = span / side * (1 + 1e-9)  # the max point falls in the last cell, not past it
    ix = np.floor((lon - lon0) / step).astype(np.int64)
    iy = np.floor((lat - lat0) / step).astype(np.int64)
    key = ix * (side + 1) + iy
    cells, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    worst = np.zeros(len(cells), dtype=np.int64)
    np.maximum.at(worst, inverse, severity.astype(np.int64))
    cx, cy = cells // (side + 1), cells % (side + 1)
    return pd.DataFrame(
        {
            "min_lon": lon0 + cx * step,
            "min_lat": lat0 + cy * step,
            "max_lon": lon0 + (cx + 1) * step,
            "max_lat": lat0 + (cy + 1) * step,
            "count": counts,
            "max_severity": worst,
        }
    )


def _view(
    lon: np.ndarray, lat: np.ndarray, width_px: float = 900.0, height_px: float = 560.0
) -> pdk.ViewState:
    """A view that fits the points into a map of about ``width_px`` x ``height_px``."""
    if len(lon) == 0:
        return pdk.ViewState(latitude=30.27, longitude=120.15, zoom=12)
    mid_lon = float((lon.max() + lon.min()) / 2)
    mid_lat = float((lat.max() + lat.min()) / 2)
    # Web Mercator: at zoom z the world is 256 * 2**z px wide; a degree of latitude is 1/cos(lat)
    # times longer on screen than a degree of longitude.
    stretch = 1.0 / max(math.cos(math.radians(mid_lat)), 0.05)
    need_x = max(float(lon.max() - lon.min()), 1e-6) / width_px
    need_y = max(float(lat.max() - lat.min()), 1e-6) * stretch / height_px
    zoom = math.log2(360.0 / 256.0 / max(need_x, need_y)) - 0.5  # a little margin
    return pdk.ViewState(latitude=mid_lat, longitude=mid_lon, zoom=min(19.0, max(2.0, zoom)))


def point_rows(shown: pd.DataFrame, *, color_by: str, gcj02: bool) -> pd.DataFrame:
    """Plain columns of case points for pydeck (position, colour, tooltip text, case id)."""
    x, y = display_lonlat(shown["lon"].to_numpy(), shown["lat"].to_numpy(), gcj02)
    if color_by == "severity":
        colors = shown["severity"].map(lambda s: SEVERITY_COLORS.get(int(s), [128, 128, 128]))
    else:
        colors = shown["class_id"].map(class_color)
    stake = shown["stake"].fillna("").astype(str)
    road = shown["road_name"].fillna("").astype(str)
    where = np.where(stake.to_numpy() != "", road.to_numpy() + " " + stake.to_numpy(), road.to_numpy())
    names = "<b>" + shown["name_zh"].astype(str) + "</b> " + shown["name_en"].astype(str)
    state = shown["status"].astype(str) + " · severity " + shown["severity"].astype(str)
    place = pd.Series(where, index=shown.index)
    tooltip = (
        names + "<br/>" + state + "<br/>" + place + "<br/><small>" + shown["case_id"].astype(str) + "</small>"
    )
    return pd.DataFrame(
        {
            "case_id": shown["case_id"].to_numpy(),
            "lon": x,
            "lat": y,
            "color": colors.to_numpy(),
            "tooltip": tooltip.to_numpy(),
        }
    )


def cell_rows(cells: pd.DataFrame, *, gcj02: bool) -> pd.DataFrame:
    """Cells as polygons (display coordinates) with their WGS84 bounds kept for picking."""
    x0, y0 = display_lonlat(cells["min_lon"].to_numpy(), cells["min_lat"].to_numpy(), gcj02)
    x1, y1 = display_lonlat(cells["max_lon"].to_numpy(), cells["max_lat"].to_numpy(), gcj02)
    rings = np.stack(
        [np.stack([x0, y0], 1), np.stack([x1, y0], 1), np.stack([x1, y1], 1), np.stack([x0, y1], 1)], 1
    )
    counts = cells["count"].to_numpy()
    # log scale: a cell of 1 and a cell of 1,000 both stay visible
    weight = np.log1p(counts) / max(np.log1p(counts.max()), 1e-9)
    sev = cells["max_severity"].to_numpy()
    # density ramp, light yellow (few) to deep red (many); the worst severity is in the tooltip
    low, high = np.array([255.0, 224.0, 130.0]), np.array([190.0, 0.0, 38.0])
    rgb = (low[None, :] + weight[:, None] * (high - low)[None, :]).astype(int)
    alpha = (110 + 120 * weight).astype(int)
    colors = np.column_stack([rgb, alpha]).tolist()
    return pd.DataFrame(
        {
            "polygon": rings.tolist(),
            "color": colors,
            "count": counts,
            "min_lon": cells["min_lon"].to_numpy(),
            "min_lat": cells["min_lat"].to_numpy(),
            "max_lon": cells["max_lon"].to_numpy(),
            "max_lat": cells["max_lat"].to_numpy(),
            "tooltip": [
                f"<b>{c} cases</b><br/>worst severity {s}<br/>pick to zoom in"
                for c, s in zip(counts, sev, strict=True)
            ],
        }
    )


def _coverage_rows(coverage: gpd.GeoDataFrame, gcj02: bool) -> tuple[pd.DataFrame, int]:
    total = len(coverage)
    stride = max(1, math.ceil(total / COVERAGE_LIMIT))
    kept = coverage.iloc[::stride]
    rings = shapely.get_exterior_ring(kept.geometry.to_numpy())
    coords, index = shapely.get_coordinates(rings, return_index=True)
    x, y = display_lonlat(coords[:, 0], coords[:, 1], gcj02)
    xy = np.column_stack([x, y])
    splits = np.flatnonzero(np.diff(index)) + 1
    polygons = [part.tolist() for part in np.split(xy, splits)]
    return pd.DataFrame({"polygon": polygons, "mission_id": kept["mission_id"].to_numpy()}), total


def build_case_map(
    shown: pd.DataFrame,
    *,
    coverage: gpd.GeoDataFrame | None = None,
    tracks: pd.DataFrame | None = None,
    map_style: str | None = None,
    gcj02: bool = False,
    color_by: str = "class",
    point_limit: int = POINT_LIMIT,
) -> CaseMap:
    """The deck for the cases in ``shown`` (already filtered) plus coverage and tracks when given."""
    layers: list[pdk.Layer] = []
    coverage_sent = coverage_total = tracks_sent = 0
    if coverage is not None and len(coverage):
        rows, coverage_total = _coverage_rows(coverage, gcj02)
        coverage_sent = len(rows)
        layers.append(
            pdk.Layer(
                "PolygonLayer",
                id="coverage",
                data=rows,
                get_polygon="polygon",
                filled=True,
                stroked=False,
                get_fill_color=[30, 136, 229, 40],
                pickable=False,
            )
        )
    if tracks is not None and len(tracks):
        data = tracks[["mission_id", "source_id", "path"]].copy()
        data["path"] = [
            np.column_stack(display_lonlat(np.array(p)[:, 0], np.array(p)[:, 1], gcj02)).tolist()
            for p in data["path"]
        ]
        tracks_sent = len(data)
        layers.append(
            pdk.Layer(
                "PathLayer",
                id="tracks",
                data=data,
                get_path="path",
                get_color=[0, 77, 64],
                width_min_pixels=2,
                pickable=False,
            )
        )
    lon, lat = shown["lon"].to_numpy(), shown["lat"].to_numpy()
    points_sent = cells_sent = 0
    if shown.empty:
        mode = "empty"
    elif len(shown) <= point_limit:
        mode = "points"
        rows = point_rows(shown, color_by=color_by, gcj02=gcj02)
        points_sent = len(rows)
        layers.append(
            pdk.Layer(
                "ScatterplotLayer",
                id=POINT_LAYER_ID,
                data=rows,
                get_position=["lon", "lat"],
                get_fill_color="color",
                get_radius=2,
                radius_min_pixels=4,
                radius_max_pixels=12,
                stroked=True,
                get_line_color=[40, 40, 40],
                line_width_min_pixels=1,
                pickable=True,
            )
        )
    else:
        mode = "grid"
        cells = cell_rows(grid_cells(lon, lat, shown["severity"].to_numpy()), gcj02=gcj02)
        cells_sent = len(cells)
        layers.append(
            pdk.Layer(
                "PolygonLayer",
                id=CELL_LAYER_ID,
                data=cells,
                get_polygon="polygon",
                get_fill_color="color",
                stroked=True,
                get_line_color=[60, 60, 60, 120],
                line_width_min_pixels=1,
                pickable=True,
                auto_highlight=True,
            )
        )
    vx, vy = display_lonlat(lon, lat, gcj02)
    deck = pdk.Deck(
        layers=layers,
        initial_view_state=_view(vx, vy),
        map_provider="carto" if map_style else None,
        map_style=map_style,
        tooltip={
            "html": TOOLTIP_HTML,
            "style": {"backgroundColor": "#263238", "color": "white", "fontSize": "12px"},
        },
    )
    return CaseMap(deck, mode, points_sent, cells_sent, coverage_sent, coverage_total, tracks_sent)
