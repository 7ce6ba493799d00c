"""Exporting an α sweep from the page in headless Chromium (issue 13, item 5): the file the Export button saves,
its named PNGs, and the mistakes refused next to the control before any work. Skips without Playwright or
Chromium."""

from __future__ import annotations

import json
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from styleblend.io import load_checkpoint
from styleblend.media.video import read_video
from styleblend.ui.service import BlendSession

from .browser import field_error, new_tab, serving


@pytest.fixture(scope="module")
def server(pair_paths):
    with serving(BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), embed_steps=3)) as srv:
        yield srv


def exported(tab, tmp_path):
    with tab.expect_download() as download:
        tab.click("#export-run")
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    tab.wait_for_function("document.getElementById('export-status').textContent.startsWith('saved')")
    return path


def test_a_slider_sweep_saves_a_zip_of_pngs_named_by_seed_and_alpha(browser, server, tmp_path):
    tab = new_tab(browser, server.url)
    tab.fill("#seeds", "2,9")
    tab.select_option("#export-kind", "slider")
    assert tab.is_visible("#export-res") and tab.is_visible("#export-frames")
    tab.select_option("#export-res", "8")
    tab.fill("#export-frames", "3")
    tab.select_option("#export-format", "zip")
    sliders = tab.evaluate("Array.from(document.querySelectorAll('#sliders input')).map(s => Number(s.value))")
    path = exported(tab, tmp_path)
    assert path.name == "base-sweep-alpha8px.zip"
    with zipfile.ZipFile(path) as zf:
        names = sorted(n for n in zf.namelist() if n.endswith(".png"))
        assert names == sorted(f"seed{s}_{i:02d}_alpha8px-{a}.png" for s in (2, 9)
                               for i, a in enumerate(["0.000", "0.500", "1.000"]))
        meta = json.loads(zf.read("sweep.json"))
        png = np.asarray(Image.open(zf.open("seed9_02_alpha8px-1.000.png")))
    assert meta["seeds"] == [2, 9] and meta["truncation_psi"] == 0.7
    # The last frame is the page's blend with the 8 px slider at 1 and the others as they were.
    expected = server.session.preview_images([sliders[0], 1.0, *sliders[2:]], [9], 0.7, "base")[0, 2]
    assert np.array_equal(png, expected)
    tab.close()


def test_a_swap_sweep_saves_a_gif_with_one_frame_per_resolution(browser, server, tmp_path):
    tab = new_tab(browser, server.url)
    tab.fill("#seeds", "4")
    assert not tab.is_visible("#export-frames")  # a swap sweep has one frame per resolution
    path = exported(tab, tmp_path)
    assert path.name == "base-sweep-swap.gif"
    assert read_video(path).shape == (4, 32, 32, 3)
    tab.close()


def test_too_many_frames_or_seeds_are_refused_next_to_the_control(browser, server):
    tab = new_tab(browser, server.url)
    tab.select_option("#export-kind", "slider")
    tab.fill("#export-frames", "500")
    tab.click("#export-run")
    assert "from 2 to 64" in field_error(tab, "#export-run")
    tab.fill("#export-frames", "4")
    tab.fill("#seeds", "0-8")  # nine seeds: the server's check, shown at the control
    tab.click("#export-run")
    tab.wait_for_function("document.querySelector('.row:has(#export-run) + .field-error').textContent"
                          ".includes('at most 8')")
    assert tab.inner_text("#export-status") == ""
    tab.close()


def test_without_imageio_ffmpeg_mp4_is_offered_as_unavailable_with_the_reason(browser, server, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)  # the server runs in this process
    tab = new_tab(browser, server.url)
    assert tab.evaluate("document.querySelector('#export-format option[value=mp4]').disabled")
    assert "pip install imageio-ffmpeg" in tab.inner_text("#export-note")
    tab.close()


def test_the_export_row_fits_at_400_px(browser, server):
    tab = new_tab(browser, server.url, width=400)
    tab.select_option("#export-kind", "slider")
    assert tab.evaluate("document.documentElement.scrollWidth") <= 400
    box = tab.locator("#export-run").bounding_box()
    assert box["x"] + box["width"] <= 400
    tab.close()


def test_the_page_shows_the_frames_done_and_cancel_stops_the_export(browser, server, monkeypatch):
    from .test_export import gated_sweep

    gate, reached = gated_sweep(monkeypatch)  # the server runs in this process
    tab = new_tab(browser, server.url)
    downloads = []
    tab.on("download", lambda d: downloads.append(d))
    tab.select_option("#export-kind", "slider")
    tab.fill("#export-frames", "5")
    try:
        tab.click("#export-run")
        assert reached.wait(30)
        tab.wait_for_function("document.getElementById('export-status').textContent.includes('frame 2/5')")
        assert tab.is_visible("#export-cancel") and tab.is_disabled("#export-run")
        tab.click("#export-cancel")
        tab.wait_for_function("document.getElementById('export-status').textContent.includes('stopping')")
    finally:
        gate.set()
    tab.wait_for_function("document.getElementById('export-status').textContent.startsWith('the export was "
                          "cancelled')")
    assert tab.is_hidden("#export-cancel") and tab.is_enabled("#export-run") and downloads == []
    assert tab.locator(".row:has(#export-run) + .field-error:not([hidden])").count() == 0  # not an error
    tab.close()
