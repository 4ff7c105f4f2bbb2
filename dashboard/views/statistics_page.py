"""Statistics page: the filtered cases counted by category, road and ISO week, with trend charts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.filter_widgets import render_filters
from dashboard.filters import apply_filter
from dashboard.loaders import allowed_cases_or_stop
from dashboard.page_context import page_context
from taxonomy import load_taxonomy


def iso_week(times: pd.Series) -> pd.Series:
    """``2026-W47`` for each UTC time (ISO 8601 week-numbering year and week)."""
    iso = times.dt.isocalendar()
    return iso["year"].astype(str) + "-W" + iso["week"].astype(int).map("{:02d}".format)


ctx = page_context()
st.title("Statistics · 统计")
_view, allowed = allowed_cases_or_stop(ctx.paths, ctx.user)
shown = apply_filter(allowed, render_filters(allowed))
st.markdown(f"{len(shown)} cases")
if shown.empty:
    st.stop()
categories = {c.key: f"{c.name_zh} · {c.name_en}" for c in load_taxonomy().categories}
data = pd.DataFrame(
    {
        "category": shown["category"].map(lambda k: categories.get(k, k)),
        "road": shown["road_name"].fillna("(no road)").astype(str),
        "week": iso_week(shown["last_seen_utc"]),
        "status": shown["status"],
    }
)
left, right = st.columns(2)
by_category = data["category"].value_counts().rename("cases")
left.subheader("By category")
left.bar_chart(by_category)
left.dataframe(by_category.reset_index(), hide_index=True)
by_road = data["road"].value_counts().rename("cases")
right.subheader("By road")
right.bar_chart(by_road)
right.dataframe(by_road.reset_index(), hide_index=True)
st.subheader("By ISO week (last seen)")
weekly = data.pivot_table(index="week", columns="category", aggfunc="size", fill_value=0).sort_index()
st.line_chart(weekly)
st.dataframe(weekly.reset_index(), hide_index=True)
st.subheader("Review status by week")
st.bar_chart(data.pivot_table(index="week", columns="status", aggfunc="size", fill_value=0).sort_index())
