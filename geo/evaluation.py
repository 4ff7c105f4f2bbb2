"""Accuracy of geo-referenced events against the test range's ground truth.

An event is a true positive when a ground-truth object of the same class lies
within ``radius_m`` of it (metres, in a local metric frame centred on the
data); it is matched to the nearest such object.

Example:
    >>> gt = load_ground_truth("mission/ground_truth.geojson")  # doctest: +SKIP
    >>> evaluate_events(store.read(), gt, radius_m=2.0).to_dict()["recall"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.crs import LocalFrame
from geo.errors import GeoError

GROUND_TRUTH_COLUMNS = ("object_id", "class_key", "class_id")


@dataclass(frozen=True)
class ClassEval:
    """Counts and ratios for one class (or all classes together)."""

    events: int
    objects: int
    matched_events: int
    matched_objects: int
    precision: float  # matched events / events (NaN without events)
    recall: float  # objects with >= 1 matched event / objects (NaN without objects)
    geo_error_p50_m: float  # event -> matched object distance, NaN without matches
    geo_error_p95_m: float
    events_per_object: float  # matched events / matched objects


@dataclass(frozen=True)
class EvalReport(ClassEval):
    """:class:`ClassEval` over all classes, the match radius and a per-class breakdown."""

    radius_m: float = 2.0
    per_class: dict[str, ClassEval] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (NaN becomes ``None``)."""

        def clean(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, float) and not np.isfinite(value):
                return None
            return value

        out: dict[str, Any] = clean(asdict(self))
        return out


def load_ground_truth(path: str | Path) -> gpd.GeoDataFrame:
    """Read ``ground_truth.geojson``: one Point per object, EPSG:4326.

    Columns ``object_id``, ``class_key``, ``class_id``, ``size_m`` and
    ``footprint`` (the lon/lat ring as a list, ``None`` when absent).
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GeoError(f"{path}: ground truth file not found") from None
    except json.JSONDecodeError as exc:
        raise GeoError(f"{path}: not valid JSON: {exc}") from None
    features = doc.get("features") if isinstance(doc, dict) else None
    if not isinstance(features, list):
        raise GeoError(f"{path}: expected a GeoJSON FeatureCollection with a 'features' list")
    rows: list[dict[str, Any]] = []
    for i, feat in enumerate(features):
        geom = (feat or {}).get("geometry") or {}
        props = (feat or {}).get("properties") or {}
        if geom.get("type") != "Point" or len(geom.get("coordinates") or ()) < 2:
            raise GeoError(f"{path}: features[{i}].geometry: expected a Point with lon, lat")
        for key in GROUND_TRUTH_COLUMNS:
            if key not in props:
                raise GeoError(f"{path}: features[{i}].properties.{key}: missing")
        lon, lat = (float(c) for c in geom["coordinates"][:2])
        rows.append(
            {
                "object_id": str(props["object_id"]),
                "class_key": str(props["class_key"]),
                "class_id": int(props["class_id"]),
                "size_m": props.get("size_m"),
                "footprint": props.get("footprint"),
                "lon": lon,
                "lat": lat,
            }
        )
    frame = pd.DataFrame(rows, columns=[*GROUND_TRUTH_COLUMNS, "size_m", "footprint", "lon", "lat"])
    return gpd.GeoDataFrame(
        frame.drop(columns=["lon", "lat"]),
        geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
        crs="EPSG:4326",
    )


def _check(gdf: gpd.GeoDataFrame, name: str) -> None:
    if "class_key" not in gdf.columns:
        raise GeoError(f"evaluate_events: {name} has no 'class_key' column")
    if gdf.crs is None:
        raise GeoError(f"evaluate_events: {name} has no CRS (expected EPSG:4326 points)")
    if len(gdf) and not (gdf.geom_type == "Point").all():
        raise GeoError(f"evaluate_events: {name} geometry must be Points")


def _summary(events: int, objects: int, distances: np.ndarray, matched_objects: int) -> ClassEval:
    matched = int(distances.size)
    return ClassEval(
        events=events,
        objects=objects,
        matched_events=matched,
        matched_objects=matched_objects,
        precision=matched / events if events else float("nan"),
        recall=matched_objects / objects if objects else float("nan"),
        geo_error_p50_m=float(np.percentile(distances, 50)) if matched else float("nan"),
        geo_error_p95_m=float(np.percentile(distances, 95)) if matched else float("nan"),
        events_per_object=matched / matched_objects if matched_objects else float("nan"),
    )


def evaluate_events(
    events: gpd.GeoDataFrame, ground_truth: gpd.GeoDataFrame, *, radius_m: float = 2.0
) -> EvalReport:
    """Match ``events`` to ``ground_truth`` by class within ``radius_m`` metres.

    Both frames need a ``class_key`` column and Point geometry with a CRS.
    Uses one ``sjoin_nearest`` per class in a local azimuthal equidistant CRS.
    """
    if not radius_m > 0:
        raise GeoError(f"evaluate_events: radius_m must be > 0, got {radius_m!r}")
    _check(events, "events")
    _check(ground_truth, "ground_truth")
    ev = events.to_crs(4326)
    gt = ground_truth.to_crs(4326)
    both = pd.concat([ev.geometry, gt.geometry])
    if both.empty:
        empty = _summary(0, 0, np.zeros(0), 0)
        return EvalReport(**asdict(empty), radius_m=radius_m)
    local = LocalFrame.centred_on(both.x.to_numpy(), both.y.to_numpy()).crs
    ev_local = gpd.GeoDataFrame(
        {"class_key": ev["class_key"].to_numpy()}, geometry=ev.geometry.to_crs(local).to_numpy(), crs=local
    )
    gt_local = gpd.GeoDataFrame(
        {"class_key": gt["class_key"].to_numpy(), "gt_row": np.arange(len(gt))},
        geometry=gt.geometry.to_crs(local).to_numpy(),
        crs=local,
    )

    per_class: dict[str, ClassEval] = {}
    all_distances: list[np.ndarray] = []
    all_matched_objects = 0
    for key in sorted(set(ev_local["class_key"]) | set(gt_local["class_key"])):
        ev_c = ev_local[ev_local["class_key"] == key]
        gt_c = gt_local[gt_local["class_key"] == key]
        if len(ev_c) and len(gt_c):
            joined = gpd.sjoin_nearest(
                ev_c, gt_c[["gt_row", "geometry"]], how="inner", max_distance=radius_m, distance_col="dist_m"
            )
            # Equidistant objects give several rows for one event: keep one.
            joined = joined[~joined.index.duplicated(keep="first")]
            distances = joined["dist_m"].to_numpy(dtype=np.float64)
            matched_objects = int(joined["gt_row"].nunique())
        else:
            distances, matched_objects = np.zeros(0), 0
        per_class[key] = _summary(len(ev_c), len(gt_c), distances, matched_objects)
        all_distances.append(distances)
        all_matched_objects += matched_objects
    total = _summary(len(ev_local), len(gt_local), np.concatenate(all_distances), all_matched_objects)
    return EvalReport(**asdict(total), radius_m=radius_m, per_class=per_class)
