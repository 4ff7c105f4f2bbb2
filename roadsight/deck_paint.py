"""When the dashboard's map is painted: deck.gl's WebGL draws recorded inside the page, and a pixel check.

:func:`record_deck_draws` wraps the instanced WebGL2 draw calls of every page the
driver loads from then on, so :func:`wait_for_deck_data` knows, on the page's own
clock (``performance.now()``), when case data first reached deck.gl's canvas;
:func:`wait_for_markers` checks on a screenshot that it is on screen.

Example:
    >>> record_deck_draws(driver)  # doctest: +SKIP
    >>> driver.get(server.url); t0 = page_clock_ms(driver)  # doctest: +SKIP
    >>> painted_ms = wait_for_deck_data(driver, since_ms=t0) - t0  # doctest: +SKIP
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

from roadsight.streamlit_browser import DEFAULT_WAIT_S, wait_until

# Records every instanced WebGL2 draw on deck.gl's canvas with its instance count, timed with
# performance.now() (ms since the document's navigation started). Instanced draws are how
# deck.gl draws layer data (one instance per point, hexagon, path...), so the first one with
# instances > 0 is the moment data reaches the screen. Capped: hover redraws would grow it.
_DECK_DRAW_RECORDER = """
(() => {
  if (window.__deckDraws) return;
  window.__deckDraws = [];
  const record = (gl, instances) => {
    if (instances > 0 && gl.canvas && gl.canvas.id === 'deckgl-overlay' && window.__deckDraws.length < 5000)
      window.__deckDraws.push([performance.now(), instances]);
  };
  const proto = WebGL2RenderingContext.prototype;
  for (const [name, countArg] of [['drawArraysInstanced', 3], ['drawElementsInstanced', 4]]) {
    const original = proto[name];
    proto[name] = function (...args) { record(this, args[countArg]); return original.apply(this, args); };
  }
})();
"""


def record_deck_draws(driver: WebDriver) -> None:
    """From the next navigation on, every page records deck.gl's data draws (see :func:`deck_draws`)."""
    driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": _DECK_DRAW_RECORDER})


def page_clock_ms(driver: WebDriver) -> float:
    """``performance.now()`` of the page: the clock :func:`deck_draws` uses."""
    return float(driver.execute_script("return performance.now()"))


def deck_draws(driver: WebDriver, since_ms: float = 0.0) -> list[tuple[float, int]]:
    """(page time in ms, instances) of deck.gl's instanced draws after ``since_ms``."""
    rows = driver.execute_script("return window.__deckDraws || []")
    return [(float(t), int(n)) for t, n in rows if float(t) >= since_ms]


def wait_for_deck_data(driver: WebDriver, since_ms: float = 0.0, timeout_s: float = DEFAULT_WAIT_S) -> float:
    """Page time (ms) of deck.gl's first data draw after ``since_ms``; waits until there is one."""
    draws = wait_until(driver, lambda d: deck_draws(d, since_ms), "deck.gl to draw data", timeout_s)
    return draws[0][0]


def colored_pixels(element: WebElement) -> int:
    """Pixels of ``element``'s screenshot that have a colour (map points, cells, tracks): a check that
    what deck.gl drew is on screen, independent of the draw recorder."""
    image = Image.open(io.BytesIO(element.screenshot_as_png)).convert("HSV")
    saturation = np.asarray(image)[..., 1]
    # A blank canvas and the map's zoom buttons are white/grey (saturation 0); even a pale class
    # colour such as lavender (190, 186, 218) has ~37.
    return int(np.count_nonzero(saturation > 25))


def wait_for_markers(driver: WebDriver, min_pixels: int = 50, timeout_s: float = DEFAULT_WAIT_S) -> int:
    """Wait until the map (``stDeckGlJsonChart``) shows at least ``min_pixels`` coloured pixels
    (markers, cells, tracks); returns their count."""

    def markers(d: WebDriver) -> int:
        deck = d.find_elements(By.CSS_SELECTOR, '[data-testid="stDeckGlJsonChart"]')  # a rerun may replace it
        pixels = colored_pixels(deck[0]) if deck else 0
        return pixels if pixels >= min_pixels else 0

    return wait_until(driver, markers, f"{min_pixels} coloured marker pixels on the map", timeout_s)
