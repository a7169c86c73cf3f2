"""Drives the web UI in a real headless Chromium (Playwright, Debian's /usr/bin/chromium): what the browser test
and the web benchmark do as a user would — open the page, upload a scan, click Reconstruct, wait for the result."""
from __future__ import annotations

import shutil
import time
from pathlib import Path

CHROMIUM_ARGS = ["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
"""Headless WebGL without a GPU (SwiftShader), which gr.Model3D needs to draw."""


def chromium_path() -> str | None:
    """Debian's Chromium, which scripts/setup.sh installs (Playwright's own browser downloads are not used)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def reconstruct_in_browser(url: str, scan: Path, screenshot: Path | None = None, timeout_s: float = 300.0) -> float:
    """Uploads ``scan`` at ``url``, clicks Reconstruct, waits until the downloads are enabled (the result is on
    screen); returns the seconds from the click to then, and saves a full-page screenshot when asked."""
    done = "() => [...document.querySelectorAll('button')].some(b => b.textContent.trim() === 'GLB' && !b.disabled)"
    return _click_to_result(url, scan, None, "Reconstruct", done, screenshot, timeout_s)


def compare_in_browser(url: str, scan: Path, screenshot: Path | None = None, timeout_s: float = 600.0) -> float:
    """The same in the Compare encoders tab (float model against its 3-bit K-means variant, the tab's defaults):
    the seconds from the click on Compare until the size ratio is shown."""
    done = "() => document.body.innerText.includes('size ratio')"
    return _click_to_result(url, scan, "Compare encoders", "Compare", done, screenshot, timeout_s)


def _click_to_result(url: str, scan: Path, tab: str | None, button: str, done_js: str, screenshot: Path | None,
                     timeout_s: float) -> float:
    """Opens ``url`` (and ``tab``), uploads ``scan`` into the visible file input, clicks ``button`` and waits until
    ``done_js`` holds; returns the seconds from the click."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            if tab is not None:
                page.get_by_role("tab", name=tab).click()
            page.locator("input[type=file]").first.wait_for(state="attached")
            # The scan's file input in the open tab (file inputs are hidden themselves; their tab panel is not).
            shown = [f for f in page.locator("input[type=file]").all() if f.evaluate(
                "e => { const t = e.closest('[role=tabpanel]'); return !t || getComputedStyle(t).display !== 'none'; }")]
            shown[0].set_input_files(str(scan))
            page.get_by_text(scan.name[:8]).first.wait_for(timeout=30_000)  # the upload is listed
            start = time.perf_counter()
            page.get_by_role("button", name=button, exact=True).last.click()
            page.wait_for_function(done_js, timeout=timeout_s * 1000)
            seconds = time.perf_counter() - start
            if screenshot is not None:
                page.wait_for_timeout(2000)  # let the 3D views draw
                page.screenshot(path=str(screenshot), full_page=True)
            return seconds
        finally:
            browser.close()


def compare_nerfs_in_browser(url: str, screenshot: Path | None = None, timeout_s: float = 300.0) -> float:
    """Opens the Compare NeRFs tab, clicks Compare with its default pair (the shipped float model and its K-means
    variant) and then Score every variant; returns the seconds from the first click until the variants' table is
    filled, and saves a full-page screenshot when asked."""
    from playwright.sync_api import sync_playwright

    compared = "() => document.body.innerText.includes('PSNR between the two renderings')"
    scored = "() => document.body.innerText.includes('kmeans 3 bits') && document.body.innerText.includes('float32')" \
             " && [...document.querySelectorAll('table td')].length > 4"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(url)
            page.get_by_role("tab", name="Compare NeRFs").click()
            start = time.perf_counter()
            page.get_by_role("button", name="Compare", exact=True).last.click()
            page.wait_for_function(compared, timeout=timeout_s * 1000)
            page.get_by_role("button", name="Score every variant", exact=True).click()
            page.wait_for_function(scored, timeout=timeout_s * 1000)
            seconds = time.perf_counter() - start
            if screenshot is not None:
                page.wait_for_timeout(1500)  # let the images and the plot draw
                page.screenshot(path=str(screenshot), full_page=True)
            return seconds
        finally:
            browser.close()
