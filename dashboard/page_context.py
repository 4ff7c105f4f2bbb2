"""What every page needs: the settings, the site's paths and the signed-in user (checked again here).

``app.py`` signs the user in and runs the navigation; a page script calls
:func:`page_context` first. Without a user (a page run on its own) the page
shows the sign-in form and stops: an anonymous session sees nothing else.

Example (in a page script):
    >>> ctx = page_context()  # doctest: +SKIP
    >>> require(ctx.user, {Role.admin}, "read the audit log")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import streamlit as st

from dashboard.roles import User
from dashboard.session import current_user, render_login
from dashboard.settings import DashboardSettings, parse_settings
from dashboard.site import SitePaths

CASE_PAGE = "views/case_page.py"  # relative to app.py, for st.switch_page
CASE_QUERY_PARAM = "case"


@dataclass(frozen=True)
class PageContext:
    settings: DashboardSettings
    paths: SitePaths | None
    user: User


def site_settings() -> tuple[DashboardSettings, SitePaths | None]:
    settings = parse_settings(sys.argv[1:], os.environ)
    return settings, (SitePaths.for_store(settings.store) if settings.store else None)


def page_context() -> PageContext:
    """The context of the current page; stops the page when nobody is signed in."""
    settings, paths = site_settings()
    user = current_user()
    if user is None:
        render_login(paths)
        st.stop()
    return PageContext(settings, paths, user)
