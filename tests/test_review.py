"""Review workflow: legal and illegal moves, roles, and the append-only hash-chained audit log."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fixtures_evidence import build_site
from fixtures_geo import make_event

from dashboard.review import (
    ReviewError,
    ReviewLog,
    ReviewState,
    review_case,
    review_path_for,
    verify_audit_log,
)
from dashboard.roles import PermissionDenied, Role, User
from geo.cases import Case, CaseBook

MANAGER = User("li", Role.road_manager)
CREW = User("zhao", Role.field_crew)
OFFICER = User("wang", Role.enforcement)
S = ReviewState


def one_case(class_key: str = "pothole", class_id: int = 4) -> Case:
    book = CaseBook()
    book.ingest([make_event(1, class_key=class_key, class_id=class_id)])
    return book.cases[0]


@pytest.fixture
def log(tmp_path: Path) -> Iterator[ReviewLog]:
    with ReviewLog(review_path_for(tmp_path / "roadsight.gpkg")) as log:
        yield log


def test_a_defect_case_goes_the_whole_way(log: ReviewLog) -> None:
    case = one_case()
    assert log.state(case.case_id) is S.new
    log.transition(case, S.confirmed, user=MANAGER, comment="seen on the video")
    log.transition(case, S.dispatched, user=MANAGER, comment="crew 3", assignee="zhao")
    log.transition(case, S.fixed, user=CREW, comment="patched")
    log.transition(case, S.dispatched, user=MANAGER, comment="patch failed, redo")
    log.transition(case, S.fixed, user=CREW, comment="patched again")
    log.transition(case, S.verified, user=MANAGER, comment="checked on site")
    assert log.state(case.case_id) is S.verified
    assert log.assignee(case.case_id) == "zhao"
    rows = log.history(case.case_id)
    assert [(r.from_state, r.to_state, r.user, r.role) for r in rows[:3]] == [
        ("new", "confirmed", "li", "road_manager"),
        ("confirmed", "dispatched", "li", "road_manager"),
        ("dispatched", "fixed", "zhao", "field_crew"),
    ]
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    report = verify_audit_log(log.path)
    assert report.ok and report.rows == 6 and report.head_hash == rows[-1].row_hash


def test_illegal_moves_and_wrong_roles_are_refused(log: ReviewLog) -> None:
    case = one_case()
    with pytest.raises(ReviewError, match="new -> fixed is not a review step"):
        log.transition(case, S.fixed, user=MANAGER, comment="skip")
    with pytest.raises(PermissionDenied, match="field_crew"):
        log.transition(case, S.confirmed, user=CREW, comment="looks real")
    with pytest.raises(ReviewError, match="comment is required"):
        log.transition(case, S.confirmed, user=MANAGER, comment="  ")
    with pytest.raises(ReviewError, match="unknown review state"):
        log.transition(case, "closed", user=MANAGER, comment="x")
    log.transition(case, S.confirmed, user=MANAGER, comment="ok")
    with pytest.raises(ReviewError, match="needs an assignee"):
        log.transition(case, S.dispatched, user=MANAGER, comment="go")
    assert log.history() == log.history(case.case_id) and len(log.history()) == 1  # refusals write nothing


def test_a_rejected_case_is_reopened_by_a_manager_only(log: ReviewLog) -> None:
    case = one_case()
    log.transition(case, S.rejected, user=MANAGER, comment="shadow, not a pothole")
    with pytest.raises(ReviewError, match="rejected -> dispatched"):
        log.transition(case, S.dispatched, user=MANAGER, comment="x", assignee="zhao")
    with pytest.raises(PermissionDenied):
        log.transition(case, S.new, user=CREW, comment="it is a pothole")
    log.transition(case, S.new, user=MANAGER, comment="crew says it is real")
    assert log.state(case.case_id) is S.new


def test_enforcement_cases_are_reviewed_by_enforcement(log: ReviewLog) -> None:
    case = one_case("illegal_parking_vehicle", 18)
    for user in (MANAGER, CREW):
        with pytest.raises(PermissionDenied):
            log.transition(case, S.confirmed, user=user, comment="x")
    log.transition(case, S.confirmed, user=OFFICER, comment="plate readable")
    assert log.state(case.case_id) is S.confirmed


def three_steps(log: ReviewLog) -> None:
    case = one_case()
    log.transition(case, S.confirmed, user=MANAGER, comment="ok")
    log.transition(case, S.dispatched, user=MANAGER, comment="go", assignee="zhao")
    log.transition(case, S.fixed, user=CREW, comment="done")


def test_the_log_refuses_update_and_delete(log: ReviewLog) -> None:
    three_steps(log)
    with sqlite3.connect(log.path) as conn:
        for sql in (
            "UPDATE review_log SET comment = 'x' WHERE seq = 2",
            "DELETE FROM review_log WHERE seq = 3",
        ):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(sql)
    assert verify_audit_log(log.path).ok


@pytest.mark.parametrize(
    ("trigger", "sql", "bad_seq", "reason"),
    [
        ("review_log_no_update", "UPDATE review_log SET user = 'mallory' WHERE seq = 2", 2, "edited"),
        ("review_log_no_delete", "DELETE FROM review_log WHERE seq = 2", 3, "removed"),
    ],
)
def test_tampering_around_the_triggers_is_detected(
    log: ReviewLog, trigger: str, sql: str, bad_seq: int, reason: str
) -> None:
    three_steps(log)
    # Another SQLite client can drop the triggers; the hash chain still names the row.
    with sqlite3.connect(log.path) as conn:
        conn.execute(f"DROP TRIGGER {trigger}")
        conn.execute(sql)
    report = verify_audit_log(log.path)
    assert not report.ok and report.bad_seq == bad_seq and reason in (report.reason or "")


def test_review_case_reads_the_case_book(tmp_path: Path) -> None:
    site = build_site(tmp_path)
    review_path = review_path_for(site.store_path)
    entry = review_case(
        site.case.case_id, "confirmed", user=OFFICER, comment="two frames, 15 s apart",
        cases_path=site.cases_path, review_path=review_path,
    )  # fmt: skip
    assert entry.to_state == "confirmed" and entry.case_id == site.case.case_id
    assert review_path.name == "roadsight.review.sqlite"
    with pytest.raises(ReviewError, match="no case 'missing'"):
        review_case("missing", "confirmed", user=OFFICER, comment="x",
                    cases_path=site.cases_path, review_path=review_path)  # fmt: skip
