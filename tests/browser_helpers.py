"""The dashboard in a real browser for tests: server + headless Chromium + numbered screenshots.

Screenshots, the server log and the chromedriver log of each test go to
``$ROADSIGHT_ARTIFACTS/browser/<test>/`` (default ``test-artifacts/`` at the repo
root, a folder that git-ignores itself), so CI can keep them as artifacts. On a
failure the last screen, the page source and the server log tail are kept too.

Example:
    >>> with dashboard_in_browser(site.store, artifacts_dir("login")) as ui:  # doctest: +SKIP
    ...     log_in(ui.driver, "manager", "manager-demo-pw")
    ...     ui.shot("map")
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.remote.webdriver import WebDriver

from roadsight.streamlit_browser import (
    StreamlitServer,
    app_idle,
    chromium_driver,
    save_screenshot,
    streamlit_server,
    wait_until,
)

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "dashboard" / "app.py"
ARTIFACTS_ENV = "ROADSIGHT_ARTIFACTS"


def artifacts_dir(test_name: str) -> Path:
    """An emptied ``<artifacts>/browser/<test_name>/`` for this run's screenshots and logs."""
    configured = os.environ.get(ARTIFACTS_ENV)
    root = Path(configured) if configured else REPO / "test-artifacts"
    root.mkdir(parents=True, exist_ok=True)
    if not configured:
        (root / ".gitignore").write_text("*\n")  # the default folder in the repo ignores itself
    directory = root / "browser" / test_name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


@dataclass
class DashboardInBrowser:
    server: StreamlitServer
    driver: WebDriver
    artifacts: Path
    steps: int = 0

    def shot(self, name: str) -> Path:
        """Screenshot ``NN_name.png`` (once the app is idle), numbered in the order of the steps."""
        wait_until(self.driver, app_idle, "the app to finish its run before a screenshot")
        self.steps += 1
        return save_screenshot(self.driver, self.artifacts, f"{self.steps:02d}_{name}")


@contextmanager
def dashboard_in_browser(store: Path, artifacts: Path) -> Iterator[DashboardInBrowser]:
    """``streamlit run dashboard/app.py -- --store STORE`` (no auto refresh) opened in headless Chromium.

    Server and browser are stopped on exit, also on failure; a failure leaves
    ``failure.png``, ``failure.html`` and prints the server log tail.
    """
    app_args = ["--store", str(store), "--refresh-s", "0"]
    with (
        streamlit_server(APP, app_args, log_path=artifacts / "streamlit.log") as server,
        chromium_driver(log_path=artifacts / "chromedriver.log") as driver,
    ):
        ui = DashboardInBrowser(server, driver, artifacts)
        try:
            driver.get(server.url)
            yield ui
        except BaseException:
            try:
                save_screenshot(driver, artifacts, "failure")
                (artifacts / "failure.html").write_text(driver.page_source)
            except WebDriverException as err:
                print(f"no failure screenshot: {err}")
            print(f"streamlit log tail ({server.log_path}):\n{server.log_tail()}")
            raise
