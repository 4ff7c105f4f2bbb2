"""Roles and local accounts: argon2id-hashed passwords, server-side role checks, enforcement visibility."""

from __future__ import annotations

import base64
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from dashboard.roles import (
    AccountBook,
    AuthError,
    PermissionDenied,
    Role,
    User,
    authenticate,
    can_view_kind,
    check_password,
    packet_exporters,
    require,
    require_view,
    users_path_for,
)


@pytest.fixture
def accounts(tmp_path: Path) -> Iterator[AccountBook]:
    with AccountBook(users_path_for(tmp_path / "roadsight.gpkg")) as book:
        yield book


def test_accounts_authenticate_with_salted_argon2id_hashes(accounts: AccountBook) -> None:
    accounts.add_user("li", Role.road_manager, "correct horse")
    accounts.add_user("wang", "enforcement", "correct horse")
    assert accounts.authenticate("li", "correct horse") == User("li", Role.road_manager)
    assert authenticate(accounts.path, "wang", "correct horse") == User("wang", Role.enforcement)
    with sqlite3.connect(accounts.path) as conn:
        hashes = [h for (h,) in conn.execute("SELECT password_hash FROM users ORDER BY name")]
    assert all(h.startswith("$argon2id$") and "correct horse" not in h for h in hashes)
    assert hashes[0] != hashes[1]  # same password, different salt
    assert accounts.path.name == "roadsight.users.sqlite"


def test_accounts_hashed_with_scrypt_before_still_log_in(accounts: AccountBook) -> None:
    # An account made before argon2id: scrypt n=2**14, r=8, p=1 of "correct horse", salt 16 x 0x01.
    salt = b"\x01" * 16
    digest = hashlib.scrypt(b"correct horse", salt=salt, n=2**14, r=8, p=1, dklen=32)
    legacy = f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert check_password("correct horse", legacy) and not check_password("correct horsE", legacy)
    assert not check_password("correct horse", legacy.replace("scrypt$", "bcrypt$"))
    assert not check_password("correct horse", "$argon2id$garbage")


def test_wrong_password_and_unknown_user_fail_alike(accounts: AccountBook) -> None:
    accounts.add_user("li", Role.road_manager, "correct horse")
    with pytest.raises(AuthError, match="unknown user or wrong password") as wrong:
        accounts.authenticate("li", "Correct horse")
    with pytest.raises(AuthError, match="unknown user or wrong password") as unknown:
        accounts.authenticate("nobody", "correct horse")
    assert str(wrong.value).replace("'li'", "") == str(unknown.value).replace("'nobody'", "")
    accounts.set_password("li", "battery staple")
    assert accounts.authenticate("li", "battery staple").role is Role.road_manager
    with pytest.raises(AuthError):
        accounts.authenticate("li", "correct horse")


def test_bad_accounts_are_refused(accounts: AccountBook) -> None:
    accounts.add_user("li", Role.road_manager, "pw")
    with pytest.raises(ValueError, match="exists already"):
        accounts.add_user("li", Role.admin, "pw")
    with pytest.raises(ValueError, match="role 'mayor'"):
        accounts.add_user("zhang", "mayor", "pw")
    with pytest.raises(ValueError, match="user name"):
        accounts.add_user("has space", Role.admin, "pw")
    with pytest.raises(ValueError, match="empty"):
        accounts.add_user("zhang", Role.admin, "")
    assert accounts.users() == [User("li", Role.road_manager)]


def test_role_checks() -> None:
    crew, officer, admin = User("z", Role.field_crew), User("w", Role.enforcement), User("a", Role.admin)
    with pytest.raises(PermissionDenied, match=r"z \(field_crew\) may not confirm"):
        require(crew, {Role.road_manager, Role.admin}, "confirm")
    require(admin, {Role.road_manager, Role.admin}, "confirm")
    assert not can_view_kind(crew, "enforcement") and can_view_kind(crew, "defect")
    assert can_view_kind(officer, "enforcement") and can_view_kind(admin, "enforcement")
    assert not can_view_kind(User("m", Role.road_manager), "enforcement")
    with pytest.raises(PermissionDenied, match="enforcement case c1"):
        require_view(crew, "enforcement", "c1")
    assert packet_exporters("enforcement") == {Role.enforcement, Role.admin}
    assert Role.field_crew not in packet_exporters("defect")
