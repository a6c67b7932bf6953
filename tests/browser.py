"""A page opened in a real browser: Debian's chromium, driven by playwright (a test extra)."""
from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]


def chromium() -> str:
    path = shutil.which("chromium")
    assert path, "the report's browser test needs Debian's chromium: apt-get install chromium (as .ci/run does)"
    return path


def open_page(path: Path, screenshot: Path | None = None) -> dict:
    """{"requests": every URL the page asked for, "images": [(loaded, natural width), ...], "title",
    "headings"}; requests other than the file itself are refused (and recorded)."""
    from playwright.sync_api import sync_playwright
    url = Path(path).resolve().as_uri()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page()
            requests = []
            page.on("request", lambda r: requests.append(r.url))
            page.route("**/*", lambda route: route.continue_() if route.request.url == url else route.abort())
            page.goto(url, wait_until="load")
            images = page.evaluate("Array.from(document.images).map(i => [i.complete && i.naturalWidth > 0, "
                                   "i.naturalWidth])")
            out = {"requests": requests, "images": [tuple(i) for i in images], "title": page.title(),
                   "headings": page.evaluate("Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")}
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
            return out
        finally:
            browser.close()
