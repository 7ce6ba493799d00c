"""End to end in headless Chromium: the page loads, a slider move updates the preview, a bad photo shows an
error and the page keeps working. Skips cleanly without Playwright or a system Chromium."""

from __future__ import annotations

import os

import pytest

from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.ui.server import UIServer
from styleblend.ui.service import BlendSession, png_bytes

from ..conftest import tiny_checkpoint
from .browser import launch, missing_reason, wait_ready
from .conftest import hostile_pickles

PREVIEW_SRC = "document.getElementById('preview').src"


@pytest.fixture(scope="module")
def server(pair_paths):
    session = BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), embed_steps=3)
    srv = UIServer(session, "127.0.0.1", 0)
    thread = srv.start_thread()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join(10)
    session.close()


@pytest.fixture(scope="module")
def page():
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p)
        tab = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        tab.set_default_timeout(60_000)
        yield tab
        browser.close()


def move_slider(page, selector: str, value: str) -> None:
    """Set a range input and fire the 'input' event, as a drag does."""
    page.locator(selector).evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', { bubbles: true })); }", value)


def wait_changed(page, before: str) -> str:
    page.wait_for_function(f"before => {PREVIEW_SRC} !== before && {PREVIEW_SRC}.startsWith('data:image/png')",
                           arg=before)
    return page.evaluate(PREVIEW_SRC)


def test_slider_updates_the_preview_and_errors_are_shown(page, server, tmp_path):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    wait_ready(page, server.url)
    assert page.locator("#sliders input[type=range]").count() == 4
    assert "base.safetensors" in page.inner_text("#models")

    # Move the 4 px slider to the other end: the blend column must change.
    before = page.evaluate(PREVIEW_SRC)
    current = float(page.locator("#alpha-4").input_value())
    move_slider(page, "#alpha-4", "0" if current > 0.5 else "1")
    after = wait_changed(page, before)
    assert after != before
    assert page.inner_text("#alpha-4 + output") == ("0.00" if current > 0.5 else "1.00")

    # The keyboard moves a slider too (a real user interaction, not a synthetic event).
    page.focus("#alpha-8")
    page.keyboard.press("Home")
    after_key = wait_changed(page, after)

    # The preset controls show the server's defaults (BlendSession.preset_defaults), and a preset button
    # sets every slider.
    assert [page.input_value(f"#{i}") for i in ("swap-res", "linear-from", "linear-to", "sigmoid-centre",
                                                 "sigmoid-width")] == ["16", "8", "16", "16", "1"]
    page.click("#preset-linear")
    page.wait_for_function("document.getElementById('alpha-32').value === '0'")
    wait_changed(page, after_key)

    # A text file as the photo: a clear error in the page...
    page.set_input_files("#photo", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                           "buffer": b"this is not a photo"}])
    page.click("#embed-run")
    page.wait_for_selector("#error:not([hidden])")
    assert "not an image" in page.inner_text("#error-text")
    assert page.is_enabled("#embed-run")

    # ...and the page keeps working.
    page.click("#error-close")
    assert page.is_hidden("#error")
    before = page.evaluate(PREVIEW_SRC)
    move_slider(page, "#alpha-16", "0.5" if page.locator("#alpha-16").input_value() != "0.5" else "1")
    wait_changed(page, before)
    page.click("#mix-run")
    assert errors == []

    shot = os.environ.get("STYLEBLEND_UI_SCREENSHOT") or str(tmp_path / "ui.png")
    page.screenshot(path=shot, full_page=True)


def error_after(page, action) -> str:
    if page.is_visible("#error"):
        page.click("#error-close")
    action()
    page.wait_for_selector("#error:not([hidden])")
    return page.inner_text("#error-text")


def test_photo_toonify_download_and_bad_checkpoints(page, server, tmp_path):
    wait_ready(page, server.url)
    # A real photo: embedded with a progress bar, then shown through the blend.
    photo = png_bytes(server.session.mix_images(3, 3, "0", model="base")[0])
    page.set_input_files("#photo", files=[{"name": "me.png", "mimeType": "image/png", "buffer": photo}])
    page.click("#embed-run")
    page.wait_for_function("document.getElementById('toonify-image').src.startsWith('data:image/png')")
    assert page.inner_text("#embed-status").startswith("done: step 3/3")
    assert page.get_attribute("#embed-progress", "value") == "3"

    # The download button saves the blend in the base's format.
    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == "base-blend.safetensors"

    # A hostile pickle and a mismatched model are refused with the library's message.
    marker = tmp_path / "pwned"
    evil = hostile_pickles(marker)["nvidia"]
    page.set_input_files("#upload-base", files=[{"name": "evil.pkl", "mimeType": "application/octet-stream",
                                                 "buffer": evil}])
    assert "refused to load" in error_after(page, lambda: page.click("#upload-base-run"))
    assert not marker.exists()
    small = tiny_checkpoint(seed=5, res=32, architecture="resnet")
    data = save_checkpoint(small, tmp_path / "resnet.safetensors").read_bytes()
    page.set_input_files("#upload-transfer", files=[{"name": "resnet.safetensors",
                                                     "mimeType": "application/octet-stream", "buffer": data}])
    assert "same architecture" in error_after(page, lambda: page.click("#upload-transfer-run"))
    assert page.inner_text("#upload-status") == "transfer not loaded"
    assert "transfer.safetensors" in page.inner_text("#models")  # the old pair is still in use
