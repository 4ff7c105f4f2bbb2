"""The multi-page dashboard through Streamlit's AppTest, for every page and every role, on real stores."""

from __future__ import annotations

import copy
import sqlite3
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
from dashboard_apptest import (
    button_labels,
    image_captions,
    log_in,
    open_case_options,
    open_page,
    shown_count,
    start_app,
    texts,
)
from fixtures_evidence import build_site

from dashboard.demo_data import DEMO_USERS, DemoSite, write_demo_site
from dashboard.review import ReviewLog, verify_audit_log
from dashboard.roles import AccountBook, Role, users_path_for
from dashboard.session import LOGIN_FAILED
from geo.cases import load_cases

ROLE_USER = {role: name for name, (role, _pw) in DEMO_USERS.items()}


@pytest.fixture
def site(tmp_path: Path) -> DemoSite:
    site = write_demo_site(tmp_path / "site", 40, seed=2)
    assert site.enforcement_case_id is not None, "the seed must draw an enforcement case"
    return site


def signed_in(monkeypatch: pytest.MonkeyPatch, site: DemoSite, role: Role, refresh_s: str = "0"):
    name = ROLE_USER[role]
    return log_in(start_app(monkeypatch, site.store, refresh_s), name, DEMO_USERS[name][1])


def kinds(site: DemoSite) -> dict[str, str]:
    return {c.case_id: c.kind for c in load_cases(site.cases_path).cases}


def test_login_form_failure_and_logout(monkeypatch: pytest.MonkeyPatch, site: DemoSite):
    at = start_app(monkeypatch, site.store)
    assert [w.label for w in at.text_input] == ["Username", "Password"]
    assert "Log in" in button_labels(at)
    assert not any(t.startswith("Showing") for t in texts(at))  # nothing before login
    log_in(at, "manager", "wrong password")
    assert LOGIN_FAILED in [e.value for e in at.error]
    assert not any(t.startswith("Showing") for t in texts(at))
    log_in(at, "manager", DEMO_USERS["manager"][1])
    assert "Signed in as manager (road_manager)" in [t.value for t in at.sidebar.text]
    assert shown_count(at)[1] > 0
    next(b for b in at.sidebar.button if b.label == "Log out").click()
    at.run()
    assert [w.label for w in at.text_input] == ["Username", "Password"]
    assert not any(t.startswith("Showing") for t in texts(at))


@pytest.mark.parametrize("role", list(Role))
def test_every_page_renders_for_every_role(monkeypatch: pytest.MonkeyPatch, site: DemoSite, role: Role):
    at = signed_in(monkeypatch, site, role)
    visible = sum(
        1 for k in kinds(site).values() if k != "enforcement" or role in (Role.enforcement, Role.admin)
    )
    assert shown_count(at) == (visible, visible)  # nothing rejected yet
    open_page(at, "Roads")
    assert any(t.endswith("roads") and "cases on" in t for t in texts(at))
    open_page(at, "Statistics")
    assert f"{visible} cases" in texts(at)
    open_page(at, "Missions")
    assert any(t.endswith("missions") for t in texts(at))
    assert at.get("deck_gl_json_chart")  # the replay map
    open_page(at, "Case", case=site.defect_case_id)
    assert f"Case {site.defect_case_id}" in [h.value for h in at.header]
    if role is Role.admin:
        open_page(at, "Audit")
        assert any("No review actions yet" in t for t in texts(at))
    else:
        with pytest.raises(ValueError):  # not registered: the page does not exist for this role
            open_page(at, "Audit")


def test_field_crew_never_sees_enforcement_cases_or_evidence(monkeypatch: pytest.MonkeyPatch, site: DemoSite):
    assert site.enforcement_case_id is not None
    enforcement = {cid for cid, kind in kinds(site).items() if kind == "enforcement"}
    at = signed_in(monkeypatch, site, Role.field_crew)
    assert not enforcement & set(open_case_options(at))
    (classes,) = [m for m in at.sidebar.multiselect if m.label == "Class"]
    assert not any(k in classes.options for k in ("illegal_parking_vehicle",))
    open_page(at, "Case", case=site.enforcement_case_id)
    assert any(e.value.startswith("Not permitted") for e in at.error)
    assert not at.get("image") and not at.header  # no image, no case header
    # a defect case: the crew sees it, but only blurred (or withheld), and has no review step from new
    open_page(at, "Case", case=site.defect_case_id)
    assert "Status: new" in texts(at)
    assert not {"Confirm", "Reject", "Export evidence packet"} & set(button_labels(at))
    captions = image_captions(at)
    assert "Full frame with the box" not in captions  # never the unblurred frame
    assert any("blurred" in c for c in captions) or any("withheld" in t for t in texts(at))


def test_enforcement_sees_and_exports_its_case(monkeypatch: pytest.MonkeyPatch, site: DemoSite):
    at = signed_in(monkeypatch, site, Role.enforcement)
    assert site.enforcement_case_id in open_case_options(at)
    open_page(at, "Case", case=site.enforcement_case_id)
    assert "Full frame with the box" in image_captions(at)  # originals for enforcement
    assert {"Confirm", "Reject"} <= set(button_labels(at))
    next(b for b in at.button if b.label == "Export evidence packet").click()
    at.run()
    assert not at.exception, at.exception
    assert at.get("download_button"), texts(at)


def test_confirm_on_case_page_is_audited_with_the_user(monkeypatch: pytest.MonkeyPatch, site: DemoSite):
    at = signed_in(monkeypatch, site, Role.road_manager)
    open_page(at, "Case", case=site.defect_case_id)
    assert {"Confirm", "Reject"} <= set(button_labels(at)) and "Verify" not in button_labels(at)
    next(b for b in at.button if b.label == "Confirm").click()  # no comment: refused, nothing logged
    at.run()
    assert any("comment is required" in e.value for e in at.error)
    assert not site.review_path.exists() or not ReviewLog(site.review_path).history(site.defect_case_id)
    (comment,) = [t for t in at.text_area if t.label == "Comment"]
    comment.input("seen on site, 40 cm")
    next(b for b in at.button if b.label == "Confirm").click()
    at.run()
    assert not at.exception, at.exception
    assert "Status: confirmed" in texts(at)
    assert "Dispatch" in button_labels(at) and "Confirm" not in button_labels(at)
    with ReviewLog(site.review_path) as log:
        (entry,) = log.history(site.defect_case_id)
    assert (entry.user, entry.role, entry.from_state, entry.to_state, entry.comment) == (
        "manager",
        "road_manager",
        "new",
        "confirmed",
        "seen on site, 40 cm",
    )
    assert verify_audit_log(site.review_path).ok
    # dispatch needs an assignee: given, it is logged too
    (assignee,) = [t for t in at.text_input if t.label == "Assignee"]
    assignee.input("crew-7")
    next(t for t in at.text_area if t.label == "Comment").input("crew 7 tomorrow")
    next(b for b in at.button if b.label == "Dispatch").click()
    at.run()
    assert "Status: dispatched" in texts(at)
    with ReviewLog(site.review_path) as log:
        assert log.assignee(site.defect_case_id) == "crew-7"
    # the admin sees both moves in the audit log, chain intact
    at_admin = signed_in(monkeypatch, site, Role.admin)
    open_page(at_admin, "Audit")
    assert any(s.value.startswith("Audit chain intact: 2 rows") for s in at_admin.success)
    (table,) = at_admin.dataframe
    assert list(table.value["to"]) == ["confirmed", "dispatched"]
    assert set(table.value["user"]) == {"manager"}


def test_rejected_case_leaves_the_default_map(monkeypatch: pytest.MonkeyPatch, site: DemoSite):
    at = signed_in(monkeypatch, site, Role.road_manager)
    before, total = shown_count(at)
    assert site.defect_case_id in open_case_options(at)
    open_page(at, "Case", case=site.defect_case_id)
    next(t for t in at.text_area if t.label == "Comment").input("a shadow, not a pothole")
    next(b for b in at.button if b.label == "Reject").click()
    at.run()
    assert "Status: rejected" in texts(at)
    assert "Reopen" in button_labels(at)
    open_page(at, "Map")
    assert shown_count(at) == (before - 1, total)
    assert site.defect_case_id not in open_case_options(at)
    (status,) = [m for m in at.sidebar.multiselect if m.label == "Status"]
    status.select("rejected").run()
    assert shown_count(at) == (before, total)


def test_filters_narrow_the_map(monkeypatch: pytest.MonkeyPatch, site: DemoSite):
    at = signed_in(monkeypatch, site, Role.admin)
    _, total = shown_count(at)
    (severity,) = [m for m in at.sidebar.multiselect if m.label == "Severity"]
    severity.select(3).run()
    n_severe, _ = shown_count(at)
    assert 0 < n_severe < total
    severity.unselect(3).run()
    (area,) = [t for t in at.sidebar.text_input if t.label == "Area (WKT or GeoJSON polygon)"]
    area.input("POLYGON ((0 0, 1 0, 1 1, 0 0))").run()  # far away: nothing
    assert shown_count(at) == (0, total)
    area.input("not a polygon").run()
    assert any("area" in e.value for e in at.sidebar.error)
    assert shown_count(at) == (total, total)  # a bad area is reported and not applied
    area.input("").run()
    (time_range,) = at.sidebar.date_input
    first, _last = time_range.value
    time_range.set_value((first, first)).run()
    n_first_day, _ = shown_count(at)
    assert 0 < n_first_day < total
    at.run()  # a range the user picked stays picked
    assert shown_count(at) == (n_first_day, total)


def test_live_mode_map_renders(monkeypatch: pytest.MonkeyPatch, site: DemoSite):
    at = signed_in(monkeypatch, site, Role.road_manager, refresh_s="5")
    assert shown_count(at)[0] > 0
    assert at.get("deck_gl_json_chart")


def test_pipeline_case_book_without_roads_or_coverage(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A case book as CaseBook writes it (no road columns, no coverage layer) still works on every page."""
    built = build_site(tmp_path, class_key="pothole", class_id=4)
    with AccountBook(users_path_for(built.store_path)) as accounts:
        accounts.add_user("li", Role.road_manager, "pw-li-123")
    at = log_in(start_app(monkeypatch, built.store_path), "li", "pw-li-123")
    assert shown_count(at) == (1, 1)
    assert open_case_options(at) == [built.case.case_id]
    open_page(at, "Case", case=built.case.case_id)
    assert "Status: new" in texts(at)
    assert any("no road referenced" in t for t in texts(at))
    assert any(t == "Detections: 2 of 2 in the event store" for t in texts(at))
    open_page(at, "Roads")
    assert any("referenced to a road" in t for t in texts(at))
    open_page(at, "Missions")
    assert any("No coverage recorded yet" in t for t in texts(at))


def test_store_without_case_book_or_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    store = tmp_path / "roadsight.gpkg"
    with AccountBook(users_path_for(store)) as accounts:
        accounts.add_user("li", Role.road_manager, "pw-li-123")
    at = log_in(start_app(monkeypatch, store), "li", "pw-li-123")
    assert any("No case book yet" in w.value for w in at.warning)
    at = start_app(monkeypatch, None)
    log_in(at, "li", "pw-li-123")
    assert any("No event store configured" in e.value for e in at.error)


def test_role_change_and_removed_account_apply_at_once(monkeypatch: pytest.MonkeyPatch, site: DemoSite):
    at = signed_in(monkeypatch, site, Role.road_manager)
    assert "Signed in as manager (road_manager)" in [t.value for t in at.sidebar.text]
    # an admin changes the role in the accounts file (no API for it yet): the open session follows
    with sqlite3.connect(site.users_path) as db:
        db.execute("UPDATE users SET role = 'field_crew' WHERE name = 'manager'")
    at.run()
    assert "Signed in as manager (field_crew)" in [t.value for t in at.sidebar.text]
    with sqlite3.connect(site.users_path) as db:
        db.execute("DELETE FROM users WHERE name = 'manager'")
    at.run()
    assert [w.label for w in at.text_input] == ["Username", "Password"]
    assert any("no longer valid" in w.value for w in at.warning)


def test_map_follows_the_case_book_as_it_grows(monkeypatch: pytest.MonkeyPatch, site: DemoSite):
    at = signed_in(monkeypatch, site, Role.admin)
    assert shown_count(at) == (40, 40)
    write_demo_site(site.root, 55, seed=2)  # the pipeline rewrote the case book: 15 more cases
    at.run()
    assert shown_count(at) == (55, 55)


def test_export_of_the_shown_cases_reads_back_equal(
    monkeypatch: pytest.MonkeyPatch, site: DemoSite, tmp_path: Path
):
    at = signed_in(monkeypatch, site, Role.field_crew)
    (severity,) = [m for m in at.sidebar.multiselect if m.label == "Severity"]
    severity.select(2).run()
    shown, _ = shown_count(at)
    next(b for b in at.button if b.label == "Prepare export").click()
    at.run()
    assert not at.exception, at.exception
    assert [d.proto.label for d in at.get("download_button")] == ["Download cases.gpkg"]
    fmt, data = at.session_state["export_ready"]  # the bytes the download button serves
    assert fmt == "gpkg"
    (tmp_path / "cases.gpkg").write_bytes(data)
    back = gpd.read_file(tmp_path / "cases.gpkg")
    assert len(back) == shown > 0
    assert set(back["kind"]) == {"defect"} and set(back["review_state"]) == {"new"}  # crew: no enforcement
    expected = {c.case_id for c in load_cases(site.cases_path).cases if c.kind == "defect"}
    assert set(back["case_id"]) <= expected


def test_work_order_of_a_road(monkeypatch: pytest.MonkeyPatch, site: DemoSite):
    at = signed_in(monkeypatch, site, Role.road_manager)
    open_page(at, "Roads")
    next(b for b in at.button if b.label == "Work order (PDF)").click()
    at.run()
    assert not at.exception, at.exception
    assert [d.proto.label for d in at.get("download_button")] == ["Download work order"]
    road, pdf = at.session_state["work_order"]
    assert road and pdf.startswith(b"%PDF")


AUTH_SECRETS: dict[str, Any] = {  # what .streamlit/secrets.toml would hold; no identity provider is contacted
    "auth": {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "not-a-real-secret",
        "client_id": "roadsight",
        "client_secret": "x",
        "server_metadata_url": "https://idp.example/.well-known/openid-configuration",
    },
    "roadsight": {"oidc": {"role_claim": "roadsight_role", "roles": {"road_manager": ["li@city.example"]}}},
}


def start_oidc(monkeypatch: pytest.MonkeyPatch, site: DemoSite, user: dict[str, object]):
    """The app as st.login would leave it: AppTest seeds st.user and st.secrets (the IdP round trip
    itself needs a network and is not tested)."""
    at = start_app(monkeypatch, site.store)
    at.secrets = copy.deepcopy(AUTH_SECRETS)
    at.user = user
    at.run()
    assert not at.exception, at.exception
    return at


def test_oidc_user_gets_the_mapped_role(monkeypatch: pytest.MonkeyPatch, site: DemoSite):
    at = start_oidc(monkeypatch, site, {"is_logged_in": False})
    assert "Log in with single sign-on" in button_labels(at)  # beside the local form
    at = start_oidc(monkeypatch, site, {"is_logged_in": True, "email": "li@city.example"})
    assert "Signed in as li@city.example (road_manager)" in [t.value for t in at.sidebar.text]
    visible = sum(1 for k in kinds(site).values() if k != "enforcement")
    assert shown_count(at) == (visible, visible)
    claims = {"is_logged_in": True, "email": "x@y", "roadsight_role": "enforcement"}
    at = start_oidc(monkeypatch, site, claims)
    assert "Signed in as x@y (enforcement)" in [t.value for t in at.sidebar.text]
    at = start_oidc(monkeypatch, site, {"is_logged_in": True, "email": "stranger@y"})
    assert any("has no roadsight role" in e.value for e in at.error)
    assert not any(t.startswith("Showing") for t in texts(at))
