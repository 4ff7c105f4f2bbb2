"""roadsight dashboard: the event store on a map.

Run: ``streamlit run dashboard/app.py -- --store events.gpkg`` (or set
``ROADSIGHT_STORE``). Options: ``--map-style URL`` (MapLibre style for a
basemap; default none, works offline) and ``--refresh-s N`` (auto refresh).
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

import streamlit as st

from dashboard.data import category_table, class_label, count_table, load_store_view, map_rows
from dashboard.deck import build_deck
from dashboard.settings import DashboardSettings, parse_settings

st.set_page_config(page_title="roadsight", page_icon="🛣️", layout="wide")
settings = parse_settings(sys.argv[1:], os.environ)


def render(settings: DashboardSettings) -> None:
    """The whole page body; re-run on every refresh."""
    st.caption(f"Last refresh: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC · store: {settings.store}")
    view = load_store_view(settings.store)
    if view.message:
        {"info": st.info, "warning": st.warning, "error": st.error}[view.level](view.message)
    if view.events is None or view.events.empty:
        return
    events = view.events
    present = sorted(events["class_key"].unique())
    per_class = events["class_key"].value_counts()
    chosen = st.multiselect(
        "Classes",
        options=present,
        default=present,
        key="classes",
        format_func=lambda key: f"{class_label(key)} ({per_class.get(key, 0)})",
    )
    shown = events[events["class_key"].isin(chosen)]
    st.markdown(f"Showing {len(shown)} of {len(events)} events")
    st.pydeck_chart(build_deck(map_rows(shown), map_style=settings.map_style), height=560)
    counts = count_table(shown)
    left, right = st.columns([3, 2])
    left.subheader("Events per class")
    left.dataframe(counts, hide_index=True)
    right.subheader("Events per category")
    right.dataframe(category_table(counts), hide_index=True)


st.title("roadsight · 道路巡检事件")
st.button("Refresh now")
if settings.refresh_s > 0:
    st.fragment(run_every=settings.refresh_s)(render)(settings)
else:
    render(settings)
