"""Review workflow of cases, recorded in an append-only, hash-chained audit log.

States and who may move a case between them (server-side, :func:`dashboard.roles.require`):

====================  ==============================  ===========================================
from -> to            defect cases                    enforcement cases
====================  ==============================  ===========================================
new -> confirmed      road_manager, admin             enforcement, admin
new -> rejected       road_manager, admin             enforcement, admin
rejected -> new       road_manager, admin             enforcement, admin   (reopen: a wrong reject)
confirmed -> dispatched  road_manager, admin          enforcement, admin
dispatched -> fixed   field_crew, road_manager, admin enforcement, admin
fixed -> dispatched   road_manager, admin             enforcement, admin   (rework: not really fixed)
fixed -> verified     road_manager, admin             enforcement, admin
====================  ==============================  ===========================================

``verified`` is final. Every case starts ``new`` (no row needed). A reject can
be undone only by reopening (a new row): nothing is ever edited. The field crew
never sees enforcement cases, so it has no transition on them.

The log is a table ``review_log`` in an SQLite file of its own
(``<store>.review.sqlite``, :func:`review_path_for`). One row per action: time,
user, role, case id, from, to, assignee, comment. Triggers refuse UPDATE and
DELETE, and each row stores ``row_hash = SHA-256(prev_hash + its content)``, so
an edit made around the triggers (another SQLite client) breaks the chain at
that row and :func:`verify_audit_log` names it. Removing the *last* rows leaves
a valid shorter chain: keep :attr:`AuditReport.head_hash` somewhere else (a
signed packet, a daily note) to detect that.

Example:
    >>> log = ReviewLog(review_path_for("data/roadsight.gpkg"))  # doctest: +SKIP
    >>> log.transition(case, ReviewState.confirmed, user=user, comment="seen on site")  # doctest: +SKIP
    >>> verify_audit_log(log.path).ok  # doctest: +SKIP
    True
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from dashboard.roles import ENFORCEMENT_KIND, PermissionDenied, Role, User, require, require_view
from geo.cases import Case, load_cases
from roadsight.config import beside_store


class ReviewState(StrEnum):
    new = "new"
    confirmed = "confirmed"
    rejected = "rejected"
    dispatched = "dispatched"
    fixed = "fixed"
    verified = "verified"


class ReviewError(RuntimeError):
    """An illegal transition, an unknown case, or an unusable log file."""


_S = ReviewState
_R = Role
_MANAGERS = frozenset({_R.road_manager, _R.admin})
# (from, to) -> roles allowed on defect cases; enforcement cases: enforcement and admin.
DEFECT_TRANSITIONS: dict[tuple[ReviewState, ReviewState], frozenset[Role]] = {
    (_S.new, _S.confirmed): _MANAGERS,
    (_S.new, _S.rejected): _MANAGERS,
    (_S.rejected, _S.new): _MANAGERS,
    (_S.confirmed, _S.dispatched): _MANAGERS,
    (_S.dispatched, _S.fixed): _MANAGERS | {_R.field_crew},
    (_S.fixed, _S.dispatched): _MANAGERS,
    (_S.fixed, _S.verified): _MANAGERS,
}
ENFORCEMENT_TRANSITIONS: dict[tuple[ReviewState, ReviewState], frozenset[Role]] = {
    pair: frozenset({_R.enforcement, _R.admin}) for pair in DEFECT_TRANSITIONS
}
GENESIS_HASH = "0" * 64


def review_path_for(store: str | Path) -> Path:
    """``<store>.review.sqlite`` beside the event store (``data/`` for a PostGIS store)."""
    return beside_store(store, ".review.sqlite")


def allowed_roles(kind: str, from_state: ReviewState, to_state: ReviewState) -> frozenset[Role] | None:
    """Roles that may make the move on a case of taxonomy ``kind``; None when the move is illegal."""
    table = ENFORCEMENT_TRANSITIONS if kind == ENFORCEMENT_KIND else DEFECT_TRANSITIONS
    return table.get((from_state, to_state))


@dataclass(frozen=True, slots=True)
class ReviewEntry:
    """One row of the audit log."""

    seq: int
    time_utc: str
    user: str
    role: str
    case_id: str
    from_state: str
    to_state: str
    assignee: str | None
    comment: str
    prev_hash: str
    row_hash: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    """:func:`verify_audit_log`'s answer: ``ok``, or the first broken row and why."""

    ok: bool
    rows: int
    head_hash: str
    bad_seq: int | None = None
    reason: str | None = None


_CONTENT_FIELDS = (
    "seq",
    "time_utc",
    "user",
    "role",
    "case_id",
    "from_state",
    "to_state",
    "assignee",
    "comment",
)


def row_hash(prev_hash: str, content: dict[str, object]) -> str:
    """SHA-256 of the previous hash and the row's content (canonical JSON, sorted keys)."""
    body = json.dumps({k: content[k] for k in _CONTENT_FIELDS}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256((prev_hash + "\n" + body).encode("utf-8")).hexdigest()


_LOG_DDL = """
CREATE TABLE IF NOT EXISTS review_log (
  seq INTEGER PRIMARY KEY NOT NULL,
  time_utc TEXT NOT NULL,
  user TEXT NOT NULL,
  role TEXT NOT NULL,
  case_id TEXT NOT NULL,
  from_state TEXT NOT NULL,
  to_state TEXT NOT NULL,
  assignee TEXT,
  comment TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  row_hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_review_log_case ON review_log (case_id, seq);
CREATE TRIGGER IF NOT EXISTS review_log_no_update BEFORE UPDATE ON review_log
BEGIN SELECT RAISE(ABORT, 'review_log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS review_log_no_delete BEFORE DELETE ON review_log
BEGIN SELECT RAISE(ABORT, 'review_log is append-only'); END;
"""
_COLUMNS = (*_CONTENT_FIELDS, "prev_hash", "row_hash")


class ReviewLog:
    """The review states of cases, derived from their latest audit row (no state is stored apart)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE around an append).
            self._conn = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
            self._conn.executescript(_LOG_DDL)
        except sqlite3.DatabaseError as exc:
            raise ReviewError(f"{self.path}: not a usable review log ({exc})") from None

    def state(self, case_id: str) -> ReviewState:
        row = self._conn.execute(
            "SELECT to_state FROM review_log WHERE case_id = ? ORDER BY seq DESC LIMIT 1", (case_id,)
        ).fetchone()
        return ReviewState(row[0]) if row else ReviewState.new

    def assignee(self, case_id: str) -> str | None:
        """The latest assignee named for the case (an assignment stays until another is named)."""
        row = self._conn.execute(
            "SELECT assignee FROM review_log WHERE case_id = ? AND assignee IS NOT NULL "
            "ORDER BY seq DESC LIMIT 1",
            (case_id,),
        ).fetchone()
        return row[0] if row else None

    def history(self, case_id: str | None = None) -> list[ReviewEntry]:
        sql = f"SELECT {', '.join(_COLUMNS)} FROM review_log"
        params: tuple[str, ...] = ()
        if case_id is not None:
            sql, params = sql + " WHERE case_id = ?", (case_id,)
        return [ReviewEntry(*row) for row in self._conn.execute(sql + " ORDER BY seq", params)]

    def transition(
        self,
        case: Case,
        to_state: ReviewState | str,
        *,
        user: User,
        comment: str,
        assignee: str | None = None,
        now: datetime | None = None,
    ) -> ReviewEntry:
        """Move ``case`` to ``to_state`` as ``user``; appends one audit row and returns it.

        Raises :class:`ReviewError` for an illegal move and
        :class:`~dashboard.roles.PermissionDenied` when the role may not make it
        (or may not see the case at all). A comment is required: the log says why.
        """
        try:
            to_state = ReviewState(to_state)
        except ValueError:
            raise ReviewError(f"unknown review state {to_state!r}: one of {', '.join(ReviewState)}") from None
        require_view(user, case.kind, case.case_id)
        if not comment.strip():
            raise ReviewError(f"case {case.case_id}: a comment is required for {to_state.value}")
        if to_state is ReviewState.dispatched and not (assignee or self.assignee(case.case_id)):
            raise ReviewError(f"case {case.case_id}: dispatching needs an assignee")
        when = (now or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
        # BEGIN IMMEDIATE: the state read, the chain head read and the insert are one atomic step.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            from_state = self.state(case.case_id)
            roles = allowed_roles(case.kind, from_state, to_state)
            if roles is None:
                raise ReviewError(
                    f"case {case.case_id}: {from_state.value} -> {to_state.value} is not a review step"
                )
            require(user, roles, f"move case {case.case_id} {from_state.value} -> {to_state.value}")
            head = self._conn.execute(
                "SELECT seq, row_hash FROM review_log ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
            content: dict[str, object] = {
                "seq": seq,
                "time_utc": when,
                "user": user.name,
                "role": user.role.value,
                "case_id": case.case_id,
                "from_state": from_state.value,
                "to_state": to_state.value,
                "assignee": assignee,
                "comment": comment,
            }
            entry = ReviewEntry(**content, prev_hash=prev, row_hash=row_hash(prev, content))  # type: ignore[arg-type]
            self._conn.execute(
                f"INSERT INTO review_log ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})",
                tuple(getattr(entry, c) for c in _COLUMNS),
            )
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
        return entry

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ReviewLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def verify_audit_log(path: str | Path) -> AuditReport:
    """Recompute the hash chain of the log at ``path``; the first row that does not fit, and why."""
    path = Path(path)
    if not path.is_file():
        raise ReviewError(f"{path}: no review log")
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute(f"SELECT {', '.join(_COLUMNS)} FROM review_log ORDER BY seq").fetchall()
    except sqlite3.DatabaseError as exc:
        raise ReviewError(f"{path}: not a review log ({exc})") from None
    finally:
        conn.close()
    prev, expected_seq = GENESIS_HASH, 1
    for row in rows:
        entry = ReviewEntry(*row)
        content = {k: getattr(entry, k) for k in _CONTENT_FIELDS}
        problem = None
        if entry.seq != expected_seq:
            problem = f"seq {entry.seq} follows {expected_seq - 1}: row(s) removed"
        elif entry.prev_hash != prev:
            problem = "prev_hash does not match the previous row's hash (a row before it changed or went)"
        elif entry.row_hash != row_hash(prev, content):
            problem = "row content does not match its row_hash (the row was edited)"
        if problem:
            return AuditReport(
                False, len(rows), prev, bad_seq=entry.seq, reason=f"row {entry.seq}: {problem}"
            )
        prev, expected_seq = entry.row_hash, entry.seq + 1
    return AuditReport(True, len(rows), prev)


def review_case(
    case_id: str,
    to_state: ReviewState | str,
    *,
    user: User,
    comment: str,
    cases_path: str | Path,
    review_path: str | Path,
    assignee: str | None = None,
) -> ReviewEntry:
    """CLI entry: look ``case_id`` up in the case book at ``cases_path`` and move it."""
    book = load_cases(cases_path)
    case = next((c for c in book.cases if c.case_id == case_id), None)
    if case is None:
        raise ReviewError(f"{cases_path}: no case {case_id!r}")
    with ReviewLog(review_path) as log:
        return log.transition(case, to_state, user=user, comment=comment, assignee=assignee)


__all__ = [
    "AuditReport",
    "PermissionDenied",
    "ReviewEntry",
    "ReviewError",
    "ReviewLog",
    "ReviewState",
    "allowed_roles",
    "review_case",
    "review_path_for",
    "verify_audit_log",
]
