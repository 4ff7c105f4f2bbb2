"""Missions page: the runs (passes) over the road, and a replay of one mission's camera track.

A mission's track is the sequence of its frame footprints' centres (the
``coverage`` layer each run writes beside the cases), so it shows where the
cameras actually looked; the replay slider moves a TripsLayer along it.
"""

from __future__ import annotations

import pandas as pd
import pydeck as pdk
import streamlit as st

from dashboard.loaders import load_cases_view, load_coverage, visible_cases
from dashboard.map_layers import display_lonlat
from dashboard.page_context import page_context

ctx = page_context()
st.title("Missions · 任务")

view = load_cases_view(ctx.paths)
coverage, tracks = load_coverage(ctx.paths) if ctx.paths is not None else (None, None)
cases_per_mission = pd.Series(dtype=int)
if view.table is not None and not view.table.empty:
    allowed = visible_cases(view.table, ctx.user)
    cases_per_mission = allowed["missions"].str.split(",").explode().loc[lambda s: s != ""].value_counts()
if coverage is None:
    st.info("No coverage recorded yet (each pipeline run adds its frame footprints beside the cases).")
    if not cases_per_mission.empty:
        st.dataframe(cases_per_mission.rename("cases").reset_index(), hide_index=True)
    st.stop()
missions = (
    coverage.groupby("mission_id")
    .agg(
        frames=("frame_index", "size"),
        cameras=("source_id", "nunique"),
        start=("time_utc", "min"),
        end=("time_utc", "max"),
    )
    .reset_index()
)
missions["cases"] = missions["mission_id"].map(cases_per_mission).fillna(0).astype(int)
missions = missions.sort_values("start", ascending=False)
st.markdown(f"{len(missions)} missions")
st.dataframe(missions, hide_index=True)
chosen = st.selectbox("Replay mission", list(missions["mission_id"]))
if tracks is None or chosen is None:
    st.stop()
mission_tracks = tracks[tracks["mission_id"] == chosen]
if mission_tracks.empty:
    st.info(f"No track for mission {chosen}.")
    st.stop()
gcj02 = ctx.settings.map_gcj02
trips = []
for row in mission_tracks.itertuples(index=False):
    path = pd.DataFrame(row.path, columns=["lon", "lat"])
    x, y = display_lonlat(path["lon"].to_numpy(), path["lat"].to_numpy(), gcj02)
    trips.append({"source_id": row.source_id, "path": [[a, b] for a, b in zip(x, y, strict=True)],
                  "timestamps": row.timestamps})  # fmt: skip
duration = max(max(t["timestamps"]) if t["timestamps"] else 0.0 for t in trips)
at_s = st.slider(
    "Replay time (s)", 0.0, max(duration, 1.0), max(duration, 1.0), step=max(duration / 200, 0.1)
)
all_x = [p[0] for t in trips for p in t["path"]]
all_y = [p[1] for t in trips for p in t["path"]]
deck = pdk.Deck(
    layers=[
        pdk.Layer(
            "PathLayer",
            id="track",
            data=trips,
            get_path="path",
            get_color=[120, 144, 156],
            width_min_pixels=2,
        ),
        pdk.Layer(
            "TripsLayer",
            id="replay",
            data=trips,
            get_path="path",
            get_timestamps="timestamps",
            get_color=[0, 150, 136],
            width_min_pixels=5,
            trail_length=max(duration / 10, 5.0),
            current_time=at_s,
        ),
    ],
    initial_view_state=pdk.ViewState(
        longitude=(min(all_x) + max(all_x)) / 2, latitude=(min(all_y) + max(all_y)) / 2, zoom=14
    ),
    map_provider="carto" if ctx.settings.map_style else None,
    map_style=ctx.settings.map_style,
)
st.pydeck_chart(deck, height=500)
st.caption(f"{chosen}: {sum(len(t['path']) for t in trips)} frames, {duration:.0f} s")
