"""Helpers for the dashboard's AppTest tests: start the app on a store, sign in, open pages."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
PAGES = {
    "Map": "views/map_page.py",
    "Case": "views/case_page.py",
    "Roads": "views/roads_page.py",
    "Statistics": "views/statistics_page.py",
    "Missions": "views/missions_page.py",
    "Audit": "views/audit_page.py",
}
TIMEOUT_S = 120  # the machine is shared: generous, never a speed assertion


def start_app(monkeypatch: pytest.MonkeyPatch, store: Path | str | None, refresh_s: str = "0") -> AppTest:
    if store is None:
        monkeypatch.delenv("ROADSIGHT_STORE", raising=False)
    else:
        monkeypatch.setenv("ROADSIGHT_STORE", str(store))
    monkeypatch.setenv("ROADSIGHT_REFRESH_S", refresh_s)
    monkeypatch.delenv("ROADSIGHT_MAP_STYLE", raising=False)
    monkeypatch.setattr(sys, "argv", ["app.py"])  # not pytest's own arguments
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT_S)
    at.run()
    assert not at.exception, at.exception
    return at


def log_in(at: AppTest, name: str, password: str) -> AppTest:
    by_label = {w.label: w for w in at.text_input}
    by_label["Username"].input(name)
    by_label["Password"].input(password)
    next(b for b in at.button if b.label == "Log in").click()
    at.run()
    assert not at.exception, at.exception
    return at


def open_page(at: AppTest, title: str, **query: str) -> AppTest:
    at.query_params.clear()
    at.query_params.update(query)
    at.switch_page(PAGES[title])
    at.run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> list[str]:
    """Markdown, text, captions, alerts: everything a user reads, as strings."""
    out: list[str] = []
    for group in (at.markdown, at.text, at.caption, at.success, at.info, at.warning, at.error):
        out.extend(str(e.value) for e in group)
    return out


def shown_count(at: AppTest) -> tuple[int, int]:
    for text in texts(at):
        m = re.fullmatch(r"Showing (\d+) of (\d+) cases", text)
        if m:
            return int(m.group(1)), int(m.group(2))
    raise AssertionError(f"no 'Showing N of M cases' in {texts(at)}")


def button_labels(at: AppTest) -> list[str]:
    return [b.label for b in at.button]


def open_case_options(at: AppTest) -> list[str]:
    (box,) = [s for s in at.selectbox if s.label == "Open case"]
    return list(box.options)


def image_captions(at: AppTest) -> list[str]:
    return [str(c) for image in at.get("image") for c in getattr(image, "captions", [])]
