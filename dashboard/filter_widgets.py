"""The sidebar filters (Streamlit widgets) that make a :class:`dashboard.filters.CaseFilter`.

Labels are fixed (the browser test finds the widgets by them): "Class",
"Category", "Severity", "Status", "Time range", "Mission", "Road",
"Area (WKT or GeoJSON polygon)". Values persist across pages
(``persist_state="session"``). Options come from the cases the user may see,
so the field crew's lists never name an enforcement class.

Example (in a page script):
    >>> case_filter = render_filters(visible_cases(table, ctx.user))  # doctest: +SKIP
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import streamlit as st

from dashboard.case_table import DEFAULT_STATUSES, REVIEW_STATES, SEVERITY_NAMES
from dashboard.filters import AreaError, CaseFilter, parse_area
from taxonomy import load_taxonomy

AREA_LABEL = "Area (WKT or GeoJSON polygon)"
AREA_KEY = "filter_area"
TIME_DEFAULT_KEY = "filter_time_default"  # the range the data spanned at the last run
FILTER_KEYS = (
    "filter_class",
    "filter_category",
    "filter_severity",
    "filter_status",
    "filter_time",
    "filter_mission",
    "filter_road",
    AREA_KEY,
)


def _names(table: pd.DataFrame) -> dict[str, str]:
    pairs = table[["class_key", "name_zh", "name_en"]].drop_duplicates("class_key")
    return {k: f"{zh} · {en}" for k, zh, en in pairs.itertuples(index=False)}


def render_filters(table: pd.DataFrame) -> CaseFilter:
    """Draw the filters in the sidebar for the cases in ``table``; empty choices mean "any"."""
    sb = st.sidebar
    sb.header("Filters")
    names = _names(table)
    categories = {c.key: f"{c.name_zh} · {c.name_en}" for c in load_taxonomy().categories}
    any_ = "any"
    classes = sb.multiselect(
        "Class", sorted(names), key="filter_class", format_func=lambda k: names.get(k, k), placeholder=any_,
        persist_state="session",
    )  # fmt: skip
    cats = sb.multiselect(
        "Category", sorted(table["category"].dropna().unique()), key="filter_category",
        format_func=lambda k: categories.get(k, k), placeholder=any_, persist_state="session",
    )  # fmt: skip
    severities = sb.multiselect(
        "Severity", sorted(SEVERITY_NAMES), key="filter_severity", format_func=lambda s: SEVERITY_NAMES[s],
        placeholder=any_, persist_state="session",
    )  # fmt: skip
    statuses = sb.multiselect(
        "Status", list(REVIEW_STATES), default=list(DEFAULT_STATUSES), key="filter_status",
        persist_state="session",
    )  # fmt: skip
    time_range = None
    seen = table["last_seen_utc"].dropna()
    if not seen.empty:
        first = seen.min().date()
        # the default reaches today: a live map keeps showing what the sink adds
        last = max(seen.max().date(), datetime.now(UTC).date())
        default = (first, last)
        # An untouched range follows the data (a live map must not drop what the sink adds);
        # one the user picked stays as picked.
        if st.session_state.get("filter_time") == st.session_state.get(TIME_DEFAULT_KEY):
            st.session_state["filter_time"] = default
        st.session_state[TIME_DEFAULT_KEY] = default
        picked = sb.date_input("Time range", key="filter_time", persist_state="session")
        if isinstance(picked, tuple | list) and len(picked) == 2:
            time_range = (picked[0], picked[1])
        elif isinstance(picked, date):
            time_range = (picked, picked)
    missions = sorted({m for ms in table["missions"].unique() for m in str(ms).split(",") if m})
    chosen_missions = sb.multiselect(
        "Mission", missions, key="filter_mission", placeholder=any_, persist_state="session"
    )
    roads = sorted(table["road_name"].dropna().astype(str).unique())
    chosen_roads = sb.multiselect("Road", roads, key="filter_road", placeholder=any_, persist_state="session")
    area_text = sb.text_input(
        AREA_LABEL, key=AREA_KEY, persist_state="session",
        help="A polygon in WGS84 lon/lat, e.g. POLYGON ((120.15 30.27, 120.16 30.27, 120.16 30.28, "
        "120.15 30.27)). Picking cells on the map fills it in.",
    )  # fmt: skip
    area = None
    try:
        area = parse_area(area_text or "")
    except AreaError as exc:
        sb.error(f"{exc}: the area filter is not applied.")
    return CaseFilter(
        classes=tuple(classes),
        categories=tuple(cats),
        severities=tuple(int(s) for s in severities),
        statuses=tuple(statuses),
        time_range=time_range,
        missions=tuple(chosen_missions),
        roads=tuple(chosen_roads),
        area=area,
    )
