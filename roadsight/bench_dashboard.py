"""Dashboard first paint: a real ``streamlit run`` of a synthetic N-case site in headless Chromium.

Figures (keys of the returned dict); browser times are on the page's own clock
(``performance.now()``), the others on this process's clock:

* ``login_form_ms``: navigation start -> the login form can be typed into;
* ``page_done_ms``: "Log in" pressed -> the map page's script run has finished (no element
  left from the login page, no "Running...") and it states "Showing N of M cases"; polled
  every 0.25 s, so up to that much late;
* ``first_paint_ms``: "Log in" pressed -> deck.gl's first WebGL draw of case data on the
  map canvas (recorded inside the page by wrapping the instanced draw calls: exact);
* ``server_load_ms``: reading the case book, in this process (the app caches it after its first run);
* ``server_query_ms``: what each rerun of the map does on the server with the cached table (the
  user's cases, the default filter, the deck, aggregated when many), in this process, median of 3;
* ``site_write_s``: writing the synthetic site (not part of the paint);
* ``n_cases``, ``cases_shown``, ``cases_total``: the site's size, and "Showing N of M" as read
  on the page (M: the cases a road manager may see, enforcement cases excluded).

A sanity check makes sure the draw is on screen: the map's screenshot must show
coloured markers.

Example:
    >>> figures = measure_first_paint(100_000)  # doctest: +SKIP
    >>> figures["first_paint_ms"]  # doctest: +SKIP
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from dashboard.demo_data import DEMO_USERS, write_demo_site
from dashboard.filters import CaseFilter, apply_filter
from dashboard.loaders import load_cases_view, load_coverage, visible_cases
from dashboard.map_layers import build_case_map
from dashboard.roles import Role, User
from dashboard.site import SitePaths
from roadsight.deck_paint import page_clock_ms, record_deck_draws, wait_for_deck_data, wait_for_markers
from roadsight.streamlit_browser import (
    BrowserError,
    chromium_driver,
    click_button,
    input_by_label,
    showing_counts,
    streamlit_server,
    type_into,
)

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def measure_first_paint(n_cases: int, *, seed: int = 0) -> dict[str, float]:
    """Figures above for a road manager opening the map of an ``n_cases`` demo site (keys: see module)."""
    name, (_role, password) = next((n, rp) for n, rp in DEMO_USERS.items() if rp[0] is Role.road_manager)
    with tempfile.TemporaryDirectory(prefix="roadsight-bench-dashboard-") as tmp:
        started = time.perf_counter()
        site = write_demo_site(Path(tmp) / "site", n_cases, seed=seed)
        figures = {"n_cases": float(n_cases), "site_write_s": time.perf_counter() - started}
        figures["server_load_ms"], figures["server_query_ms"] = _server_query_ms(
            site.store, User(name, Role.road_manager)
        )
        app_args = ["--store", str(site.store), "--refresh-s", "0"]
        with (
            streamlit_server(APP, app_args, log_path=Path(tmp) / "streamlit.log") as server,
            chromium_driver() as driver,
        ):
            record_deck_draws(driver)
            driver.get(server.url)
            input_by_label(driver, "Username")
            figures["login_form_ms"] = page_clock_ms(driver)
            type_into(driver, "Username", name)
            type_into(driver, "Password", password)
            clicked_ms = page_clock_ms(driver)
            click_button(driver, "Log in")
            shown, total = showing_counts(driver)
            figures["page_done_ms"] = page_clock_ms(driver) - clicked_ms
            figures["first_paint_ms"] = wait_for_deck_data(driver, since_ms=clicked_ms) - clicked_ms
            wait_for_markers(driver)  # what deck.gl drew is on screen, not only in a draw call
        figures["cases_shown"], figures["cases_total"] = float(shown), float(total)
    return figures


def _server_query_ms(store: Path, user: User, repeats: int = 3) -> tuple[float, float]:
    """(cold load, warm query) in ms, in this process, with the map page's own functions: reading the
    case book (cached by the app afterwards), then what every rerun of the map does with the cached
    table: the user's visible cases, the default filter, and the deck (aggregated when many)."""
    paths = SitePaths.for_store(store)
    started = time.perf_counter()
    view = load_cases_view(paths)
    load_ms = 1e3 * (time.perf_counter() - started)
    if view.table is None:
        raise BrowserError(f"no case table for the benchmark: {view.message}")
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        table = load_cases_view(paths).table  # a cache hit, as on every rerun
        assert table is not None
        shown = apply_filter(visible_cases(table, user), CaseFilter())
        coverage, tracks = load_coverage(paths)
        build_case_map(shown, coverage=coverage, tracks=tracks)
        times.append(1e3 * (time.perf_counter() - started))
    return load_ms, statistics.median(times)
