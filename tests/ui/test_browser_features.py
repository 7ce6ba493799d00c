"""The photo panel with a feature head, in headless Chromium: the page says which latent it shows (W+ + features,
'not a pure latent', or W+), and the 'W+ + features' box turns the head off (the photo is embedded again in W+).
Without a head the box is hidden. Skips without Playwright or Chromium."""

from __future__ import annotations

import pytest

from styleblend.io import load_checkpoint
from styleblend.ui.service import BlendSession

from .browser import new_tab, serving
from .photos import photo_png
from .test_embedding_features import BLOCK, write_head

TOON = "document.getElementById('toonify-image')"


@pytest.fixture(scope="module")
def fs_server(pair_paths, encoder_path):
    head = write_head(pair_paths[0].parent / "browser-head.safetensors", pair_paths[0])
    with serving(BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), encoder=encoder_path,
                              feature_head=head)) as srv:
        yield srv


def _photo_file(server, seed: int) -> dict:
    data = photo_png(server.session, seed)
    return {"name": "photo.png", "mimeType": "image/png", "buffer": data}


def test_the_page_names_the_latent_and_the_box_turns_the_head_off(browser, fs_server):
    page = new_tab(browser, fs_server.url)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    assert page.is_visible("#embed-features") and page.is_checked("#embed-features")
    assert f"W+ + the base's {BLOCK} px features" in page.inner_text("#encoder-note")
    page.fill("#embed-steps", "0")
    page.set_input_files("#photo", files=[_photo_file(fs_server, 3)])
    page.wait_for_function(f"{TOON}.dataset.latent === 'W+ + {BLOCK} px features'")
    assert f"W+ + {BLOCK} px features, not a pure latent" in page.inner_text("#toonify-shown")
    job = page.get_attribute("#toonify-image", "data-job")
    assert fs_server.session.jobs.result(job).features is not None

    page.uncheck("#embed-features")  # the same photo again, in W+ only
    page.wait_for_function(f"a => {TOON}.dataset.job !== a && {TOON}.dataset.latent === 'W+'", arg=job)
    shown = page.inner_text("#toonify-shown")
    assert "· W+ ·" in shown and "not a pure latent" not in shown
    assert fs_server.session.jobs.result(page.get_attribute("#toonify-image", "data-job")).features is None
    page.close()
    assert errors == []


def test_without_a_head_the_box_is_hidden(browser, enc_server):
    page = new_tab(browser, enc_server.url)
    assert not page.is_visible("#embed-features")
    assert "features" not in page.inner_text("#encoder-note")
    page.close()
