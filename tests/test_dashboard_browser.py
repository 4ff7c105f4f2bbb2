"""The dashboard in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``, Selenium).

A road manager logs in, sees the map of a 10,000-case site drawn by deck.gl,
filters it, opens a case and confirms it; the audit log on disk records the
transition by that user, and an admin then sees all 10,000 cases and that row on
the Audit page. A field crew account does not get enforcement cases (not by a
link, not in "Open case") nor the Audit page.
Screenshots of every step are kept under ``test-artifacts/browser/<test>/``
(or ``$ROADSIGHT_ARTIFACTS``).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from browser_helpers import artifacts_dir, dashboard_in_browser
from selenium.webdriver.remote.webdriver import WebDriver

from dashboard.demo_data import DEMO_USERS, DemoSite, write_demo_site
from dashboard.review import ReviewLog, ReviewState
from dashboard.roles import ENFORCEMENT_KIND, Role
from geo.cases import CASES_LAYER
from roadsight import streamlit_browser
from roadsight.bench_dashboard import measure_first_paint
from roadsight.deck_paint import page_clock_ms, record_deck_draws, wait_for_deck_data, wait_for_markers
from roadsight.streamlit_browser import (
    BrowserError,
    button,
    choose_option,
    chromium_driver,
    clear_multiselect,
    click_button,
    input_by_label,
    log_in,
    nav_links,
    open_options,
    open_page,
    page_text,
    scroll_to_text,
    showing_counts,
    streamlit_server,
    type_into,
    visible_options,
    wait_for_text,
    wait_until,
)
from taxonomy import load_taxonomy

N_CASES = 10_000
OPEN_CASE_LIMIT = 500  # "Open case" offers the 500 worst/newest shown cases (dashboard/views/map_page.py)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> DemoSite:
    return write_demo_site(tmp_path_factory.mktemp("browser_site"), N_CASES, seed=7)


def account(role: Role) -> tuple[str, str]:
    name, (_role, password) = next((n, rp) for n, rp in DEMO_USERS.items() if rp[0] is role)
    return name, password


def case_book(site: DemoSite) -> gpd.GeoDataFrame:
    return gpd.read_file(site.cases_path, layer=CASES_LAYER)


def test_road_manager_filters_opens_and_confirms_a_case(site: DemoSite) -> None:
    cases = case_book(site)
    assert len(cases) == N_CASES
    visible = cases[cases["kind"] != ENFORCEMENT_KIND]  # a road manager does not see enforcement cases
    case = visible.set_index("case_id").loc[site.defect_case_id]
    same_class = int((visible["class_key"] == case["class_key"]).sum())
    taxon = load_taxonomy().get(case["class_key"])
    class_option = f"{taxon.name_zh} · {taxon.name_en}"  # as the Class filter names it: unique
    assert same_class <= OPEN_CASE_LIMIT, "the filtered case must be among those 'Open case' offers"
    name, password = account(Role.road_manager)
    comment = "seen on site (browser test)"

    with dashboard_in_browser(site.store, artifacts_dir("road_manager_confirms")) as ui:
        record_deck_draws(ui.driver)
        ui.driver.refresh()  # the draw recorder is installed for documents loaded from now on
        input_by_label(ui.driver, "Username")
        ui.shot("login")
        login_clicked_ms = page_clock_ms(ui.driver)
        log_in(ui.driver, name, password)

        shown, total = showing_counts(ui.driver)
        assert total == len(visible), f"the map counts {total} cases, the manager may see {len(visible)}"
        assert 0 < shown <= total
        wait_for_deck_data(ui.driver, since_ms=login_clicked_ms)
        wait_for_markers(ui.driver)
        ui.shot("map")

        clear_multiselect(ui.driver, "Class")
        choose_option(ui.driver, "Class", class_option)
        filtered, total_after = showing_counts(ui.driver, lambda n, m: n != shown)
        assert total_after == total
        if shown == total:  # nothing else filters by default: the class alone decides
            assert filtered == same_class
        else:
            assert 0 < filtered < shown
        wait_for_markers(ui.driver)
        ui.shot("filtered_by_class")

        choose_option(ui.driver, "Open case", site.defect_case_id)
        wait_for_text(ui.driver, r"Status: new")
        ui.shot("case")
        type_into(ui.driver, "Comment", comment)
        click_button(ui.driver, "Confirm")
        wait_for_text(ui.driver, r"Status: confirmed")
        button(ui.driver, "Dispatch")  # the manager's next step from confirmed: the page is redrawn
        scroll_to_text(ui.driver, "Status: confirmed")
        ui.shot("confirmed")

        with ReviewLog(site.review_path) as log:
            assert log.state(site.defect_case_id) is ReviewState.confirmed
            (entry,) = log.history()
        assert (entry.user, entry.role, entry.case_id, entry.from_state, entry.to_state) == (
            name,
            Role.road_manager.value,
            site.defect_case_id,
            ReviewState.new.value,
            ReviewState.confirmed.value,
        )
        assert entry.comment == comment

        # An admin sees every case, and the audit page shows the manager's action in an intact chain.
        click_button(ui.driver, "Log out")
        log_in(ui.driver, *account(Role.admin))
        open_page(ui.driver, "Map")
        assert showing_counts(ui.driver)[1] == N_CASES
        open_page(ui.driver, "Audit")
        wait_for_text(ui.driver, r"Audit chain intact: 1 rows")
        ui.shot("audit_as_admin")


def test_field_crew_does_not_get_enforcement_cases(site: DemoSite) -> None:
    assert site.enforcement_case_id is not None, "the demo site drew no enforcement case"
    cases = case_book(site)
    defect_ids = set(cases.loc[cases["kind"] != ENFORCEMENT_KIND, "case_id"])
    name, password = account(Role.field_crew)

    with dashboard_in_browser(site.store, artifacts_dir("field_crew_no_enforcement")) as ui:
        # A link straight to an enforcement case survives the login, and is refused after it.
        ui.driver.get(f"{ui.server.url}/Case?case={site.enforcement_case_id}")
        input_by_label(ui.driver, "Username")
        log_in(ui.driver, name, password)
        wait_for_text(ui.driver, r"Not permitted")
        ui.shot("enforcement_case_refused")
        assert "Status:" not in page_text(ui.driver)

        open_page(ui.driver, "Map")
        _shown, total = showing_counts(ui.driver)
        assert total == len(defect_ids) < N_CASES
        assert "Map" in nav_links(ui.driver) and "Audit" not in nav_links(ui.driver)  # admins only
        ui.shot("map_without_enforcement_cases")
        # "Open case" offers defect cases (positive control), but none for the enforcement case's id.
        offered = open_options(ui.driver, "Open case")
        assert offered and set(offered) <= defect_ids
        input_by_label(ui.driver, "Open case").send_keys(site.enforcement_case_id)
        all_ids = set(cases["case_id"])

        def list_without_cases(d: WebDriver) -> bool:  # open (shows "No results"), and no case in it
            options = visible_options(d)
            return bool(options) and not set(options) & all_ids

        wait_until(ui.driver, list_without_cases, "no case offered for the enforcement case's id")
        ui.shot("enforcement_case_not_offered")


def test_artifacts_dir_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROADSIGHT_ARTIFACTS", str(tmp_path / "ci"))
    (tmp_path / "ci" / "browser" / "x").mkdir(parents=True)
    (tmp_path / "ci" / "browser" / "x" / "old.png").write_bytes(b"old run")
    directory = artifacts_dir("x")
    assert directory == tmp_path / "ci" / "browser" / "x" and directory.is_dir()
    assert not any(directory.iterdir())  # a run starts with an empty folder


def test_first_paint_bench_produces_every_figure() -> None:
    figures = measure_first_paint(1_000, seed=3)
    timed = ("login_form_ms", "page_done_ms", "first_paint_ms", "server_load_ms", "server_query_ms")
    assert all(figures[key] > 0 for key in timed), figures
    assert figures["n_cases"] == 1_000
    assert 0 < figures["cases_shown"] <= figures["cases_total"] < 1_000  # no enforcement cases for a manager


def test_missing_chromium_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(streamlit_browser, "CHROMEDRIVER", tmp_path / "no-chromedriver")
    expected = r"no-chromedriver not found: apt-get install -y chromium-driver"
    with pytest.raises(BrowserError, match=expected), chromium_driver():
        pass


def test_a_server_that_exits_is_a_clear_error_with_its_log(tmp_path: Path) -> None:
    missing_app = tmp_path / "no_such_app.py"
    expected = r"streamlit exited with \d+:(.|\n)*no_such_app\.py"
    with (
        pytest.raises(BrowserError, match=expected),
        streamlit_server(missing_app, [], log_path=tmp_path / "st.log"),
    ):
        pass
