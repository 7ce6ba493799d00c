"""End to end in headless Chromium: the page loads, a slider move updates the preview, a bad photo shows an
error and the page keeps working; with an encoder a photo's toonify appears before its refinement ends, the
refined one replaces it, and a new photo cancels the old job. Skips cleanly without Playwright or a system
Chromium."""

from __future__ import annotations

import os
import time

import pytest

from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.ui.service import BlendSession, png_bytes

from ..conftest import tiny_checkpoint
from .browser import chromium_or_skip, field_error, serving, wait_ready
from .conftest import hostile_pickles
from .photos import photo_png

TOON = "document.getElementById('toonify-image')"
# Records every toonify the page draws: (job, stage, steps, image) - the page sets the data-* after the src.
RECORD_TOONS = f"""() => {{
  window.shownToons = [];
  const img = {TOON};
  new MutationObserver(() => window.shownToons.push(
    {{ job: img.dataset.job, stage: img.dataset.stage, steps: img.dataset.steps, src: img.src }}
  )).observe(img, {{ attributes: true, attributeFilter: ["data-stage", "data-job", "data-steps"] }});
}}"""

PREVIEW_SRC = "document.getElementById('preview').src"


@pytest.fixture(scope="module")
def server(pair_paths):
    with serving(BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), embed_steps=3)) as srv:
        yield srv


@pytest.fixture(scope="module")
def page():
    with chromium_or_skip() as browser:
        tab = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        tab.set_default_timeout(60_000)
        yield tab


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

    # A text file as the photo: a clear error next to the photo input...
    page.set_input_files("#photo", files=[{"name": "notes.txt", "mimeType": "text/plain",
                                           "buffer": b"this is not a photo"}])
    page.click("#embed-run")
    assert "not an image" in field_error(page, "#photo")
    assert page.is_enabled("#embed-run")

    # ...and the page keeps working.
    before = page.evaluate(PREVIEW_SRC)
    move_slider(page, "#alpha-16", "0.5" if page.locator("#alpha-16").input_value() != "0.5" else "1")
    wait_changed(page, before)
    page.click("#mix-run")
    assert errors == []

    shot = os.environ.get("STYLEBLEND_UI_SCREENSHOT") or str(tmp_path / "ui.png")
    page.screenshot(path=shot, full_page=True)


def error_after(page, action, control: str) -> str:
    action()
    return field_error(page, control)


def test_photo_toonify_download_and_bad_checkpoints(page, server, tmp_path):
    wait_ready(page, server.url)
    # A real photo: embedded with a progress bar, then shown through the blend.
    photo = png_bytes(server.session.mix_images(3, 3, "0", model="base")[0])
    assert "no encoder for this base" in page.inner_text("#encoder-note")
    page.set_input_files("#photo", files=[{"name": "me.png", "mimeType": "image/png", "buffer": photo}])  # starts it
    page.wait_for_function("document.getElementById('toonify-image').src.startsWith('data:image/png')")
    assert page.get_attribute("#toonify-image", "data-stage") == "optimised"
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
    assert "refused to load" in error_after(page, lambda: page.click("#upload-base-run"), "#upload-base")
    assert not marker.exists()
    small = tiny_checkpoint(seed=5, res=32, architecture="resnet")
    data = save_checkpoint(small, tmp_path / "resnet.safetensors").read_bytes()
    page.set_input_files("#upload-transfer", files=[{"name": "resnet.safetensors",
                                                     "mimeType": "application/octet-stream", "buffer": data}])
    assert "same architecture" in error_after(page, lambda: page.click("#upload-transfer-run"), "#upload-transfer")
    assert page.inner_text("#upload-status") == "transfer not loaded"
    assert "transfer.safetensors" in page.inner_text("#models")  # the old pair is still in use


def _photo_file(server, name: str, seed: int) -> dict:
    data = photo_png(server.session, seed)
    return {"name": name, "mimeType": "image/png", "buffer": data}


def _wait_state(session, job: str, state: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while session.job_status(job)["state"] != state:
        assert time.monotonic() < deadline, session.job_status(job)
        time.sleep(0.05)


def test_the_encoder_result_shows_first_refinement_replaces_it_and_a_new_photo_cancels(page, enc_server):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    session = enc_server.session
    wait_ready(page, enc_server.url)
    assert "encoder.safetensors" in page.inner_text("#encoder-note")
    assert page.input_value("#embed-steps") == str(session.refine_steps)  # the refinement's default
    page.evaluate(RECORD_TOONS)

    # A long refinement: choosing the photo shows the encoder's toonify while the job still runs.
    page.fill("#embed-steps", "5000")
    page.set_input_files("#photo", files=[_photo_file(enc_server, "a.png", 3)])
    page.wait_for_function(f"{TOON}.dataset.stage === 'encoder'")
    job_a = page.get_attribute("#toonify-image", "data-job")
    assert session.job_status(job_a)["state"] == "running"
    assert page.inner_text("#toonify-shown").startswith("encoder result")
    assert page.is_enabled("#embed-cancel")

    # A new photo: the page shows its encoder result and the server cancels the stale job.
    page.set_input_files("#photo", files=[_photo_file(enc_server, "b.png", 5)])
    page.wait_for_function(f"a => {TOON}.dataset.job !== a && {TOON}.dataset.stage === 'encoder'", arg=job_a)
    job_b = page.get_attribute("#toonify-image", "data-job")
    _wait_state(session, job_a, "cancelled")
    page.click("#embed-cancel")  # and the Cancel button stops the new one
    _wait_state(session, job_b, "cancelled")
    page.wait_for_function("document.getElementById('embed-status').textContent.startsWith('cancelled')")

    # A short refinement: the refined toonify replaces the encoder's.
    page.fill("#embed-steps", "3")
    page.click("#embed-run")
    page.wait_for_function(f"b => {TOON}.dataset.job !== b && {TOON}.dataset.stage === 'refined'", arg=job_b)
    job_c = page.get_attribute("#toonify-image", "data-job")
    shown = [t for t in page.evaluate("window.shownToons") if t["job"] == job_c]
    assert shown[0]["stage"] == "encoder" and shown[0]["steps"] == "0"
    assert shown[-1]["stage"] == "refined" and shown[-1]["steps"] == "3"
    assert shown[0]["src"] != shown[-1]["src"]
    assert page.inner_text("#toonify-shown").startswith("refined (encoder + 3 steps)")
    page.wait_for_function("document.getElementById('embed-status').textContent.startsWith('done: step 3/3')")
    assert [t["stage"] for t in page.evaluate("window.shownToons") if t["job"] == job_a] == ["encoder"]
    assert errors == []
