"""Case page (``/Case?case=ID``): header, evidence, history, size trend, review and export.

Every action re-checks the role on the server: seeing the case
(:func:`dashboard.roles.require_view`), each review move (inside
:meth:`dashboard.review.ReviewLog.transition`) and the packet export (inside
:func:`dashboard.evidence_packet.export_evidence_packet`). The review buttons
shown are only the moves the role may make from the current state; the
current state is always printed as "Status: <state>".
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard.case_media import case_clip, case_media
from dashboard.case_table import SEVERITY_NAMES, case_from_table
from dashboard.loaders import load_cases_view, load_events
from dashboard.page_context import CASE_QUERY_PARAM, page_context
from dashboard.review import ReviewError, ReviewLog, ReviewState, allowed_roles
from dashboard.roles import ENFORCEMENT_VIEWERS, PermissionDenied, packet_exporters, require_view
from geo.cases import Case
from stream.evidence import LocalEvidenceStore

# button label per target state (fixed -> dispatched is rework: dispatched again)
ACTION_LABELS = {
    ReviewState.confirmed: "Confirm",
    ReviewState.rejected: "Reject",
    ReviewState.dispatched: "Dispatch",
    ReviewState.fixed: "Mark fixed",
    ReviewState.verified: "Verify",
    ReviewState.new: "Reopen",
}
DONE_KEY = "case_review_done"

ctx = page_context()
st.title("Case · 案件")
case_id = st.query_params.get(CASE_QUERY_PARAM)
if not case_id:
    st.info("Open a case from the Map page, or go to /Case?case=CASE_ID.")
    typed = st.text_input("Case id")
    if typed.strip():
        st.query_params[CASE_QUERY_PARAM] = typed.strip()
        st.rerun()
    st.stop()
view = load_cases_view(ctx.paths)
if view.table is None or view.raw is None or ctx.paths is None:
    st.error(view.message or "No cases.")
    st.stop()
rows = view.table[view.table["case_id"] == case_id]
if rows.empty:
    st.error(f"No case {case_id} in {ctx.paths.cases}.")
    st.stop()
row = rows.iloc[0]
try:
    require_view(ctx.user, str(row["kind"]), case_id)
except PermissionDenied as exc:
    st.error(f"Not permitted: {exc}")
    st.stop()
case: Case | None = case_from_table(view.raw, case_id, source=str(ctx.paths.cases))
assert case is not None

state = ReviewState(str(row["status"]))
road = str(row["road_name"]) if isinstance(row["road_name"], str) and row["road_name"] else None
stake = str(row["stake"]) if isinstance(row["stake"], str) and row["stake"] else None
st.header(f"Case {case_id}")
st.markdown(
    f"**{row['name_zh']} · {row['name_en']}** (`{row['class_key']}`, {row['category']}, {row['kind']}) · "
    f"severity {SEVERITY_NAMES.get(int(row['severity']), row['severity'])}"
)
st.markdown(f"Status: {state.value}")
where = f"{road} {stake}" if road and stake else (road or "no road referenced")
st.markdown(
    f"Road: {where} · position {case.lon:.6f}, {case.lat:.6f} (± {case.accuracy_m:.1f} m) · "
    f"first seen {case.first_seen_utc:%Y-%m-%d %H:%M} UTC · "
    f"last seen {case.last_seen_utc:%Y-%m-%d %H:%M} UTC · "
    f"seen in {case.times_seen} pass(es), {case.detections} detection(s)"
)
done = st.session_state.pop(DONE_KEY, None)
if done:
    st.success(done)

# --- evidence -------------------------------------------------------------------------------
events, events_problem = load_events(ctx.paths)
case_events = events[events["event_id"].isin(set(case.event_ids))] if events is not None else pd.DataFrame()
st.subheader("Evidence")
if events_problem:
    st.warning(events_problem)
blur = ctx.user.role not in ENFORCEMENT_VIEWERS
media = case_media(case_events, LocalEvidenceStore(ctx.paths.evidence), blur=blur)
if media.note:
    st.info(media.note)
if media.frame_png is not None and media.crop_png is not None:
    left, right = st.columns([1, 3])
    left.image(media.crop_png, caption="Best evidence crop")
    right.image(
        media.frame_png,
        caption="Full frame with the box" + (" (faces and plates blurred)" if media.blurred else ""),
    )

if len(case_events) > 1 and st.button("Make clip"):  # encoding takes a moment: on request
    with st.spinner("Encoding the clip ..."):
        clip = case_clip(case_events, LocalEvidenceStore(ctx.paths.evidence), blur=blur)
    if clip.data is not None:
        st.video(clip.data, format=clip.media_type or "video/mp4")
        st.caption(f"Clip: {clip.frames} evidence frames in time order" + (" (blurred)" if blur else ""))
    else:
        st.info(clip.note)

# --- history -----------------------------------------------------------------------------------
st.subheader("History")
if not case_events.empty:
    shown_events = case_events[["time_utc", "mission_id", "source_id", "frame_index", "class_key", "score"]]
    st.markdown(f"Detections: {len(case_events)} of {len(case.event_ids)} in the event store")
    st.dataframe(pd.DataFrame(shown_events).sort_values("time_utc"), hide_index=True)
passes = pd.DataFrame(
    [
        {
            "time_utc": o.time_utc,
            "pass": o.pass_id,
            "score": o.score,
            "area_m2": o.area_m2,
            "length_m": o.length_m,
        }
        for o in case.trend
    ]
)
if not passes.empty:
    st.markdown(f"Passes that saw it: {len(passes)}")
    st.dataframe(passes, hide_index=True)
    size = passes.set_index("time_utc")[["area_m2", "length_m"]].dropna(axis=1, how="all")
    if not size.empty:
        st.markdown("Size trend")
        st.line_chart(size)

# --- review -----------------------------------------------------------------------------------
st.subheader("Review")
moves = [
    to
    for to in ACTION_LABELS
    if (roles := allowed_roles(case.kind, state, to)) is not None and ctx.user.role in roles
]
current_assignee, history = None, []
if ctx.paths.review.exists():  # reading must not create the log: it appears with the first move
    with ReviewLog(ctx.paths.review) as log:
        current_assignee, history = log.assignee(case_id), log.history(case_id)
if moves:
    form_n = st.session_state.get("review_form_n", 0)  # a new key clears the inputs after a move
    comment = st.text_area("Comment", key=f"comment_{form_n}")
    assignee = st.text_input("Assignee", value=current_assignee or "", key=f"assignee_{form_n}")
    columns = st.columns(len(moves))
    for column, to in zip(columns, moves, strict=True):
        if column.button(ACTION_LABELS[to], key=f"move_{to.value}"):
            try:
                with ReviewLog(ctx.paths.review) as log:
                    entry = log.transition(
                        case, to, user=ctx.user, comment=comment, assignee=assignee.strip() or None
                    )
            except (ReviewError, PermissionDenied) as exc:
                st.error(str(exc))
            else:
                st.session_state[DONE_KEY] = f"{entry.from_state} → {entry.to_state} by {entry.user}"
                st.session_state["review_form_n"] = form_n + 1
                st.rerun()
else:
    st.caption(f"No review step for {ctx.user.role.value} from {state.value}.")
if history:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "time_utc": e.time_utc,
                    "user": e.user,
                    "role": e.role,
                    "from": e.from_state,
                    "to": e.to_state,
                    "assignee": e.assignee,
                    "comment": e.comment,
                }
                for e in history
            ]
        ),
        hide_index=True,
    )

# --- export -----------------------------------------------------------------------------------
if ctx.user.role in packet_exporters(case.kind):
    st.subheader("Evidence packet")
    if not ctx.paths.site_key.exists():
        st.warning(
            f"No site key at {ctx.paths.site_key}: run `roadsight evidence keygen --store {ctx.paths.store}`."
        )
    elif st.button("Export evidence packet"):
        from dashboard.evidence_packet import EvidencePacketError, export_evidence_packet

        try:
            with tempfile.TemporaryDirectory() as tmp:
                packet = export_evidence_packet(
                    case,
                    user=ctx.user,
                    cases_path=ctx.paths.cases,
                    events_store=ctx.paths.store,
                    evidence_root=ctx.paths.evidence,
                    out_zip=Path(tmp) / f"case-{case_id}.zip",
                    signing_key=ctx.paths.site_key,
                )
                st.session_state["packet"] = (case_id, packet.read_bytes())
        except (EvidencePacketError, PermissionDenied) as exc:
            st.error(str(exc))
    ready = st.session_state.get("packet")
    if ready and ready[0] == case_id:
        st.download_button(
            "Download evidence packet", ready[1], file_name=f"case-{case_id}.zip", mime="application/zip"
        )
