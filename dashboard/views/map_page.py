"""Map page: the cases on a pydeck map, filtered in the sidebar, aggregated on the server when many.

Texts the browser test relies on: "Showing N of M cases" (N shown after the
filters, M the cases this user may see) and the "Open case" selectbox, which
opens the Case page at ``/Case?case=ID``.

Live mode (``--refresh-s N``): the count and the map are a fragment that re-runs
every N seconds and re-reads the case book when it changed; the case list and the
export below it refresh with the next interaction (so typing is never cut off).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboard.case_table import export_frame
from dashboard.exports import ExportError, cases_for, export_cases_bytes
from dashboard.filter_widgets import AREA_KEY, render_filters
from dashboard.filters import CaseFilter, apply_filter
from dashboard.loaders import allowed_cases_or_stop, load_cases_view, load_coverage, visible_cases
from dashboard.map_layers import build_case_map, map_pick
from dashboard.page_context import CASE_PAGE, CASE_QUERY_PARAM, PageContext, page_context

OPEN_CASE_LIMIT = 500  # case ids offered in "Open case" (the worst and newest first)
MAP_KEY = "case_map"
PICK_PENDING_KEY = "map_pick_pending"


def _on_map_select() -> None:
    """Picked cells become the area filter, a picked case opens (a callback: widgets may still change)."""
    picked = map_pick(st.session_state.get(MAP_KEY))
    if picked.area_wkt is not None:
        st.session_state[AREA_KEY] = picked.area_wkt
    if picked.case_id is not None:
        st.session_state["open_case"] = picked.case_id
    st.session_state[PICK_PENDING_KEY] = picked.area_wkt is not None or picked.case_id is not None


def render_map(ctx: PageContext, case_filter: CaseFilter, color_by: str) -> None:
    """The refreshing part: re-reads the store's files when they changed."""
    st.caption(f"Last refresh: {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC · store: {ctx.settings.store}")
    view = load_cases_view(ctx.paths)
    if view.table is None:
        return
    allowed = visible_cases(view.table, ctx.user)
    shown = apply_filter(allowed, case_filter)
    st.markdown(f"Showing {len(shown)} of {len(allowed)} cases")
    assert ctx.paths is not None
    coverage, tracks = load_coverage(ctx.paths)
    if coverage is not None and case_filter.missions:
        coverage = coverage[coverage["mission_id"].isin(case_filter.missions)]
        tracks = tracks[tracks["mission_id"].isin(case_filter.missions)] if tracks is not None else None
    case_map = build_case_map(
        shown,
        coverage=coverage,
        tracks=tracks,
        map_style=ctx.settings.map_style,
        gcj02=ctx.settings.map_gcj02,
        color_by=color_by,
    )
    st.pydeck_chart(
        case_map.deck, height=600, on_select=_on_map_select, selection_mode="multi-object", key=MAP_KEY
    )
    notes = []
    if case_map.mode == "grid":
        notes.append(f"{len(shown)} cases in {case_map.cells_sent} cells: pick cells to zoom in")
    if case_map.coverage_total:
        notes.append(f"coverage: {case_map.coverage_sent} of {case_map.coverage_total} frame footprints")
    if case_map.tracks_sent:
        notes.append(f"{case_map.tracks_sent} tracks")
    if notes:
        st.caption(" · ".join(notes))
    if st.session_state.pop(PICK_PENDING_KEY, False):
        st.rerun(scope="app")  # the pick changed widgets outside this fragment (area, open case)


def render_case_list(ctx: PageContext, raw: pd.DataFrame | None, shown: pd.DataFrame) -> None:
    """ "Open case", the worst and newest cases, the export: outside the live fragment, so a
    refresh never closes a list the user is typing into."""
    ordered = shown.sort_values(["severity", "last_seen_utc"], ascending=[False, False]).head(OPEN_CASE_LIMIT)
    options = ordered["case_id"].tolist()  # plain ids: what a user pastes, what a test picks
    current = st.session_state.get("open_case")
    if current is not None and current not in set(options):
        st.session_state["open_case"] = None
    chosen = st.selectbox(
        "Open case",
        options,
        index=None,
        key="open_case",
        placeholder=f"{len(options)} of {len(shown)} cases (worst, newest first)",
    )
    if chosen:
        st.switch_page(CASE_PAGE, query_params={CASE_QUERY_PARAM: chosen})
    table = ordered[
        ["case_id", "name_zh", "name_en", "status", "severity", "road_name", "stake", "last_seen_utc"]
    ]
    st.dataframe(pd.DataFrame(table).head(200), hide_index=True)
    if raw is not None:
        _export_section(raw, shown, ctx)


def _export_section(raw: pd.DataFrame, shown: pd.DataFrame, ctx: PageContext) -> None:
    """The shown cases as a file (GeoPackage, GeoJSON, CSV, Excel); the role is checked again."""
    with st.expander("Export the shown cases"):
        fmt = st.selectbox("Export format", ["gpkg", "geojson", "csv", "xlsx"], key="export_format")
        if st.button("Prepare export"):
            try:
                data = export_cases_bytes(cases_for(ctx.user, export_frame(raw, shown)), fmt)
            except ExportError as exc:
                st.error(str(exc))
            else:
                st.session_state["export_ready"] = (fmt, data)
        ready = st.session_state.get("export_ready")
        if ready and ready[0] == fmt:
            st.download_button(f"Download cases.{fmt}", ready[1], file_name=f"cases.{fmt}")


ctx = page_context()
st.title("Map · 地图")
view, allowed = allowed_cases_or_stop(ctx.paths, ctx.user)
case_filter = render_filters(allowed)
color_by = st.sidebar.radio("Colour by", ["class", "severity"], horizontal=True, key="color_by")
st.button("Refresh now")
if ctx.settings.refresh_s > 0:
    st.fragment(run_every=ctx.settings.refresh_s)(render_map)(ctx, case_filter, color_by)
else:
    render_map(ctx, case_filter, color_by)
render_case_list(ctx, view.raw, apply_filter(allowed, case_filter))
