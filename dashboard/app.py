"""roadsight dashboard: the multi-page app road managers work from.

Run: ``streamlit run dashboard/app.py -- --store data/roadsight.gpkg`` (or set
``ROADSIGHT_STORE``; a ``postgresql://`` URI works too). Options:
``--map-style URL`` (MapLibre style for a basemap; default none, works
offline), ``--map-gcj02`` (the basemap is drawn in GCJ-02) and ``--refresh-s N``
(live map, 0 = off). Accounts: ``roadsight users add NAME --role ROLE --store PATH``.

Pages (URL paths): Map (``/``, also ``/Map``), Case (``/Case?case=ID``), Roads,
Statistics, Missions and, for admins only, Audit. Before login every page
shows only the sign-in form; each page checks the role again (server side).
"""

from __future__ import annotations

import streamlit as st

from dashboard.page_context import CASE_PAGE, site_settings
from dashboard.roles import Role
from dashboard.session import render_account, resolve_user

st.set_page_config(page_title="roadsight", page_icon="🛣️", layout="wide")
settings, paths = site_settings()
user = resolve_user(paths)
if user is not None:
    render_account(user)
# Every page is registered before login too (hidden, each shows the sign-in form), so a
# link such as /Case?case=ID survives the login.
pages = [
    st.Page("views/map_page.py", title="Map", url_path="Map", default=True),
    st.Page(CASE_PAGE, title="Case", url_path="Case"),
    st.Page("views/roads_page.py", title="Roads", url_path="Roads"),
    st.Page("views/statistics_page.py", title="Statistics", url_path="Statistics"),
    st.Page("views/missions_page.py", title="Missions", url_path="Missions"),
]
if user is not None and user.role is Role.admin:  # hidden for everyone else; the page checks again
    pages.append(st.Page("views/audit_page.py", title="Audit", url_path="Audit"))
st.navigation(pages, position="sidebar" if user is not None else "hidden").run()
