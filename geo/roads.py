"""Road referencing: snap cases to a road network and give road, stake chainage, side and offset.

A road network is a GeoPackage or GeoJSON of centre lines, one LineString per
feature, with a road id, a name, the stake direction and the stake origin (the
chainage at the line's first vertex). Column names are configurable
(:class:`RoadColumns`); :data:`OSM_COLUMNS` reads an OSM extract (``osm_id``,
``name``, ``ref``). Snapping is one ``sjoin_nearest`` in a local metric CRS
(azimuthal equidistant, centred on the points), then Shapely's vectorised
``line_locate_point`` for the distance along the line:

* ``chainage_m`` = stake origin + distance along the line from its first vertex
  (minus it where the stakes run against the digitised direction), and
  ``stake`` its road-sign form ``K12+345``;
* ``offset_m``: signed distance from the centre line, positive to the right of
  the digitised direction, and ``side`` ``left``/``right`` by its sign.

Points farther than ``max_distance_m`` from every road keep null road fields.

Example:
    >>> network = load_road_network("roads.gpkg")  # doctest: +SKIP
    >>> snapped = network.snap(cases_gdf, max_distance_m=20.0)  # doctest: +SKIP
    >>> format_stake(12345.4)
    'K12+345'
    >>> parse_stake("K12+345.5")
    12345.5
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.crs import LocalFrame
from geo.errors import GeoError

# Half the step (m) of the chord that gives the line's direction at the foot point.
_TANGENT_HALF_STEP_M = 0.5
_STAKE = re.compile(r"^\s*(-)?K(\d+)\+(\d+(?:\.\d*)?)\s*$", re.IGNORECASE)
_FORWARD = {"forward", "+", "1", "+1", "f", "yes", "true", "both", "b", "no", ""}
_BACKWARD = {"backward", "reverse", "-", "-1", "r", "t"}
SNAP_COLUMNS = ("road_id", "road_name", "chainage_m", "stake", "side", "offset_m", "road_distance_m")


@dataclass(frozen=True, slots=True)
class RoadColumns:
    """Which columns of a road file hold what; ``None`` means the file has no such column.

    ``road_id`` is required. ``name`` falls back to ``ref`` (a road number such
    as OSM's ``ref``). ``direction``: the way stakes count along the digitised
    line, ``forward`` (default; also ``+``, ``1``, ``yes``, ``both``) or
    ``backward`` (``-``, ``-1``, ``reverse``). ``stake_origin``: the chainage at
    the first vertex, metres or ``K12+345`` (default 0). Optional columns named
    here but absent from the file take their defaults and are listed in
    :attr:`RoadNetwork.defaulted`.
    """

    road_id: str = "road_id"
    name: str | None = "name"
    ref: str | None = "ref"
    direction: str | None = "direction"
    stake_origin: str | None = "stake_origin_m"


# OSM ways: ids, names and road numbers; OSM has no stakes (chainage counts from each way's start).
OSM_COLUMNS = RoadColumns(road_id="osm_id", name="name", ref="ref", direction=None, stake_origin=None)


def format_stake(chainage_m: float, decimals: int = 0) -> str:
    """``12345.4`` -> ``"K12+345"``; negative chainages get a leading ``-``."""
    if not math.isfinite(chainage_m):
        raise GeoError(f"format_stake: chainage {chainage_m!r} is not finite")
    scale = 10**decimals
    total = round(abs(chainage_m) * scale)  # round first, so 999.6 m is K1+000, not K0+1000
    km, rest = divmod(total, 1000 * scale)
    metres = f"{rest / scale:0{4 + decimals if decimals else 3}.{decimals}f}"
    return f"{'-' if chainage_m < 0 and total else ''}K{km}+{metres}"


def parse_stake(text: str) -> float:
    """``"K12+345.5"`` -> ``12345.5`` metres."""
    m = _STAKE.match(text)
    if m is None:
        raise GeoError(f"parse_stake: {text!r} is not a stake like K12+345")
    value = int(m.group(2)) * 1000.0 + float(m.group(3))
    return -value if m.group(1) else value


@dataclass
class RoadNetwork:
    """Centre lines in EPSG:4326: ``road_id``, ``road_name``, ``direction`` (+1/-1), ``stake_origin_m``."""

    roads: gpd.GeoDataFrame
    source: str = "roads"
    defaulted: list[str] = field(default_factory=list)

    def snap(self, points: gpd.GeoDataFrame | gpd.GeoSeries, *, max_distance_m: float = 20.0) -> pd.DataFrame:
        """Road fields per point (same index as ``points``): :data:`SNAP_COLUMNS`, null where no road is near.

        Points are taken as their geometry (cases: their anchor point); empty or
        missing geometries count as far from every road.
        """
        if not (math.isfinite(max_distance_m) and max_distance_m > 0):
            raise GeoError(f"snap: max_distance_m must be > 0, got {max_distance_m!r}")
        geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
        if geoms.crs is None:
            raise GeoError("snap: points have no CRS (expected EPSG:4326)")
        out = pd.DataFrame(
            {
                "road_id": pd.Series([None] * len(geoms), dtype=object),
                "road_name": pd.Series([None] * len(geoms), dtype=object),
                "chainage_m": np.nan,
                "stake": pd.Series([None] * len(geoms), dtype=object),
                "side": pd.Series([None] * len(geoms), dtype=object),
                "offset_m": np.nan,
                "road_distance_m": np.nan,
            },
            index=geoms.index,
        )
        wgs = geoms.to_crs(4326)
        valid = ~(wgs.isna() | wgs.is_empty)
        if not valid.any() or self.roads.empty:
            return out
        pts = wgs[valid]
        xs, ys = pts.x.to_numpy(), pts.y.to_numpy()
        frame = LocalFrame.centred_on(xs, ys)
        # Only the roads near the points travel to the local CRS (whole features: chainage
        # needs each line from its first vertex).
        margin = max_distance_m / 111_000.0 / max(math.cos(math.radians(float(np.abs(ys).max()))), 0.01)
        near = self.roads.cx[xs.min() - margin : xs.max() + margin, ys.min() - margin : ys.max() + margin]
        if near.empty:
            return out
        roads = near.to_crs(frame.crs).reset_index(drop=True)
        local = gpd.GeoDataFrame({"row": np.arange(len(pts))}, geometry=pts.to_crs(frame.crs).to_numpy())
        local = local.set_crs(frame.crs)
        joined = gpd.sjoin_nearest(
            local, roads[["geometry"]], how="inner", max_distance=max_distance_m, distance_col="dist"
        )
        # Equidistant roads give several rows for one point: keep the first.
        joined = joined[~joined.index.duplicated(keep="first")]
        if joined.empty:
            return out
        rows = joined["row"].to_numpy()
        road_idx = joined["index_right"].to_numpy()
        lines = roads.geometry.to_numpy()[road_idx]
        p = local.geometry.to_numpy()[rows]
        along = shapely.line_locate_point(lines, p)
        length = shapely.length(lines)
        a0 = np.clip(along - _TANGENT_HALF_STEP_M, 0.0, length)
        a1 = np.clip(along + _TANGENT_HALF_STEP_M, 0.0, length)
        q0 = shapely.get_coordinates(shapely.line_interpolate_point(lines, a0))
        q1 = shapely.get_coordinates(shapely.line_interpolate_point(lines, a1))
        foot = shapely.get_coordinates(shapely.line_interpolate_point(lines, along))
        pxy = shapely.get_coordinates(p)
        tangent = q1 - q0
        v = pxy - foot
        # cross(tangent, v) > 0: the point lies to the left of the digitised direction.
        cross = tangent[:, 0] * v[:, 1] - tangent[:, 1] * v[:, 0]
        dist = joined["dist"].to_numpy()
        offset = np.where(cross > 0, -dist, dist)
        direction = roads["direction"].to_numpy()[road_idx]
        chainage = roads["stake_origin_m"].to_numpy()[road_idx] + direction * along
        target = pts.index[rows]
        out.loc[target, "road_id"] = roads["road_id"].to_numpy()[road_idx]
        out.loc[target, "road_name"] = roads["road_name"].to_numpy()[road_idx]
        out.loc[target, "chainage_m"] = chainage
        out.loc[target, "stake"] = [format_stake(float(c)) for c in chainage]
        out.loc[target, "side"] = np.where(offset < 0, "left", "right")
        out.loc[target, "offset_m"] = offset
        out.loc[target, "road_distance_m"] = dist
        return out

    def annotate(self, cases: gpd.GeoDataFrame, *, max_distance_m: float = 20.0) -> gpd.GeoDataFrame:
        """``cases`` with the :data:`SNAP_COLUMNS` added (replacing any already there)."""
        fields = self.snap(cases, max_distance_m=max_distance_m)
        return cases.drop(columns=[c for c in SNAP_COLUMNS if c in cases.columns]).join(fields)


def _direction(value: Any, where: str) -> int:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 1
    text = str(value).strip().lower()
    if text in _FORWARD:
        return 1
    if text in _BACKWARD:
        return -1
    raise GeoError(f"{where}: direction {value!r} is neither forward (+, 1) nor backward (-, -1)")


def _stake_origin(value: Any, where: str) -> float:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0.0
    if isinstance(value, str) and value.strip().upper().lstrip("-").startswith("K"):
        try:
            return parse_stake(value)
        except GeoError:
            raise GeoError(f"{where}: stake origin {value!r} is not metres or a stake like K12+345") from None
    try:
        origin = float(value)
    except (TypeError, ValueError):
        raise GeoError(f"{where}: stake origin {value!r} is not metres or a stake like K12+345") from None
    if not math.isfinite(origin):
        raise GeoError(f"{where}: stake origin {value!r} is not finite")
    return origin


def road_network_from_frame(
    gdf: gpd.GeoDataFrame, columns: RoadColumns = RoadColumns(), *, source: str = "roads"
) -> RoadNetwork:
    """Validate a road table (``source`` names it in errors) and normalise its columns."""
    if columns.road_id not in gdf.columns:
        have = ", ".join(c for c in gdf.columns if c != "geometry") or "none"
        raise GeoError(
            f"{source}: road file has no road id column {columns.road_id!r} (columns: {have}); "
            "name the id column in the road network settings (e.g. osm_id for an OSM extract)"
        )
    if gdf.crs is None:
        raise GeoError(f"{source}: road file has no CRS")
    defaulted = [
        c for c in (columns.name, columns.ref, columns.direction, columns.stake_origin) if c and c not in gdf
    ]
    geoms = gdf.geometry.to_crs(4326).to_numpy()
    ids: list[str] = []
    names: list[str | None] = []
    directions: list[int] = []
    origins: list[float] = []
    lines: list[shapely.LineString] = []
    for i, row in enumerate(gdf.drop(columns=gdf.geometry.name).to_dict("records")):
        rid = row[columns.road_id]
        where = f"{source}: feature {i}"
        if rid is None or (isinstance(rid, float) and math.isnan(rid)) or str(rid).strip() == "":
            raise GeoError(f"{where}: {columns.road_id}: missing road id")
        where = f"{source}: feature {i} ({columns.road_id}={rid})"
        geom = geoms[i]
        if geom is None or geom.is_empty:
            raise GeoError(f"{where}: no geometry")
        if geom.geom_type == "MultiLineString":
            geom = shapely.line_merge(geom)
        if geom.geom_type != "LineString":
            raise GeoError(
                f"{where}: geometry is a {geom.geom_type}; a centre line must be one LineString "
                "(split disconnected parts into features with their own stake origin)"
            )
        name = row.get(columns.name) if columns.name else None
        if (name is None or (isinstance(name, float) and math.isnan(name))) and columns.ref:
            name = row.get(columns.ref)
        ids.append(str(rid))
        names.append(None if name is None or (isinstance(name, float) and math.isnan(name)) else str(name))
        directions.append(_direction(row.get(columns.direction) if columns.direction else None, where))
        origins.append(_stake_origin(row.get(columns.stake_origin) if columns.stake_origin else None, where))
        lines.append(geom)
    roads = gpd.GeoDataFrame(
        {"road_id": ids, "road_name": names, "direction": directions, "stake_origin_m": origins},
        geometry=lines,
        crs="EPSG:4326",
    )
    return RoadNetwork(roads, source, defaulted)


def read_vector_file(path: str | Path, what: str, *, layer: str | None = None) -> gpd.GeoDataFrame:
    """Read a GeoPackage/GeoJSON layer with pyogrio; errors name the file and ``what`` it should be."""
    path = Path(path)
    if not path.exists():
        raise GeoError(f"{path}: {what} file not found")
    try:
        return gpd.read_file(path, layer=layer, engine="pyogrio")
    except Exception as exc:  # pyogrio's DataSourceError / DataLayerError
        raise GeoError(f"{path}: cannot read {what}{f' layer {layer!r}' if layer else ''}: {exc}") from None


def load_road_network(
    path: str | Path, columns: RoadColumns = RoadColumns(), *, layer: str | None = None
) -> RoadNetwork:
    """Read and validate a GeoPackage/GeoJSON of road centre lines (errors name the file and feature)."""
    gdf = read_vector_file(path, "road network", layer=layer)
    return road_network_from_frame(gdf, columns, source=str(path))
