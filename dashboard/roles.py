"""Roles and local accounts: who may do what, checked on the server side.

Four roles: ``field_crew`` (repairs what it is dispatched to), ``road_manager``
(reviews and dispatches road defects), ``enforcement`` (reviews enforcement
cases and exports their evidence), ``admin`` (everything). Enforcement cases
(taxonomy ``kind: enforcement``) are visible only to enforcement and admin:
their frames show people and plates unblurred.

Local accounts live in an SQLite file of their own (``<store>.users.sqlite``,
see :func:`users_path_for`). Passwords are hashed with argon2id (argon2-cffi,
memory-hard, RFC 9106 parameters stored in each hash) with a random salt per
account; scrypt hashes of accounts made before still verify.

Example:
    >>> accounts = AccountBook(tmp_path / "roadsight.users.sqlite")  # doctest: +SKIP
    >>> accounts.add_user("li", Role.road_manager, "correct horse")  # doctest: +SKIP
    >>> user = accounts.authenticate("li", "correct horse")  # doctest: +SKIP
    >>> require(user, REVIEWERS, "confirm a case")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import Argon2Error

from roadsight.config import beside_store


class Role(StrEnum):
    field_crew = "field_crew"
    road_manager = "road_manager"
    enforcement = "enforcement"
    admin = "admin"


ENFORCEMENT_KIND = "enforcement"  # taxonomy kind whose evidence is restricted
ENFORCEMENT_VIEWERS = frozenset({Role.enforcement, Role.admin})
# Evidence packets hold original, unblurred frames: never for the field crew.
DEFECT_EXPORTERS = frozenset({Role.road_manager, Role.enforcement, Role.admin})

_USER_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


class AuthError(RuntimeError):
    """Unknown user or wrong password (deliberately the same message for both)."""


class PermissionDenied(RuntimeError):
    """The user's role does not allow the action."""


@dataclass(frozen=True, slots=True)
class User:
    """An authenticated user: the only thing the server-side checks trust."""

    name: str
    role: Role


def users_path_for(store: str | Path) -> Path:
    """``<store>.users.sqlite`` beside the event store (as the cases file is ``<store>.cases.gpkg``;
    ``data/`` for a PostGIS store)."""
    return beside_store(store, ".users.sqlite")


_ARGON2 = PasswordHasher()  # argon2id with the library's RFC 9106 defaults; parameters travel in the hash


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """An argon2id PHC string (``$argon2id$v=19$m=...,t=...,p=...$salt$hash``)."""
    if not password:
        raise ValueError("password must not be empty")
    return _ARGON2.hash(password, salt=salt)


def check_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded``, in constant time: argon2id from
    :func:`hash_password`, or the ``scrypt$n$r$p$salt$hash`` of accounts made before."""
    if encoded.startswith("$argon2"):
        try:
            return _ARGON2.verify(encoded, password)
        except (Argon2Error, ValueError):
            return False
    return _check_scrypt(password, encoded)


def _check_scrypt(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# A hash of a password nobody has: unknown users cost as much time as known ones.
_DUMMY_HASH = hash_password("no such user", salt=b"\0" * 16)


def require(user: User, roles: Collection[Role], action: str) -> None:
    """Raise :class:`PermissionDenied` unless ``user``'s role is in ``roles``."""
    if user.role not in roles:
        allowed = ", ".join(sorted(r.value for r in roles))
        raise PermissionDenied(f"{user.name} ({user.role.value}) may not {action} (needs: {allowed})")


def can_view_kind(user: User, kind: str) -> bool:
    """Whether ``user`` may see cases of taxonomy ``kind`` (enforcement: enforcement and admin only)."""
    return kind != ENFORCEMENT_KIND or user.role in ENFORCEMENT_VIEWERS


def require_view(user: User, kind: str, case_id: str) -> None:
    """Raise :class:`PermissionDenied` when ``user`` may not see case ``case_id`` of ``kind``."""
    if not can_view_kind(user, kind):
        require(user, ENFORCEMENT_VIEWERS, f"see enforcement case {case_id}")


def packet_exporters(kind: str) -> frozenset[Role]:
    """Roles that may export an evidence packet of a case of ``kind``."""
    return ENFORCEMENT_VIEWERS if kind == ENFORCEMENT_KIND else DEFECT_EXPORTERS


_USERS_DDL = """
CREATE TABLE IF NOT EXISTS users (
  name TEXT PRIMARY KEY NOT NULL,
  role TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  created_utc TEXT NOT NULL
);
"""


class AccountBook:
    """Local accounts in an SQLite file; :meth:`authenticate` turns a password into a :class:`User`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(self.path)
            with self._conn:
                self._conn.executescript(_USERS_DDL)
        except sqlite3.DatabaseError as exc:
            raise AuthError(f"{self.path}: not a usable accounts file ({exc})") from None

    def add_user(self, name: str, role: Role | str, password: str) -> User:
        """Create an account; raises ``ValueError`` for a bad name/role or an existing name."""
        if not _USER_NAME.match(name):
            raise ValueError(f"user name {name!r}: use 1-64 letters, digits or _ . @ -")
        try:
            role = Role(role)
        except ValueError:
            raise ValueError(f"role {role!r}: one of {', '.join(r.value for r in Role)}") from None
        encoded = hash_password(password)
        try:
            with self._conn:
                self._conn.execute(
                    "INSERT INTO users (name, role, password_hash, created_utc) VALUES (?, ?, ?, ?)",
                    (name, role.value, encoded, datetime.now(UTC).isoformat()),
                )
        except sqlite3.IntegrityError:
            raise ValueError(f"{self.path}: user {name!r} exists already") from None
        return User(name, role)

    def set_password(self, name: str, password: str) -> None:
        with self._conn:
            cur = self._conn.execute(
                "UPDATE users SET password_hash = ? WHERE name = ?", (hash_password(password), name)
            )
        if cur.rowcount != 1:
            raise ValueError(f"{self.path}: no user {name!r}")

    def authenticate(self, name: str, password: str) -> User:
        """The user when ``password`` is right; :class:`AuthError` otherwise (same error either way)."""
        row = self._conn.execute("SELECT role, password_hash FROM users WHERE name = ?", (name,)).fetchone()
        ok = check_password(password, row[1] if row else _DUMMY_HASH)
        if row is None or not ok:
            raise AuthError(f"unknown user or wrong password for {name!r}")
        return User(name, Role(row[0]))

    def users(self) -> list[User]:
        rows = self._conn.execute("SELECT name, role FROM users ORDER BY name").fetchall()
        return [User(n, Role(r)) for n, r in rows]

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> AccountBook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def authenticate(accounts_path: str | Path, name: str, password: str) -> User:
    """One-shot :meth:`AccountBook.authenticate` on the accounts file at ``accounts_path``."""
    with AccountBook(accounts_path) as accounts:
        return accounts.authenticate(name, password)
