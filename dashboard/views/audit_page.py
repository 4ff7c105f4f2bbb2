"""Audit page (admin only): every review action, and whether the hash chain of the log is intact."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.page_context import page_context
from dashboard.review import ReviewError, ReviewLog, verify_audit_log
from dashboard.roles import PermissionDenied, Role, require

ctx = page_context()
st.title("Audit · 审计")
try:
    require(ctx.user, {Role.admin}, "read the audit log")
except PermissionDenied as exc:
    st.error(f"Not permitted: {exc}")
    st.stop()
if ctx.paths is None or not ctx.paths.review.exists():
    st.info("No review actions yet.")
    st.stop()
try:
    report = verify_audit_log(ctx.paths.review)
except ReviewError as exc:
    st.error(str(exc))
    st.stop()
if report.ok:
    st.success(f"Audit chain intact: {report.rows} rows, head {report.head_hash}")
else:
    st.error(f"Audit chain broken at row {report.bad_seq}: {report.reason}")
with ReviewLog(ctx.paths.review) as log:
    history = log.history()
table = pd.DataFrame(
    [
        {
            "seq": e.seq,
            "time_utc": e.time_utc,
            "user": e.user,
            "role": e.role,
            "case_id": e.case_id,
            "from": e.from_state,
            "to": e.to_state,
            "assignee": e.assignee,
            "comment": e.comment,
            "row_hash": e.row_hash,
        }
        for e in history
    ]
)
who = st.text_input("User contains")
if who.strip() and not table.empty:
    table = table[table["user"].str.contains(who.strip(), case=False, regex=False)]
st.dataframe(table, hide_index=True)
st.download_button(
    "Download audit log (CSV)", table.to_csv(index=False), file_name="audit_log.csv", mime="text/csv"
)
