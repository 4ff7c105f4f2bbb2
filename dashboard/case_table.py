"""The case book as one flat table for the dashboard: review state, severity, road, week, missions.

Read with pyogrio without geometry (the table has ``lon``/``lat``), shaped with
vectorised pandas; the review state of each case is the latest row of the audit
log (:class:`dashboard.review.ReviewLog`), ``new`` for a case nobody reviewed.
The raw table keeps every column of :func:`geo.cases.save_cases`, so one row
turns back into a :class:`geo.cases.Case` (:func:`case_from_table`).

Example:
    >>> raw = read_case_book(Path("data/roadsight.cases.gpkg"))  # doctest: +SKIP
    >>> table = case_table(raw, review_states(Path("data/roadsight.review.sqlite")))  # doctest: +SKIP
    >>> table[["case_id", "class_key", "status", "severity", "road_name", "stake"]].head()  # doctest: +SKIP
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from dashboard.review import ReviewLog, ReviewState
from geo.cases import CASE_COLUMNS, CASES_LAYER, Case, CaseBook
from geo.errors import GeoError
from taxonomy import Taxonomy, load_taxonomy

COVERAGE_LAYER = "coverage"  # frame footprints per run (roadsight.passes)
ROAD_COLUMNS = ("road_id", "road_name", "chainage_m", "stake")
REVIEW_STATES = tuple(s.value for s in ReviewState)
# The default map hides what a reviewer threw out.
DEFAULT_STATUSES = tuple(s for s in REVIEW_STATES if s != ReviewState.rejected.value)
SEVERITY_NAMES = {1: "1 · low", 2: "2 · medium", 3: "3 · high"}


class CaseTableError(RuntimeError):
    """The case book cannot be read (the message names the file)."""


def read_case_book(path: Path) -> pd.DataFrame:
    """The ``cases`` layer as a plain DataFrame (no geometry); raises :class:`CaseTableError`."""
    try:
        raw = pyogrio.read_dataframe(path, layer=CASES_LAYER, read_geometry=False, use_arrow=True)
    except Exception as exc:  # pyogrio's DataSourceError / DataLayerError
        raise CaseTableError(f"{path}: cannot read the case book (layer {CASES_LAYER!r}): {exc}") from None
    missing = [c for c in ("case_id", "class_key", "class_id", "kind", "lon", "lat") if c not in raw.columns]
    if missing:
        raise CaseTableError(f"{path}: case book lacks column(s) {', '.join(missing)}")
    return pd.DataFrame(raw)


def review_states(review_path: Path) -> pd.DataFrame:
    """Latest state and assignee per reviewed case (columns case_id, status, assignee, reviewed_utc)."""
    columns = ["case_id", "status", "assignee", "reviewed_utc"]
    if not review_path.exists():
        return pd.DataFrame(columns=columns)
    with ReviewLog(review_path) as log:
        history = log.history()
    if not history:
        return pd.DataFrame(columns=columns)
    rows = pd.DataFrame(
        {
            "case_id": [e.case_id for e in history],
            "status": [e.to_state for e in history],
            "assignee": [e.assignee for e in history],
            "reviewed_utc": [e.time_utc for e in history],
        }
    )
    # an assignment stays until another is named: forward-fill within each case
    rows["assignee"] = rows.groupby("case_id")["assignee"].ffill()
    return rows.groupby("case_id", sort=False).tail(1).reset_index(drop=True)


def _missions(trend: pd.Series) -> pd.Series:
    """Pass ids of each case's trend (JSON text) as a comma-separated string, in order seen."""

    def one(text: object) -> str:
        if not isinstance(text, str) or not text:
            return ""
        seen = dict.fromkeys(o.get("pass_id") or "" for o in json.loads(text))
        return ",".join(p for p in seen if p)

    return trend.map(one)


def case_table(raw: pd.DataFrame, states: pd.DataFrame, taxonomy: Taxonomy | None = None) -> pd.DataFrame:
    """One row per case with the columns the pages filter and show (vectorised)."""
    tax = taxonomy or load_taxonomy()
    info = pd.DataFrame(
        [(c.key, c.name_zh, c.name_en, c.severity) for c in tax.classes],
        columns=["class_key", "name_zh", "name_en", "severity"],
    )
    wanted = (
        "case_id", "class_key", "class_id", "category", "kind", "lon", "lat", "accuracy_m",
        "first_seen_utc", "last_seen_utc", "times_seen", "detections", "size_m", "best_score",
        *ROAD_COLUMNS,
    )  # fmt: skip
    keep = [c for c in wanted if c in raw.columns]
    table = raw[keep].copy()
    if "status" in raw.columns:
        table["seen_status"] = raw["status"].to_numpy()
    table = table.merge(info, on="class_key", how="left")
    table["severity"] = table["severity"].fillna(1).astype(int)
    table["name_zh"] = table["name_zh"].fillna(table["class_key"])
    table["name_en"] = table["name_en"].fillna(table["class_key"])
    for col in ("first_seen_utc", "last_seen_utc"):
        if col in table.columns:
            table[col] = pd.to_datetime(table[col], utc=True, format="ISO8601")
    for col in ROAD_COLUMNS:
        if col not in table.columns:
            table[col] = np.nan if col == "chainage_m" else None
    table["missions"] = _missions(raw["trend"]) if "trend" in raw.columns else ""
    merged = table.merge(states, on="case_id", how="left")
    merged["status"] = merged["status"].fillna(ReviewState.new.value)
    return merged


def case_from_table(raw: pd.DataFrame, case_id: str, source: str = "cases") -> Case | None:
    """The :class:`Case` of ``case_id`` from :func:`read_case_book`'s table (None when absent)."""
    rows = raw[raw["case_id"] == case_id]
    if rows.empty:
        return None
    missing = [c for c in CASE_COLUMNS if c not in rows.columns]
    if missing:
        raise CaseTableError(f"{source}: case book lacks column(s) {', '.join(missing)}")
    gdf = gpd.GeoDataFrame(
        rows.head(1), geometry=gpd.points_from_xy(rows["lon"].head(1), rows["lat"].head(1))
    )
    try:
        return CaseBook.from_geodataframe(gdf, source=source).cases[0]
    except GeoError as exc:
        raise CaseTableError(str(exc)) from None


def read_coverage(path: Path) -> gpd.GeoDataFrame | None:
    """Frame footprints (mission_id, source_id, frame_index, time_utc, polygon) or None without any."""
    if not path.exists():
        return None
    try:
        layers = {str(name) for name, _ in pyogrio.list_layers(path)}
        if COVERAGE_LAYER not in layers:
            return None
        coverage = pyogrio.read_dataframe(path, layer=COVERAGE_LAYER)
    except Exception as exc:  # pyogrio errors
        raise CaseTableError(f"{path}: cannot read layer {COVERAGE_LAYER!r}: {exc}") from None
    if coverage.empty:
        return None
    coverage["time_utc"] = pd.to_datetime(coverage["time_utc"], utc=True, format="ISO8601")
    return coverage


def tracks_from_coverage(coverage: gpd.GeoDataFrame) -> pd.DataFrame:
    """One path per mission and camera: footprint centres in time order (where the camera looked).

    Columns ``mission_id``, ``source_id``, ``path`` ([[lon, lat], ...]), ``timestamps``
    (seconds since the mission's first frame, for a TripsLayer), ``frames``.
    """
    centres = shapely.get_coordinates(shapely.centroid(coverage.geometry.to_numpy()))
    frame = pd.DataFrame(
        {
            "mission_id": coverage["mission_id"].to_numpy(),
            "source_id": coverage["source_id"].to_numpy(),
            "t": coverage["time_utc"].to_numpy(),
            "lon": centres[:, 0],
            "lat": centres[:, 1],
        }
    ).sort_values(["mission_id", "source_id", "t"], kind="stable")
    rows = []
    for (mission, source), group in frame.groupby(["mission_id", "source_id"], sort=True):
        seconds = (group["t"] - group["t"].iloc[0]).dt.total_seconds().to_numpy()
        rows.append(
            {
                "mission_id": mission,
                "source_id": source,
                "path": np.column_stack([group["lon"], group["lat"]]).tolist(),
                "timestamps": seconds.astype(float).tolist(),
                "frames": len(group),
            }
        )
    return pd.DataFrame(rows, columns=["mission_id", "source_id", "path", "timestamps", "frames"])


def export_frame(raw: pd.DataFrame, rows: pd.DataFrame) -> gpd.GeoDataFrame:
    """The case-book rows of the cases in ``rows`` (a slice of :func:`case_table`) as points in
    EPSG:4326, with their ``review_state`` and ``assignee``: what :mod:`dashboard.exports` writes."""
    chosen = raw[raw["case_id"].isin(rows["case_id"])].copy()
    states = rows.set_index("case_id")
    chosen["review_state"] = chosen["case_id"].map(states["status"]).to_numpy()
    chosen["assignee"] = chosen["case_id"].map(states["assignee"]).to_numpy()
    points = gpd.points_from_xy(chosen["lon"], chosen["lat"])
    return gpd.GeoDataFrame(chosen, geometry=points, crs="EPSG:4326")
