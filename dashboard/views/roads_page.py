"""Roads page: the filtered cases per road, and one road's cases in chainage (stake) order."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.case_table import export_frame
from dashboard.exports import cases_for, work_order_pdf
from dashboard.filter_widgets import render_filters
from dashboard.filters import apply_filter
from dashboard.loaders import allowed_cases_or_stop
from dashboard.page_context import page_context

ctx = page_context()
st.title("Roads · 道路")
view, allowed = allowed_cases_or_stop(ctx.paths, ctx.user)
shown = apply_filter(allowed, render_filters(allowed))
on_road = shown[shown["road_name"].notna() & (shown["road_name"].astype(str) != "")]
off_road = len(shown) - len(on_road)
if on_road.empty:
    st.info(
        f"None of the {len(shown)} cases shown is referenced to a road "
        "(configure roads.path in the pipeline config to get road, chainage and stake)."
    )
    st.stop()
summary = (
    on_road.groupby("road_name")
    .agg(
        road_id=("road_id", "first"),
        cases=("case_id", "size"),
        worst_severity=("severity", "max"),
        from_m=("chainage_m", "min"),
        to_m=("chainage_m", "max"),
    )
    .sort_values("cases", ascending=False)
    .reset_index()
)
st.markdown(
    f"{len(on_road)} cases on {len(summary)} roads" + (f" · {off_road} not on a road" if off_road else "")
)
st.dataframe(summary, hide_index=True)
road = st.selectbox("Road to list", list(summary["road_name"]))
cases = on_road[on_road["road_name"] == road].sort_values("chainage_m")
st.subheader(f"{road}: {len(cases)} cases by chainage")
km = np.floor(cases["chainage_m"].to_numpy() / 1000.0).astype(int)
per_km = pd.Series(km).value_counts().sort_index()
st.bar_chart(pd.DataFrame({"cases": per_km.to_numpy()}, index=[f"K{k}" for k in per_km.index]))
columns = ["stake", "chainage_m", "name_zh", "name_en", "status", "severity", "last_seen_utc", "case_id"]
st.dataframe(pd.DataFrame(cases[columns]), hide_index=True)
if st.button("Work order (PDF)") and view.raw is not None:
    # the open cases of this road among those shown; the role filter ran above (visible cases only)
    frame = cases_for(ctx.user, export_frame(view.raw, cases))
    with tempfile.TemporaryDirectory(prefix="roadsight-work-order-") as tmp:
        pdf = work_order_pdf(frame, str(road), Path(tmp) / "work_order.pdf").read_bytes()
    st.session_state["work_order"] = (road, pdf)
ready = st.session_state.get("work_order")
if ready and ready[0] == road:
    st.download_button(
        "Download work order", ready[1], file_name=f"work_order_{road}.pdf", mime="application/pdf"
    )
