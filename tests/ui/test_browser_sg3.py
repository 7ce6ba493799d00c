"""End to end in headless Chromium on a StyleGAN3 pair: the page builds one slider per layer group from the
server's table, a slider move re-renders the preview, and a StyleGAN2 transfer is refused next to its control.
Skips cleanly without Playwright or a system Chromium."""

from __future__ import annotations

import pytest

from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.ui.service import BlendSession

from ..conftest import tiny_checkpoint, tiny_sg3_checkpoint
from .browser import chromium_or_skip, field_error, serving, wait_ready
from .test_browser import PREVIEW_SRC, move_slider, wait_changed


@pytest.fixture(scope="module")
def sg3_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("sg3ui")
    base = save_checkpoint(tiny_sg3_checkpoint(seed=0), d / "base.safetensors")
    toon = save_checkpoint(tiny_sg3_checkpoint(seed=1), d / "toon.safetensors")
    with serving(BlendSession(load_checkpoint(base), load_checkpoint(toon), embed_steps=3)) as srv:
        yield srv


@pytest.fixture(scope="module")
def page():
    with chromium_or_skip() as browser:
        tab = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        tab.set_default_timeout(60_000)
        yield tab


def test_sg3_pair_sliders_per_group_preview_and_a_stylegan2_transfer_refused(page, sg3_server, tmp_path):
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    wait_ready(page, sg3_server.url)
    assert page.locator("#sliders input[type=range]").count() == 2
    labels = page.locator("#sliders label").all_inner_texts()
    assert labels[0].startswith("sampling rate 16 · 20 px") and labels[1].startswith("sampling rate 16 · 16 px")

    before = page.evaluate(PREVIEW_SRC)
    current = float(page.locator("#alpha-16").input_value())
    move_slider(page, "#alpha-16", "0" if current > 0.5 else "1")
    wait_changed(page, before)
    assert page.inner_text("#alpha-16 + output") == ("0.00" if current > 0.5 else "1.00")

    sg2 = save_checkpoint(tiny_checkpoint(res=16), tmp_path / "sg2.safetensors").read_bytes()
    page.set_input_files("#upload-transfer", files=[{"name": "sg2.safetensors", "mimeType": "application/octet-stream",
                                                     "buffer": sg2}])
    page.click("#upload-transfer-run")
    assert "StyleGAN2 and StyleGAN3" in field_error(page, "#upload-transfer")
    assert page.locator("#sliders input[type=range]").count() == 2  # the StyleGAN3 pair stays
    assert errors == []
