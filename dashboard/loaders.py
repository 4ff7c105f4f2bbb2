"""Cached reads of the site's files for the pages, keyed on each file's size and mtime.

A file that changes (the sink writes, a reviewer confirms) gets a new key, so a
live page re-reads only what changed. ``st.cache_resource`` shares one copy
between sessions without pickling it (100,000 cases): callers must not mutate
what they get. A database store (PostGIS) has no mtime: its events are cached
for a few seconds instead.

Example:
    >>> view = load_cases_view(SitePaths.for_store("data/roadsight.gpkg"))  # doctest: +SKIP
    >>> view.table is None or len(view.table) >= 0  # doctest: +SKIP
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd
import streamlit as st

from dashboard.case_table import (
    CaseTableError,
    case_table,
    read_case_book,
    read_coverage,
    review_states,
    tracks_from_coverage,
)
from dashboard.roles import User, can_view_kind
from dashboard.site import SitePaths, is_database_uri
from stream import StoreError, open_store

DATABASE_EVENTS_TTL_S = 5.0


def file_signature(path: Path) -> tuple[int, int] | None:
    """(size, mtime_ns) of ``path``, None when it does not exist."""
    try:
        st_ = path.stat()
    except OSError:
        return None
    return st_.st_size, st_.st_mtime_ns


@st.cache_resource(max_entries=4, show_spinner="Reading the case book…")
def _raw_cases(path: str, signature: tuple[int, int]) -> pd.DataFrame:
    del signature  # part of the cache key only
    return read_case_book(Path(path))


@st.cache_resource(max_entries=4, show_spinner=False)
def _table(
    path: str, signature: tuple[int, int], review: str, review_sig: tuple[int, int] | None
) -> pd.DataFrame:
    del review_sig
    return case_table(_raw_cases(path, signature), review_states(Path(review)))


@st.cache_resource(max_entries=4, show_spinner=False)
def _coverage(path: str, signature: tuple[int, int]) -> tuple[gpd.GeoDataFrame | None, pd.DataFrame | None]:
    del signature
    coverage = read_coverage(Path(path))
    return coverage, (tracks_from_coverage(coverage) if coverage is not None else None)


@dataclass(frozen=True)
class CasesView:
    """The case table (review state joined) and the raw book, or why there are none."""

    table: pd.DataFrame | None
    raw: pd.DataFrame | None
    message: str | None = None
    level: str = "info"  # info | warning | error


def load_cases_view(paths: SitePaths | None) -> CasesView:
    """The cases of the site; never raises for a missing or bad file (the message says what)."""
    if paths is None:
        return CasesView(
            None,
            None,
            "No event store configured: run `streamlit run dashboard/app.py -- --store PATH` "
            "or set ROADSIGHT_STORE.",
            "error",
        )
    signature = file_signature(paths.cases)
    if signature is None:
        return CasesView(
            None,
            None,
            f"No case book yet: {paths.cases} (it appears after the first pipeline run over {paths.store}).",
            "warning",
        )
    try:
        raw = _raw_cases(str(paths.cases), signature)
        table = _table(str(paths.cases), signature, str(paths.review), file_signature(paths.review))
    except CaseTableError as exc:
        return CasesView(None, None, f"Cannot read the case book: {exc}", "error")
    if table.empty:
        return CasesView(table, raw, f"No cases in the case book yet: {paths.cases}", "info")
    return CasesView(table, raw)


def visible_cases(table: pd.DataFrame, user: User) -> pd.DataFrame:
    """The cases ``user`` may see at all (enforcement cases only for enforcement and admin)."""
    kinds = table["kind"].unique()
    allowed = [k for k in kinds if can_view_kind(user, str(k))]
    return table[table["kind"].isin(allowed)]


def load_coverage(paths: SitePaths) -> tuple[gpd.GeoDataFrame | None, pd.DataFrame | None]:
    """Frame footprints and the tracks made of them; (None, None) without a coverage layer."""
    signature = file_signature(paths.cases)
    if signature is None:
        return None, None
    try:
        return _coverage(str(paths.cases), signature)
    except CaseTableError as exc:
        st.warning(str(exc))
        return None, None


@st.cache_resource(max_entries=4, show_spinner="Reading the event store…")
def _events_file(store: str, signature: tuple[int, int]) -> gpd.GeoDataFrame:
    del signature
    with open_store(store, readonly=True) as events:
        return events.read()


@st.cache_resource(max_entries=2, ttl=DATABASE_EVENTS_TTL_S, show_spinner="Reading the event store…")
def _events_database(store: str) -> gpd.GeoDataFrame:
    with open_store(store, readonly=True) as events:
        return events.read()


def load_events(paths: SitePaths) -> tuple[gpd.GeoDataFrame | None, str | None]:
    """All events of the store, or None and why not."""
    try:
        if is_database_uri(paths.store):
            return _events_database(paths.store), None
        signature = file_signature(Path(paths.store.removeprefix("sqlite://")))
        if signature is None:
            return None, f"Event store not found: {paths.store}"
        return _events_file(paths.store, signature), None
    except StoreError as exc:
        return None, f"Cannot read the event store: {exc}"


def show_message(view: CasesView) -> None:
    """The view's message in the box its level asks for (nothing without a message)."""
    if view.message:
        {"info": st.info, "warning": st.warning, "error": st.error}[view.level](view.message)


def allowed_cases_or_stop(paths: SitePaths | None, user: User) -> tuple[CasesView, pd.DataFrame]:
    """The site's cases and those ``user`` may see; shows why and stops the page when there are none."""
    view = load_cases_view(paths)
    if view.table is None or view.table.empty:
        show_message(view)
        st.stop()
    assert view.table is not None
    return view, visible_cases(view.table, user)
