"""Who is signed in: local accounts (a login form), or OIDC (``st.login``) when secrets have ``[auth]``.

The signed-in :class:`dashboard.roles.User` lives in the server-side session state
(never in the browser); every page and action re-checks its role with
:func:`dashboard.roles.require` / :func:`~dashboard.roles.require_view`.

OIDC (needs ``[auth]`` in ``.streamlit/secrets.toml`` and the Authlib package;
not testable offline): the role comes from ``[roadsight.oidc]``:

.. code-block:: toml

    [roadsight.oidc]
    role_claim = "roadsight_role"  # a claim whose value is a role name (optional)
    [roadsight.oidc.roles]         # or e-mail lists per role (checked after the claim)
    admin = ["chief@city.example"]
    road_manager = ["li@city.example"]

An OIDC user with no mapped role is told so and gets no page.

Example:
    >>> oidc_role({"email": "li@city.example"}, {"roles": {"road_manager": ["li@city.example"]}})
    <Role.road_manager: 'road_manager'>
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAuthError

from dashboard.roles import AccountBook, AuthError, Role, User, authenticate
from dashboard.site import SitePaths

USER_KEY = "roadsight_user"
AUTH_SOURCE_KEY = "roadsight_auth"  # "local" | "oidc"
LOGIN_FAILED = "Unknown user or wrong password."


def current_user() -> User | None:
    """The user of this session, or None before login."""
    user = st.session_state.get(USER_KEY)
    return user if isinstance(user, User) else None


def oidc_role(claims: Mapping[str, Any], config: Mapping[str, Any]) -> Role | None:
    """The role of an OIDC user from its ``claims`` and ``[roadsight.oidc]``; None if not mapped."""
    claim = config.get("role_claim")
    if claim:
        value = claims.get(str(claim))
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, str) and v in Role.__members__:
                return Role(v)
    email = str(claims.get("email") or "").lower()
    roles = config.get("roles") or {}
    # the most powerful matching role wins only if listed; check in a fixed order
    for role in (Role.admin, Role.enforcement, Role.road_manager, Role.field_crew):
        listed = {str(e).lower() for e in roles.get(role.value, ())}
        if email and email in listed:
            return role
    return None


def _secrets_section(name: str) -> Mapping[str, Any] | None:
    """``st.secrets[name]`` or None (no secrets file is normal: local accounts only)."""
    try:
        if name in st.secrets:
            section = st.secrets[name]
            return section if isinstance(section, Mapping) else None
    except (FileNotFoundError, KeyError, AttributeError):
        return None
    except Exception:  # a broken secrets.toml: local accounts still work
        return None
    return None


def oidc_configured() -> bool:
    return _secrets_section("auth") is not None


def _oidc_user() -> User | None:
    """Map a user signed in through ``st.login`` to a roadsight user (None if not signed in or unmapped)."""
    if not st.user.is_logged_in:
        return None
    claims = dict(st.user.to_dict())
    config = (_secrets_section("roadsight") or {}).get("oidc") or {}
    role = oidc_role(claims, config)
    name = str(claims.get("email") or claims.get("preferred_username") or claims.get("sub") or "oidc-user")
    if role is None:
        st.error(f"{name} signed in, but has no roadsight role: ask an admin to map it in [roadsight.oidc].")
        return None
    return User(name, role)


def render_login(paths: SitePaths | None) -> None:
    """The sign-in page: the local-account form, and the OIDC button when configured."""
    st.title("roadsight · sign in / 登录")
    if paths is not None and not paths.users.exists():
        st.warning(
            f"No local accounts yet ({paths.users}): add one with "
            f"`roadsight users add NAME --role admin --store {paths.store}`."
        )
    with st.form("login"):
        name = st.text_input("Username")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Log in")
    if submitted:
        if paths is None:
            st.error("No event store configured, so there are no accounts to check.")
        else:
            try:
                user = authenticate(paths.users, name.strip(), password)
            except AuthError:
                st.error(LOGIN_FAILED)
            else:
                st.session_state[USER_KEY] = user
                st.session_state[AUTH_SOURCE_KEY] = "local"
                st.rerun()
    if oidc_configured():
        st.divider()
        if st.button("Log in with single sign-on"):
            try:
                st.login()
            except StreamlitAuthError as exc:  # e.g. Authlib not installed, [auth] incomplete
                st.error(f"Single sign-on is not available: {exc}")


def _recheck_local(user: User, paths: SitePaths | None) -> User | None:
    """The account as it is now: a removed account is signed out, a changed role applies at once."""
    if paths is None or not paths.users.exists():
        return None
    with AccountBook(paths.users) as accounts:
        role = {u.name: u.role for u in accounts.users()}.get(user.name)
    return None if role is None else User(user.name, role)


def resolve_user(paths: SitePaths | None) -> User | None:
    """The session's user (re-read from the accounts file on every run), else an OIDC login."""
    user = current_user()
    if user is not None and st.session_state.get(AUTH_SOURCE_KEY) == "local":
        user = _recheck_local(user, paths)
        if user is None:
            st.session_state.pop(USER_KEY, None)
            st.warning("Your account is no longer valid: sign in again.")
        else:
            st.session_state[USER_KEY] = user
    if user is None and oidc_configured():
        user = _oidc_user()
        if user is not None:
            st.session_state[USER_KEY] = user
            st.session_state[AUTH_SOURCE_KEY] = "oidc"
    return user


def render_account(user: User) -> None:
    """Sidebar: who is signed in, and the way out."""
    st.sidebar.text(f"Signed in as {user.name} ({user.role.value})")  # plain text: exact for tests
    if st.sidebar.button("Log out"):
        st.session_state.pop(USER_KEY, None)
        st.session_state.pop(AUTH_SOURCE_KEY, None)
        if oidc_configured() and st.user.is_logged_in:
            st.logout()
        st.rerun()
