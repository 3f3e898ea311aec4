"""End to end: `relsim dashboard`'s server in headless Chromium, driven through Playwright.

The page's content arrives over a websocket, so an HTTP GET proves little: this test opens
the page in a real browser, waits for the charts, moves the retention slider, resets, steps,
and checks that the numbers on the page change. A screenshot is saved in the test's
temporary folder.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from simulation.dashboard import server as dashboard

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = pytest.mark.browser


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        return "no Chromium at /usr/bin/chromium (Debian: apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def server():
    reason = _browser_missing()
    if reason:
        pytest.skip(reason)
    process, url = dashboard.start(None, host="127.0.0.1", port=dashboard.free_port())
    try:
        dashboard.wait_until_ready(url, process, timeout=90)
        yield url
    finally:
        dashboard.stop(process)


def _chart_count(page) -> int:
    """Charts the browser has drawn (the images arrive as blobs over the websocket)."""
    return page.evaluate(
        "() => Array.from(document.images)"
        ".filter(i => i.src.startsWith('blob:') && i.naturalWidth > 100).length"
    )


def _charts(page) -> list[str]:
    return page.evaluate(
        "() => Array.from(document.images).filter(i => i.src.startsWith('blob:')).map(i => i.src)"
    )


def test_dashboard_in_a_browser(server, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1100})
            page.goto(server)
            step = page.get_by_role("button", name="Step")
            expect(step).to_be_visible(timeout=60_000)
            expect(page.get_by_text("period 0 of 120")).to_be_visible(timeout=30_000)
            page.wait_for_function(
                "() => Array.from(document.images)"
                ".filter(i => i.src.startsWith('blob:') && i.naturalWidth > 100)"
                ".length >= 7",
                timeout=30_000,
            )
            assert _chart_count(page) >= 7

            # Move the retention slider with the keyboard: 0.50 -> 0.90 in steps of 0.05.
            control = page.locator(".v-input", has_text="Retention share")
            thumb = control.get_by_role("slider")
            before = float(thumb.get_attribute("aria-valuenow"))
            thumb.focus()
            for _ in range(8):
                thumb.press("ArrowRight")
            expect(thumb).not_to_have_attribute("aria-valuenow", str(before), timeout=5_000)
            assert float(thumb.get_attribute("aria-valuenow")) == pytest.approx(before + 0.4)

            page.get_by_role("button", name="Reset").click()
            expect(page.get_by_text("period 0 of 120")).to_be_visible(timeout=30_000)
            charts_before = _charts(page)
            step.click()
            expect(page.get_by_text("period 1 of 120")).to_be_visible(timeout=30_000)
            step.click()
            expect(page.get_by_text("period 2 of 120")).to_be_visible(timeout=30_000)

            # The lever reached the model, and the numbers are there and moving.
            expect(page.get_by_text(re.compile(r"balanced: 90% of"))).to_be_visible()
            numbers = page.locator("table.relsim-numbers")
            expect(numbers).to_contain_text("customers")
            first = numbers.inner_text()
            step.click()
            expect(page.get_by_text("period 3 of 120")).to_be_visible(timeout=30_000)
            expect(numbers).not_to_have_text(first, timeout=10_000)
            page.wait_for_function(
                "(old) => Array.from(document.images)"
                ".filter(i => i.src.startsWith('blob:'))"
                ".some((i, k) => i.src !== old[k])",
                arg=charts_before,
                timeout=30_000,
            )
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()
