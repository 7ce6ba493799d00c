"""Headless Chromium for the UI tests and the docs screenshot: Debian's ``chromium`` driven by Playwright.

No browser is ever downloaded: Playwright only drives the system executable (``playwright install`` is
never needed). Also a script that takes ``docs/ui-screenshot.png``::

    PYTHONPATH=src python3 tests/ui/browser.py [--base A --transfer B] [--out docs/ui-screenshot.png] [--width 400]

(without --base/--transfer: the bundled pair, else tiny random models).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium_path() -> str | None:
    """The system Chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None


def missing_reason() -> str | None:
    """Why a browser test cannot run here, or None when it can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Python package 'playwright' is not installed (pip install playwright; no browser download needed)"
    if chromium_path() is None:
        return "no system Chromium (apt-get install chromium)"
    return None


def launch(playwright):
    """A headless Chromium browser from the system executable."""
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True)


@contextlib.contextmanager
def serving(session: Any) -> Iterator[Any]:
    """Serve a BlendSession on a free local port in a thread; shut the server and the session down after."""
    from styleblend.ui.server import UIServer

    server = UIServer(session, "127.0.0.1", 0)
    thread = server.start_thread()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        session.close()


@contextlib.contextmanager
def chromium_or_skip() -> Iterator[Any]:
    """A headless system Chromium for a test module; skips the module when there is none (or no Playwright)."""
    import pytest

    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        try:
            yield browser
        finally:
            browser.close()


def wait_ready(page, url: str) -> None:
    """Open the UI and wait for its first preview, mixing and morph images."""
    page.goto(url)
    page.wait_for_function("document.body.dataset.ready === '1'", timeout=60_000)
    for img in ("preview", "mix-image", "morph-image"):
        page.wait_for_function(f"document.getElementById('{img}').src.startsWith('data:image/png')",
                               timeout=60_000)


def new_tab(browser, url: str, width: int = 1280, height: int = 900):
    """A new page of ``browser`` at ``url`` with a ``width`` x ``height`` viewport, the page ready."""
    tab = browser.new_page(viewport={"width": width, "height": height}, bypass_csp=True)
    tab.set_default_timeout(60_000)
    wait_ready(tab, url)
    return tab


def field_error(page, control: str) -> str:
    """The visible error the page shows right after the row (or preset line) of ``control``; waits for it."""
    selector = ", ".join(f"{row}:has({control}) + .field-error:not([hidden])" for row in (".row", ".presets"))
    page.wait_for_selector(selector)
    return page.inner_text(selector)


def screenshot(base: str | None, transfer: str | None, out: Path, photo: Path | None = None,
               width: int = 1280) -> Path:
    """Serve the UI (given or bundled models), set a sigmoid blend, embed a photo, save a full-page PNG."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
    from playwright.sync_api import sync_playwright

    from styleblend.errors import MissingWeightsError
    from styleblend.ui.server import UIServer
    from styleblend.ui.service import BlendSession, open_session, png_bytes

    try:
        session = open_session(base, transfer, embed_steps=60)
    except MissingWeightsError:
        sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
        from tests.ui.conftest import write_pair

        from styleblend.io import load_checkpoint

        paths = write_pair(Path(tempfile.mkdtemp(prefix="styleblend-shot-")))
        session = BlendSession(load_checkpoint(paths[0]), load_checkpoint(paths[1]), embed_steps=60)
    server = UIServer(session, "127.0.0.1", 0)
    thread = server.start_thread()
    photo_bytes = photo.read_bytes() if photo else png_bytes(session.mix_images(11, 11, "0", model="base")[0])
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": width, "height": 900}, bypass_csp=True)
            wait_ready(page, server.url)
            page.click("#preset-sigmoid")
            page.set_input_files("#photo", files=[{"name": "photo.png", "mimeType": "image/png",
                                                   "buffer": photo_bytes}])  # choosing the photo starts it
            # The final latent: refined after an encoder, or optimised without one.
            page.wait_for_function("['refined', 'optimised'].includes("
                                   "document.getElementById('toonify-image').dataset.stage)", timeout=300_000)
            page.click("#seed-browser summary")  # the seed browser, open
            page.wait_for_function("document.getElementById('seed-grid').dataset.first === '0'", timeout=120_000)
            page.wait_for_function("document.getElementById('preview').dataset.stage === 'full'", timeout=120_000)
            page.wait_for_timeout(300)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        session.close()
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Take the docs screenshot of `styleblend ui`.")
    parser.add_argument("--base")
    parser.add_argument("--transfer")
    parser.add_argument("--photo", type=Path, help="a photo to embed (default: an image of the base)")
    parser.add_argument("--out", type=Path, default=Path("docs/ui-screenshot.png"))
    parser.add_argument("--width", type=int, default=1280, help="viewport width in px (400: a phone)")
    args = parser.parse_args()
    reason = missing_reason()
    if reason:
        sys.exit(f"cannot take the screenshot: {reason}")
    print(screenshot(args.base, args.transfer, args.out, args.photo, args.width))
