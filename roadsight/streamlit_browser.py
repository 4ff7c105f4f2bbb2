"""A real ``streamlit run`` server in a subprocess, driven by headless Debian Chromium over Selenium.

Used by the browser test (tests/test_dashboard_browser.py) and the first-paint
benchmark (:mod:`roadsight.bench_dashboard`). Chromium and its driver come from
the Debian packages ``chromium`` and ``chromium-driver``; the driver path is
given explicitly so Selenium Manager never tries to download anything.

Streamlit widgets are React components whose inputs carry their label as
``aria-label`` (text inputs, text areas, and the combobox input of a
selectbox/multiselect): a selectbox is driven by typing into that input and
pressing Enter; a button is found by its text. Every wait is an explicit poll
with a generous timeout (a loaded 2-core CI machine can take tens of seconds
per rerun); nothing relies on sleeping.

Example:
    >>> args = ["--store", "events.gpkg"]
    >>> with streamlit_server(APP, args, log_path=Path("st.log")) as server:  # doctest: +SKIP
    ...     with chromium_driver() as driver:
    ...         driver.get(server.url)
    ...         wait_for_text(driver, r"Showing (\\d+) of (\\d+)")
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from selenium import webdriver
from selenium.common.exceptions import (
    ElementClickInterceptedException,
    ElementNotInteractableException,
    NoSuchElementException,
    StaleElementReferenceException,
    TimeoutException,
    WebDriverException,
)
from selenium.webdriver.chrome.options import Options as ChromeOptions
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path(os.environ.get("ROADSIGHT_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("ROADSIGHT_CHROMEDRIVER", "/usr/bin/chromedriver"))
DEFAULT_WAIT_S = 120.0  # one Streamlit rerun of a 10,000-case page on a busy 2-core machine
# Streamlit marks the app as busy with this element while a script run is in progress.
_RUNNING = '[data-testid="stStatusWidget"]'
_EXCEPTION = '[data-testid="stException"]'  # an uncaught exception in the page script
_STALE = '[data-stale="true"]'  # an element the running script has not redrawn yet
_NAV_LINK_ID = "stSidebarNavLink"
_NAV_LINK = f'a[data-testid="{_NAV_LINK_ID}"]'
T = TypeVar("T")


class BrowserError(RuntimeError):
    """Chromium, its driver or the Streamlit server is missing or did not come up."""


@dataclass
class StreamlitServer:
    url: str  # http://127.0.0.1:PORT
    process: subprocess.Popen[bytes]
    log_path: Path  # the server's stdout and stderr

    def log_tail(self, n_chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-n_chars:]
        except OSError as err:
            return f"(no server log: {err})"


def unused_tcp_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _health_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=5) as resp:
            return bool(resp.status == 200 and resp.read().strip() == b"ok")
    except OSError:
        return False


@contextmanager
def streamlit_server(
    app: Path,
    app_args: Sequence[str],
    *,
    log_path: Path,
    port: int | None = None,
    timeout_s: float = DEFAULT_WAIT_S,
) -> Iterator[StreamlitServer]:
    """``streamlit run APP -- APP_ARGS`` on 127.0.0.1; yields once ``/_stcore/health`` answers ``ok``.

    The server is terminated (then killed) on exit, also when the body fails.
    """
    port = port or unused_tcp_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", str(app),
        "--server.headless", "true", "--server.port", str(port), "--server.address", "127.0.0.1",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--", *app_args,
    ]  # fmt: skip
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        # The log goes to a file, not a pipe: a full pipe would block the server.
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    server = StreamlitServer(f"http://127.0.0.1:{port}", process, log_path)
    try:
        deadline = time.monotonic() + timeout_s
        while not _health_ok(server.url):
            if process.poll() is not None:
                raise BrowserError(f"streamlit exited with {process.returncode}:\n{server.log_tail()}")
            if time.monotonic() > deadline:
                raise BrowserError(f"streamlit not healthy after {timeout_s} s:\n{server.log_tail()}")
            time.sleep(0.3)  # polling interval, not a correctness wait
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def chromium_driver(
    *, width: int = 1600, height: int = 1100, log_path: Path | None = None
) -> Iterator[WebDriver]:
    """Headless Debian Chromium with WebGL (SwiftShader, so deck.gl draws without a GPU); quit on exit."""
    for binary, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not binary.is_file():
            raise BrowserError(f"{binary} not found: apt-get install -y {package}")
    options = ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={width},{height}",
        # WebGL on the CPU: deck.gl needs it; Chromium asks for this opt-in since version 137.
        "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
        "--no-first-run", "--disable-extensions", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--lang=en-US",
    ):  # fmt: skip
        options.add_argument(arg)
    # An explicit driver path: Selenium Manager is skipped and never downloads a driver.
    service = ChromeService(executable_path=str(CHROMEDRIVER), log_output=str(log_path) if log_path else None)
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except WebDriverException as err:
        raise BrowserError(f"chromium did not start: {err.msg}") from err
    try:
        driver.set_page_load_timeout(DEFAULT_WAIT_S)
        driver.set_script_timeout(DEFAULT_WAIT_S)
        yield driver
    finally:
        driver.quit()


def wait_until(
    driver: WebDriver,
    condition: Callable[[WebDriver], T | bool | None],
    what: str,
    timeout_s: float = DEFAULT_WAIT_S,
) -> T:
    """Poll ``condition(driver)`` until it is truthy; a clear error naming ``what`` on timeout."""
    wait = WebDriverWait(
        driver, timeout_s, poll_frequency=0.25, ignored_exceptions=(StaleElementReferenceException,)
    )
    try:
        return wait.until(condition)  # type: ignore[return-value]
    except TimeoutException as err:
        raise TimeoutException(f"after {timeout_s} s still waiting for {what}") from err


def page_text(driver: WebDriver) -> str:
    try:
        return str(driver.find_element(By.TAG_NAME, "body").text)
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def app_idle(driver: WebDriver) -> bool:
    """True while Streamlit runs no script: no 'Running...' status widget (shown only after a short
    delay) and no element left over from the previous run (``data-stale="true"``)."""
    return not driver.find_elements(By.CSS_SELECTOR, _RUNNING) and not driver.find_elements(
        By.CSS_SELECTOR, _STALE
    )


def wait_for_text(
    driver: WebDriver,
    pattern: str,
    accept: Callable[[re.Match[str]], bool] = bool,
    timeout_s: float = DEFAULT_WAIT_S,
) -> re.Match[str]:
    """The first match of the regex ``pattern`` in the visible page text that ``accept`` takes, once the
    app is idle. ``accept`` is how to wait for a *change* (a new count after a filter), since the old
    text stays on screen until the rerun ends."""

    def found(d: WebDriver) -> re.Match[str] | None:
        if not app_idle(d):
            return None
        crashed = d.find_elements(By.CSS_SELECTOR, _EXCEPTION)
        if crashed:  # the page script raised: waiting longer cannot help
            raise BrowserError(f"the app shows an exception while waiting for /{pattern}/: {crashed[0].text}")
        match = re.search(pattern, page_text(d))
        return match if match is not None and accept(match) else None

    return wait_until(driver, found, f"text /{pattern}/", timeout_s)


def _xpath_literal(text: str) -> str:
    return f"'{text}'" if "'" not in text else f'"{text}"'


def input_by_label(driver: WebDriver, label: str, timeout_s: float = DEFAULT_WAIT_S) -> WebElement:
    """A text/number/password ``<input>`` or ``<textarea>`` whose ``aria-label`` is ``label``."""
    css = f'input[aria-label="{label}"], textarea[aria-label="{label}"]'
    return wait_until(
        driver,
        lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None),
        f"input labelled {label!r}",
        timeout_s,
    )


def click(driver: WebDriver, find: Callable[[WebDriver], WebElement], what: str) -> WebElement:
    """Click what ``find`` returns, retrying while something (a fading overlay, a rerun replacing the
    element) is in the way; returns the element clicked."""

    def clicked(d: WebDriver) -> WebElement | None:
        element = find(d)
        try:
            element.click()
        except (ElementClickInterceptedException, ElementNotInteractableException):
            return None
        return element

    return wait_until(driver, clicked, f"a click on {what}")


def type_into(driver: WebDriver, label: str, text: str, *, submit: bool = False) -> None:
    """Replace the content of the input labelled ``label`` with ``text``; Enter if ``submit``."""
    box = click(driver, lambda d: input_by_label(d, label), f"input {label!r}")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(text + (Keys.ENTER if submit else ""))


def button(driver: WebDriver, text: str, timeout_s: float = DEFAULT_WAIT_S) -> WebElement:
    """A visible, enabled ``<button>`` whose text is ``text``."""
    xpath = f"//button[normalize-space(.)={_xpath_literal(text)}]"
    return wait_until(
        driver,
        lambda d: next(
            (b for b in d.find_elements(By.XPATH, xpath) if b.is_displayed() and b.is_enabled()), None
        ),
        f"button {text!r}",
        timeout_s,
    )


def click_button(driver: WebDriver, text: str, timeout_s: float = DEFAULT_WAIT_S) -> None:
    click(driver, lambda d: button(d, text, timeout_s), f"button {text!r}")


def choose_option(driver: WebDriver, label: str, option: str, timeout_s: float = DEFAULT_WAIT_S) -> None:
    """Pick ``option`` in the selectbox/multiselect labelled ``label``: type it, wait for the list, Enter.

    The option list filters as you type and Enter takes the first remaining option,
    so ``option`` should match the intended option only.
    """
    combo = click(driver, lambda d: input_by_label(d, label, timeout_s), f"selectbox {label!r}")
    combo.send_keys(option)
    wanted = option.casefold()
    # Enter takes the first option shown: wait until the list shows only what matches the typed text.
    wait_until(
        driver,
        lambda d: (shown := visible_options(d)) and all(wanted in o.casefold() for o in shown),
        f"options of {label!r} matching {option!r}",
        timeout_s,
    )
    combo.send_keys(Keys.ENTER)
    if combo.find_elements(By.XPATH, "./ancestor::div[@data-testid='stMultiSelect']"):
        # A multiselect's list stays open after a pick: close it so it covers nothing. (Not for a
        # selectbox: Enter closed it, and Escape there can undo the pick before it is sent.)
        combo.send_keys(Keys.ESCAPE)


def visible_options(driver: WebDriver) -> list[str]:
    """Texts of the options of the open selectbox/multiselect list (none when no list is open)."""
    return [o.text for o in driver.find_elements(By.CSS_SELECTOR, '[role="option"]') if o.is_displayed()]


def open_options(driver: WebDriver, label: str, timeout_s: float = DEFAULT_WAIT_S) -> list[str]:
    """Open the list of the selectbox/multiselect labelled ``label``; the texts of its visible options."""
    combo = input_by_label(driver, label, timeout_s)
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", combo)  # room for the list

    def opened(d: WebDriver) -> list[str] | None:
        options = visible_options(d)
        if not options:
            combo.send_keys(Keys.ARROW_DOWN)  # opens the list; a rerun may have closed it again
        return options or None

    return wait_until(driver, opened, f"the options of {label!r}", timeout_s)


def clear_multiselect(driver: WebDriver, label: str, timeout_s: float = DEFAULT_WAIT_S) -> None:
    """Remove every chosen value of the multiselect labelled ``label`` (its 'Clear all' button)."""
    combo = input_by_label(driver, label, timeout_s)
    widget = combo.find_element(
        By.XPATH, "./ancestor::div[@data-testid][starts-with(@data-testid,'stMulti')][1]"
    )
    clear = widget.find_elements(By.CSS_SELECTOR, 'button[aria-label="Clear all"]')
    if clear:
        clear[0].click()


# --- the roadsight dashboard's own words (login form, case counts) ---------------------------------

SHOWING = r"Showing ([\d,]+) of ([\d,]+) cases"


def showing_counts(
    driver: WebDriver,
    accept: Callable[[int, int], bool] = lambda n, m: True,
    timeout_s: float = DEFAULT_WAIT_S,
) -> tuple[int, int]:
    """(shown, total) from the map's "Showing N of M cases", once ``accept(shown, total)`` holds."""

    def counts(match: re.Match[str]) -> tuple[int, int]:
        return int(match.group(1).replace(",", "")), int(match.group(2).replace(",", ""))

    return counts(wait_for_text(driver, SHOWING, lambda m: accept(*counts(m)), timeout_s))


def log_in(driver: WebDriver, username: str, password: str) -> None:
    """Fill the dashboard's login form and press "Log in"."""
    type_into(driver, "Username", username)
    type_into(driver, "Password", password)
    click_button(driver, "Log in")


def nav_links(driver: WebDriver) -> list[str]:
    """Titles of the pages in the sidebar navigation (a multi-page app's pages this user gets)."""
    return [a.text.strip() for a in driver.find_elements(By.CSS_SELECTOR, _NAV_LINK) if a.is_displayed()]


def open_page(driver: WebDriver, title: str, timeout_s: float = DEFAULT_WAIT_S) -> None:
    """Click the sidebar navigation link of the page titled ``title`` (multi-page apps)."""
    xpath = f"//a[@data-testid='{_NAV_LINK_ID}'][normalize-space(.)={_xpath_literal(title)}]"

    def link(d: WebDriver) -> WebElement:
        return wait_until(
            d,
            lambda d: next((a for a in d.find_elements(By.XPATH, xpath) if a.is_displayed()), None),
            f"sidebar link to page {title!r}",
            timeout_s,
        )

    click(driver, link, f"the sidebar link to page {title!r}")


def scroll_to_text(driver: WebDriver, text: str) -> None:
    """Scroll the first element whose own text contains ``text`` to the middle of the window."""
    xpath = f"//*[contains(text(), {_xpath_literal(text)})]"
    element = wait_until(
        driver, lambda d: next(iter(d.find_elements(By.XPATH, xpath)), None), f"text {text!r}"
    )
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)


def save_screenshot(driver: WebDriver, directory: Path, name: str) -> Path:
    """``directory/NAME.png`` of the whole window (the directory is created)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    if not driver.save_screenshot(str(path)):
        raise BrowserError(f"screenshot {path} could not be written")
    return path
