"""The defects a new user met in the first web UI (issue 13, "Broken"), each replayed in headless Chromium.

One server (tiny pair, no encoder: a photo is embedded by optimisation, so a long embedding is easy to keep
running) and one browser serve every test here; a test that changes the models puts the original pair back.
Skips cleanly without Playwright or a system Chromium.
"""

from __future__ import annotations

import logging
import time

import pytest

from styleblend.io import Checkpoint, load_checkpoint, save_checkpoint
from styleblend.ui.service import BlendSession

from ..conftest import tiny_checkpoint
from .browser import field_error, serving, wait_ready
from .conftest import perturbed
from .photos import photo_png

IMAGES = ("preview", "mix-image", "morph-image", "toonify-image")
SRCS = "ids => ids.map(id => document.getElementById(id).getAttribute('src'))"
STATUS = "document.getElementById('embed-status')"
# Every element whose right edge lies beyond the viewport (what makes a page scroll sideways).
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  return Array.from(document.querySelectorAll('body *'))
    .filter(el => { const r = el.getBoundingClientRect(); return r.width > 0 && r.right > width + 0.5; })
    .map(el => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`);
}"""
# The α read-outs: their text, whether it fits its box, and whether the box lies inside the viewport.
ALPHA_OUTPUTS = """() => Array.from(document.querySelectorAll('#sliders output')).map(el => {
  const r = el.getBoundingClientRect();
  return { text: el.textContent, fits: el.scrollWidth <= el.clientWidth + 0.5,
           inside: r.left >= 0 && r.right <= document.documentElement.clientWidth + 0.5 };
})"""


@pytest.fixture(scope="module")
def server(pair_paths):
    with serving(BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), embed_steps=3)) as srv:
        yield srv


@pytest.fixture(scope="module")
def page(browser):
    tab = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    tab.set_default_timeout(60_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    yield tab
    assert errors == []
    tab.close()


@pytest.fixture(scope="module")
def files(pair_paths, tmp_path_factory) -> dict[str, dict]:
    """Upload payloads: the original pair, another transfer of the same base, and a base of another size."""
    folder = tmp_path_factory.mktemp("uploads")
    base = load_checkpoint(pair_paths[0])
    small = tiny_checkpoint(seed=5, res=16)
    made = {"transfer2.safetensors": perturbed(base, scale=1.0, seed=9),
            "small.safetensors": Checkpoint(g_config=small.g_config, g_ema=small.g_ema)}
    out = {p.name: p.read_bytes() for p in pair_paths}
    for name, ckpt in made.items():
        out[name] = save_checkpoint(ckpt, folder / name).read_bytes()
    return {name: {"name": name, "mimeType": "application/octet-stream", "buffer": data} for name, data in out.items()}


def photo(server, seed: int = 3) -> dict:
    data = photo_png(server.session, seed)
    return {"name": "me.png", "mimeType": "image/png", "buffer": data}


def upload(page, kind: str, payload: dict, loaded: bool = True) -> None:
    page.set_input_files(f"#upload-{kind}", files=[payload])
    page.click(f"#upload-{kind}-run")
    expected = f"loaded {kind}" if loaded else f"{kind} not loaded"
    page.wait_for_function("t => document.getElementById('upload-status').textContent.startsWith(t)", arg=expected)


def start_long_embedding(page, server) -> str:
    page.fill("#embed-steps", "5000")
    with page.expect_response("**/api/embed?*") as response:
        page.set_input_files("#photo", files=[photo(server)])  # choosing a photo starts it
    job = response.value.json()["job"]
    page.wait_for_function(f"{STATUS}.textContent.startsWith('running: step')")
    assert server.session.job_status(job)["state"] == "running"
    return job


def any_error(page) -> str:
    """The text of the error the page shows, wherever it shows it (waits for one)."""
    selector = "#error:not([hidden]), .field-error:not([hidden])"
    page.wait_for_selector(selector)
    return page.inner_text(selector)


def wait_state(session, job: str, state: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while session.job_status(job)["state"] != state:
        assert time.monotonic() < deadline, session.job_status(job)
        time.sleep(0.05)


def test_a_reloaded_page_takes_up_the_running_embedding_and_can_cancel_it(page, server):
    wait_ready(page, server.url)
    job = start_long_embedding(page, server)
    page.reload()
    wait_ready(page, server.url)
    # The new page shows the job the server still runs, and its Cancel button stops it.
    page.wait_for_function(f"{STATUS}.textContent.startsWith('running: step')")
    assert page.is_enabled("#embed-cancel") and page.is_disabled("#embed-run")
    page.click("#embed-cancel")
    wait_state(server.session, job, "cancelled")
    page.wait_for_function(f"{STATUS}.textContent.startsWith('cancelled')")
    assert page.is_disabled("#embed-cancel") and page.is_enabled("#embed-run")


def test_loading_a_model_mid_embedding_stops_it_visibly(page, server, files):
    wait_ready(page, server.url)
    job = start_long_embedding(page, server)
    upload(page, "transfer", files["transfer2.safetensors"])
    # The job: stopped by the server, and the page says so (no frozen 'running'); Embed works again.
    wait_state(server.session, job, "cancelled")
    page.wait_for_function(f"{STATUS}.textContent.startsWith('cancelled (the models changed')")
    assert page.is_enabled("#embed-run") and page.is_disabled("#embed-cancel")
    upload(page, "transfer", files["transfer.safetensors"])  # the original pair back


def test_after_a_model_change_every_panel_renders_again_or_clears(page, server, files):
    wait_ready(page, server.url)
    page.fill("#embed-steps", "3")  # a finished embedding, so that the photo row shows the old pair too
    page.set_input_files("#photo", files=[photo(server, 5)])
    page.wait_for_function("document.getElementById('toonify-image').dataset.stage === 'optimised'")
    old = page.evaluate(SRCS, list(IMAGES))
    assert all(src and src.startswith("data:image/png") for src in old)

    upload(page, "transfer", files["transfer2.safetensors"])
    # Every panel: a new image of the new pair, or none - never the old pair's.
    for img in ("preview", "mix-image", "morph-image"):
        page.wait_for_function("([id, before]) => { const src = document.getElementById(id).getAttribute('src');"
                               " return src && src !== before && src.startsWith('data:image/png'); }",
                               arg=[img, old[IMAGES.index(img)]])
    assert page.get_attribute("#toonify-image", "src") is None  # the photo's latent belongs to the old models
    assert "transfer2.safetensors" in page.inner_text("#models")

    # A base that does not fit the transfer: blending is blocked, and no panel keeps an image of the old pair.
    shown = page.evaluate(SRCS, list(IMAGES))
    upload(page, "base", files["small.safetensors"])
    assert "the base is 16 px" in field_error(page, "#upload-base")
    for control in ("#seeds", "#mix-run", "#morph-run"):  # each panel says why it shows nothing
        assert "the base is 16 px" in field_error(page, control)
    assert page.locator("#sliders input").count() == 3  # the new base's resolutions
    assert all(shown[:3]) and page.evaluate(SRCS, list(IMAGES)) == [None] * 4
    # The original pair back (for the other tests), and the page renders it.
    upload(page, "base", files["base.safetensors"])
    upload(page, "transfer", files["transfer.safetensors"])
    page.wait_for_function("document.getElementById('preview').getAttribute('src')")


def test_errors_appear_next_to_the_control_that_caused_them(page, server, files, tmp_path):
    wait_ready(page, server.url)
    other = tiny_checkpoint(seed=5, res=32, architecture="resnet")
    data = save_checkpoint(other, tmp_path / "resnet.safetensors").read_bytes()
    upload(page, "transfer", {"name": "resnet.safetensors", "mimeType": "application/octet-stream",
                              "buffer": data}, loaded=False)
    assert "same architecture" in field_error(page, "#upload-transfer")
    slot = page.locator(".row:has(#upload-transfer) + .field-error")
    assert slot.is_visible() and slot.bounding_box()["y"] < page.viewport_size["height"]  # on screen, not up top

    page.set_input_files("#photo", files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a photo"}])
    assert "not an image" in field_error(page, "#photo")
    page.fill("#mix-layers", "0-99")
    page.click("#mix-run")
    assert "W+ range" in field_error(page, "#mix-layers")
    page.fill("#seeds", "one")
    page.dispatch_event("#seeds", "change")
    assert "seed" in field_error(page, "#seeds")
    assert page.is_hidden("#error")  # the banner at the top stays out of it
    page.fill("#seeds", "1,3,5")
    page.dispatch_event("#seeds", "change")
    page.wait_for_selector(".row:has(#seeds) + .field-error", state="hidden")  # fixed: the error goes


def test_an_empty_psi_is_an_error_not_psi_0(page, server):
    wait_ready(page, server.url)
    before = page.get_attribute("#preview", "src")
    page.fill("#psi", "")
    page.dispatch_event("#psi", "change")
    assert "ψ is empty" in any_error(page)
    assert "ψ is empty" in field_error(page, "#psi")
    page.click("#mix-run")
    page.wait_for_timeout(300)
    assert page.get_attribute("#preview", "src") == before  # nothing was rendered at ψ = 0
    page.fill("#psi", "0.7")
    page.dispatch_event("#psi", "change")
    page.wait_for_selector(".row:has(#psi) + .field-error", state="hidden")


def test_at_400_px_nothing_scrolls_sideways_and_every_alpha_shows(browser, server):
    for width in (400, 1280):
        tab = browser.new_page(viewport={"width": width, "height": 900}, bypass_csp=True)
        tab.set_default_timeout(60_000)
        wait_ready(tab, server.url)
        assert tab.evaluate("document.documentElement.scrollWidth") <= width
        assert tab.evaluate(OVERFLOW) == []
        outputs = tab.evaluate(ALPHA_OUTPUTS)
        assert len(outputs) == 4
        assert all(o["fits"] and o["inside"] and len(o["text"]) == 4 for o in outputs), outputs
        tab.close()


def test_messages_name_the_page_controls_not_cli_flags_or_server_paths(page, server):
    wait_ready(page, server.url)
    page.select_option("#linear-from", "16")
    page.select_option("#linear-to", "8")
    page.click("#preset-linear")
    text = any_error(page)
    assert "the 'flip' box" in text and "--" not in text and "`" not in text
    page.set_input_files("#photo", files=[{"name": "holiday.txt", "mimeType": "text/plain", "buffer": b"not"}])
    shown = "() => Array.from(document.querySelectorAll('#error-text, .field-error'))" \
            ".map(el => el.textContent).filter(t => t.includes('holiday.txt'))"
    page.wait_for_function(f"({shown})().length > 0")
    text = page.evaluate(shown)[0]
    assert "'holiday.txt' is not an image" in text
    assert "styleblend-ui-" not in text and str(server.session.workdir) not in text
    # The pixel-loss note of an embedding without VGG-16 weights: what to do, in the page's terms.
    page.fill("#embed-steps", "2")
    page.set_input_files("#photo", files=[photo(server)])
    page.wait_for_function(f"{STATUS}.textContent.startsWith('done')")
    status = page.inner_text("#embed-status")
    assert "download" not in status and "`" not in status and "vgg_path" not in status
    if "VGG-16" in status:  # no VGG-16 weights on this machine: the page says what to do
        assert "restart the server with 'styleblend ui --vgg FILE'" in status


def test_closing_a_tab_mid_preview_logs_no_traceback(browser, server, caplog):
    tab = browser.new_page(bypass_csp=True)
    tab.set_default_timeout(60_000)
    wait_ready(tab, server.url)
    with caplog.at_level(logging.DEBUG, logger="styleblend.ui"):
        with server.session._lock:  # hold the models: the preview request waits on the server's side
            with tab.expect_request("**/api/preview"):
                tab.fill("#seeds", "0-7")
                tab.dispatch_event("#seeds", "change")
            time.sleep(0.3)  # the request reached the server
            tab.close()
        deadline = time.monotonic() + 30  # the server renders, then writes into the closed connection
        while not any("went away" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
            time.sleep(0.05)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
