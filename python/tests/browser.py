"""A real headless browser for the tests: Debian's Chromium driven through selenium.

``tools/install_browser.sh`` (run by ``make install``) installs ``chromium``,
``chromium-driver`` and a font. :func:`open_page` loads a page at a given
width and returns what a person would have seen go wrong: console errors,
elements wider than the viewport, images that do not decode.

Also a small command line for looking at pages yourself::

    python python/tests/browser.py PAGE.html OUT_PREFIX [WIDTH ...]

writes full-page screenshots ``OUT_PREFIX-WIDTH.png`` (default 400 and 1400).
"""

from __future__ import annotations

import base64
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--disable-dev-shm-usage")

#: elements whose right edge passes the viewport's (a few pixels of sub-pixel rounding allowed)
OVERFLOW_JS = """
const vw = document.documentElement.clientWidth;
const out = [];
for (const el of document.querySelectorAll('body *')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  if (r.right > vw + 1 || r.left < -1) {
    out.push(`${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className : ''}`
             + ` left ${Math.round(r.left)} right ${Math.round(r.right)} (viewport ${vw})`);
  }
}
return {overflow: out, scrollWidth: document.documentElement.scrollWidth, viewport: vw};
"""

#: every <img> decoded (naturalWidth > 0 after img.decode())
IMAGES_JS = """
const done = arguments[arguments.length - 1];
const imgs = Array.from(document.images);
Promise.all(imgs.map(i => i.decode().then(() => null, e => (i.alt || i.src.slice(0, 60)) + ': ' + e)))
  .then(errs => done({count: imgs.length, failed: errs.filter(Boolean),
                      empty: imgs.filter(i => !(i.naturalWidth > 0)).map(i => i.alt || i.src.slice(0, 60))}));
"""


def available() -> str | None:
    """``None`` when Chromium and its driver are installed, else what is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists() and not shutil.which(Path(p).name)]
    return ", ".join(missing) or None


@contextmanager
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    profile = tempfile.mkdtemp(prefix="sf-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER if Path(CHROMEDRIVER).exists() else shutil.which("chromedriver")))
    driver.set_script_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def set_width(driver: Any, width: int, height: int = 900) -> None:
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def open_page(driver: Any, page: Path, width: int) -> dict[str, Any]:
    """Load ``page`` at ``width`` px: ``{"errors", "overflow", "scrollWidth", "viewport", "images"}``."""
    set_width(driver, width)
    driver.get_log("browser")  # drop what earlier pages logged
    driver.get(Path(page).resolve().as_uri())
    result = driver.execute_script(OVERFLOW_JS)
    result["images"] = driver.execute_async_script(IMAGES_JS)
    result["errors"] = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
    return result


def screenshot(driver: Any, page: Path, width: int, out: Path, max_height: int = 16000) -> Path:
    """A full-page PNG of ``page`` at ``width`` px."""
    set_width(driver, width)
    driver.get(Path(page).resolve().as_uri())
    height = min(int(driver.execute_script("return document.documentElement.scrollHeight")), max_height)
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    out.write_bytes(base64.b64decode(shot["data"]))
    return out


if __name__ == "__main__":  # pragma: no cover - a tool for people
    page, prefix = Path(sys.argv[1]), sys.argv[2]
    widths = [int(w) for w in sys.argv[3:]] or [400, 1400]
    with browser() as d:
        for w in widths:
            print(screenshot(d, page, w, Path(f"{prefix}-{w}.png")))
