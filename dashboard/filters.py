"""Which cases to show: the sidebar filters as a value, applied to the case table in one vectorised pass.

An empty selection means "all" (a manager does not tick 28 classes); the status
filter is explicit and leaves ``rejected`` out by default
(:data:`dashboard.case_table.DEFAULT_STATUSES`). The area is a WGS84 polygon
given as WKT or GeoJSON (text, or a bounding box picked on the map).

Example:
    >>> area = parse_area("POLYGON ((120 30, 121 30, 121 31, 120 31, 120 30))")
    >>> area.bounds
    (120.0, 30.0, 121.0, 31.0)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time

import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from dashboard.case_table import DEFAULT_STATUSES


class AreaError(ValueError):
    """The area text is neither a WKT nor a GeoJSON polygon (the message says what is wrong)."""


def parse_area(text: str) -> BaseGeometry | None:
    """A polygon from WKT (``POLYGON ((lon lat, ...))``) or GeoJSON (geometry or Feature); None if blank."""
    text = text.strip()
    if not text:
        return None
    try:
        if text.startswith("{"):
            obj = json.loads(text)
            if obj.get("type") == "Feature":
                obj = obj.get("geometry") or {}
            geom = shapely.from_geojson(json.dumps(obj))
        else:
            geom = shapely.from_wkt(text)
    except (ValueError, shapely.errors.GEOSException, AttributeError) as exc:
        raise AreaError(f"area: not WKT or GeoJSON ({exc})") from None
    if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
        kind = "empty" if geom is None or geom.is_empty else geom.geom_type
        raise AreaError(f"area: expected a Polygon or MultiPolygon, got {kind}")
    minx, miny, maxx, maxy = geom.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise AreaError(f"area: coordinates must be WGS84 lon/lat, got bounds {geom.bounds}")
    return shapely.make_valid(geom)


def bbox_wkt(min_lon: float, min_lat: float, max_lon: float, max_lat: float) -> str:
    """The WKT of a lon/lat box (how a picked map cell becomes the area filter)."""
    return shapely.box(min_lon, min_lat, max_lon, max_lat).wkt


@dataclass(frozen=True)
class CaseFilter:
    """What the sidebar asks for; empty tuples mean "any"."""

    classes: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    severities: tuple[int, ...] = ()
    statuses: tuple[str, ...] = DEFAULT_STATUSES
    time_range: tuple[date, date] | None = None  # on last seen, both days inclusive (UTC)
    missions: tuple[str, ...] = ()
    roads: tuple[str, ...] = ()
    area: BaseGeometry | None = field(default=None, compare=False)


def filter_mask(table: pd.DataFrame, f: CaseFilter) -> np.ndarray:
    """Boolean mask over ``table`` (from :func:`dashboard.case_table.case_table`) of the cases ``f`` keeps."""
    mask = np.ones(len(table), dtype=bool)
    if f.classes:
        mask &= table["class_key"].isin(f.classes).to_numpy()
    if f.categories:
        mask &= table["category"].isin(f.categories).to_numpy()
    if f.severities:
        mask &= table["severity"].isin(f.severities).to_numpy()
    mask &= table["status"].isin(f.statuses).to_numpy()
    if f.roads:
        mask &= table["road_name"].isin(f.roads).to_numpy()
    if f.missions:
        # a case belongs to every mission whose pass saw it ("m1,m3")
        exploded = table["missions"].str.split(",").explode()
        mask &= (
            exploded.isin(f.missions).groupby(level=0).any().reindex(table.index, fill_value=False).to_numpy()
        )
    if f.time_range is not None:
        start = pd.Timestamp(datetime.combine(f.time_range[0], time.min), tz="UTC")
        end = pd.Timestamp(datetime.combine(f.time_range[1], time.max), tz="UTC")
        seen = table["last_seen_utc"]
        mask &= ((seen >= start) & (seen <= end)).to_numpy()
    if f.area is not None and mask.any():
        idx = np.flatnonzero(mask)
        shapely.prepare(f.area)  # points on the edge count as inside (a picked cell holds its min edge)
        inside = shapely.intersects_xy(f.area, table["lon"].to_numpy()[idx], table["lat"].to_numpy()[idx])
        mask[idx[~inside]] = False
    return mask


def apply_filter(table: pd.DataFrame, f: CaseFilter) -> pd.DataFrame:
    """The rows of ``table`` that ``f`` keeps."""
    return table[filter_mask(table, f)]
