"""Loading the event store for the dashboard and shaping it for the map and tables.

Example:
    >>> view = load_store_view(None)
    >>> view.message.startswith("No event store configured")
    True
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from dashboard.palette import class_color
from stream import StoreError, open_store
from taxonomy import Taxonomy, load_taxonomy


@dataclass(frozen=True)
class StoreView:
    """The events to show, or why there are none (``message``)."""

    events: gpd.GeoDataFrame | None
    message: str | None = None
    level: str = "info"  # "info" | "warning" | "error", for how to show ``message``


def load_store_view(path: Path | None) -> StoreView:
    """Read all events of the store at ``path``; never raises for a missing or bad store."""
    if path is None:
        return StoreView(
            None,
            "No event store configured: run `streamlit run dashboard/app.py -- "
            "--store PATH` or set ROADSIGHT_STORE.",
            "error",
        )
    if not path.exists():
        return StoreView(
            None,
            f"Event store not found: {path} (it appears when the pipeline writes its first events).",
            "warning",
        )
    try:
        with open_store(path, readonly=True) as store:
            events = store.read()
    except StoreError as exc:
        return StoreView(None, f"Cannot read the event store: {exc}", "error")
    if events.empty:
        return StoreView(events, f"No events in the store yet: {path}", "info")
    return StoreView(events)


def class_label(key: str, taxonomy: Taxonomy | None = None) -> str:
    """``"坑槽 · Pothole"`` for a class key (the key itself if unknown)."""
    cls = (taxonomy or load_taxonomy()).by_key.get(key)
    return f"{cls.name_zh} · {cls.name_en}" if cls else key


def _ring(footprint: object) -> list[list[float]] | None:
    if not isinstance(footprint, str) or not footprint:
        return None
    coords = json.loads(footprint).get("coordinates") or [None]
    return coords[0]


def map_rows(events: gpd.GeoDataFrame, taxonomy: Taxonomy | None = None) -> pd.DataFrame:
    """Plain columns pydeck serialises: position, colour, tooltip texts, footprint ring."""
    tax = taxonomy or load_taxonomy()
    names = pd.DataFrame(
        [(c.key, c.name_zh, c.name_en) for c in tax.classes], columns=["class_key", "name_zh", "name_en"]
    )
    rows = pd.DataFrame(
        {
            "class_key": events["class_key"].to_numpy(),
            "class_id": events["class_id"].to_numpy(),
            "lon": events["lon"].to_numpy(),
            "lat": events["lat"].to_numpy(),
            "score_txt": events["score"].map("{:.2f}".format).to_numpy(),
            "accuracy_txt": events["accuracy_m"].map("{:.1f}".format).to_numpy(),
            "time_txt": events["time_utc"].dt.strftime("%Y-%m-%d %H:%M:%S UTC").to_numpy(),
            "footprint_ring": events["footprint"].map(_ring).to_numpy(),
        }
    )
    rows = rows.merge(names, on="class_key", how="left")
    rows["name_zh"] = rows["name_zh"].fillna(rows["class_key"])
    rows["name_en"] = rows["name_en"].fillna(rows["class_key"])
    rows["color"] = rows["class_id"].map(class_color)
    return rows


def count_table(events: gpd.GeoDataFrame, taxonomy: Taxonomy | None = None) -> pd.DataFrame:
    """Events per class with its category, most frequent first."""
    tax = taxonomy or load_taxonomy()
    categories = {c.key: f"{c.name_zh} · {c.name_en}" for c in tax.categories}
    info = pd.DataFrame(
        [(c.key, c.name_zh, c.name_en, categories.get(c.category, c.category)) for c in tax.classes],
        columns=["class_key", "class (zh)", "class (en)", "category"],
    )
    counts = events.groupby("class_key").size().rename("events").reset_index()
    table = counts.merge(info, on="class_key", how="left")
    table = table[["category", "class (zh)", "class (en)", "class_key", "events"]]
    return table.sort_values(["events", "class_key"], ascending=[False, True]).reset_index(drop=True)


def category_table(counts: pd.DataFrame) -> pd.DataFrame:
    """Events per category from :func:`count_table`'s output."""
    return counts.groupby("category", dropna=False)["events"].sum().sort_values(ascending=False).reset_index()
