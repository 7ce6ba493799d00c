"""The Regions and Auto α panels in headless Chromium: pick a part on the map, paint a mask, run auto α with a
tiny budget to the end and put its table on the sliders. Skips without Playwright or Chromium."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from styleblend.io import load_checkpoint
from styleblend.ui.service import BlendSession

from .browser import field_error, serving
from .browser import new_tab as browser_tab
from .test_regions import pair_with_critic

SLIDERS = "Array.from(document.querySelectorAll('#sliders input')).map(s => Number(s.value))"
# The painted mask as the page holds it: the canvas's painted pixels (alpha > 0), row-major.
PAINTED_BITS = """(() => { const c = document.getElementById('region-canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let bits = ''; for (let i = 3; i < d.length; i += 4) bits += d[i] > 0 ? '1' : '0'; return bits; })()"""


@pytest.fixture(scope="module")
def server():
    with serving(BlendSession(*pair_with_critic(), embed_steps=3)) as srv:
        yield srv


def new_tab(browser, url: str):
    tab = browser_tab(browser, url)
    tab.wait_for_function("document.getElementById('region-map').dataset.ready")
    return tab


def image_of(tab, selector: str) -> np.ndarray:
    src = tab.get_attribute(selector, "src")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))))


def test_clicking_a_part_renders_the_feature_blend_of_that_part(browser, server):
    tab = new_tab(browser, server.url)
    tab.fill("#region-parts", "4")
    tab.fill("#region-samples", "8")
    tab.click("#region-find")
    tab.wait_for_function("document.getElementById('region-status').textContent.startsWith('4 parts')")
    seeds = tab.input_value("#seeds")
    part_map = server.regions.part_map({"seeds": seeds, "psi": 0.7, "parts": 4, "samples": 8})
    # Click the second seed's part map where a part other than the first pixel's lies.
    res, cell, pad, labels = part_map["res"], part_map["cell"], part_map["pad"], part_map["labels"][1]
    index = next(i for i, v in enumerate(labels) if v != labels[0])
    py, px = divmod(index, res)
    box = tab.locator("#region-map").bounding_box()
    scale = box["width"] / (2 * cell + pad)
    x = (cell + pad + (px + 0.5) * cell / res) * scale
    y = (cell + pad + (py + 0.5) * cell / res) * scale
    tab.click("#region-map", position={"x": x, "y": y})
    tab.wait_for_function("document.getElementById('region-image').dataset.region")
    assert tab.get_attribute("#region-map", "data-part") == str(labels[index])
    assert tab.get_attribute("#region-image", "data-region") == f"part {labels[index]}"
    expected = server.regions.render({"seeds": seeds, "psi": 0.7, "parts": 4, "samples": 8, "part": labels[index],
                                      "alphas": tab.evaluate(SLIDERS), "mapping": "base", "alpha": 1, "feather": 1})
    assert np.array_equal(image_of(tab, "#region-image"), np.asarray(Image.open(io.BytesIO(expected))))
    # A part count out of range: the error is next to the parts field, and nothing is rendered.
    tab.fill("#region-parts", "13")
    tab.click("#region-find")
    assert "parts 13 must be in [2, 12]" in field_error(tab, "#region-parts")
    tab.close()


def test_painting_a_mask_renders_the_feature_blend_of_the_painted_region_and_clear_empties_it(browser, server):
    tab = new_tab(browser, server.url)
    tab.locator("#region-canvas").scroll_into_view_if_needed()  # the mouse acts inside the viewport
    box = tab.locator("#region-canvas").bounding_box()
    tab.fill("#region-brush", "2")
    tab.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.3 * box["height"])
    tab.mouse.down()
    tab.mouse.move(box["x"] + 0.6 * box["width"], box["y"] + 0.4 * box["height"], steps=8)
    tab.mouse.up()
    tab.wait_for_function("document.getElementById('region-image').dataset.region === 'mask'")
    size = tab.evaluate("document.getElementById('region-canvas').width")
    bits = tab.evaluate(PAINTED_BITS)
    painted = np.array([c == "1" for c in bits]).reshape(size, size)
    assert size == 32 and 10 < painted.sum() < 200
    rows, cols = np.nonzero(painted)  # where the stroke went: a band from (0.2, 0.3) to (0.6, 0.4) of the image
    assert rows.min() >= 0.3 * size - 3 and rows.max() <= 0.4 * size + 3
    assert cols.min() >= 0.2 * size - 3 and cols.max() <= 0.6 * size + 3
    expected = server.regions.render({"seeds": tab.input_value("#seeds"), "psi": 0.7, "alphas": tab.evaluate(SLIDERS),
                                      "mapping": "base", "mask": {"size": size, "bits": bits}, "alpha": 1,
                                      "feather": 1})
    assert np.array_equal(image_of(tab, "#region-image"), np.asarray(Image.open(io.BytesIO(expected))))
    tab.click("#region-clear")
    assert tab.get_attribute("#region-canvas", "data-painted") == "0"
    tab.click("#region-render")  # nothing to render: the page says what to do, next to the button
    assert "paint a region" in field_error(tab, "#region-render")
    tab.close()


def test_auto_runs_to_the_end_shows_the_front_and_its_table_goes_on_the_sliders(browser, server):
    tab = new_tab(browser, server.url)
    assert tab.get_attribute("#auto-note", "data-available") == "1"
    before = tab.evaluate(SLIDERS)
    tab.fill("#auto-budget", "100000")
    tab.click("#auto-run")
    assert "budget (seconds) 100000 must be in [1, 600]" in field_error(tab, "#auto-budget")
    tab.fill("#auto-budget", "8")  # room for a loaded machine: the swaps and their validation must fit
    assert tab.input_value("#auto-validation") == "64" and tab.input_value("#auto-confidence") == "0.95"
    tab.fill("#auto-samples", "8")  # paired bounds at 95 %: 2 groups of the critic's 4 latents, here and below
    tab.fill("#auto-validation", "8")
    tab.click("#auto-run")
    tab.wait_for_selector("#auto-apply:not([disabled])")
    assert "of them beyond chance (95 % paired bounds)" in tab.inner_text("#auto-applied")
    job = tab.get_attribute("#auto-status", "data-job")
    assert tab.get_attribute("#auto-status", "data-state") == "done"
    assert tab.evaluate("document.getElementById('auto-progress').value") == 8
    assert image_of(tab, "#auto-plot").shape == (400, 560, 3)
    result = server.regions.auto_result({"id": job})
    assert json.loads(tab.get_attribute("#auto-table", "data-alphas")) == result["alphas"]
    seq = tab.get_attribute("#preview", "data-seq")
    tab.click("#auto-apply")
    tab.wait_for_function(f"document.getElementById('preview').dataset.seq !== '{seq}'")
    assert tab.evaluate(SLIDERS) == result["alphas"]
    assert tab.evaluate(SLIDERS) != before or result["alphas"] == before
    assert tab.inner_text("#auto-applied") == f"applied {result['table']}"
    assert result["table"] in tab.inner_text("#preview-status")  # the preview's schedule is the table
    tab.close()


def test_without_a_discriminator_the_button_says_why_auto_is_unavailable(browser, pair_paths):
    with serving(BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), embed_steps=3)) as srv:
        tab = new_tab(browser, srv.url)
        assert tab.get_attribute("#auto-note", "data-available") == "0"
        assert "styleblend ui --critic" in tab.inner_text("#auto-note")
        assert tab.is_disabled("#auto-run")
        tab.close()


def test_a_reloaded_page_takes_up_the_running_search_and_cancel_stops_it(browser, server):
    tab = new_tab(browser, server.url)
    tab.fill("#auto-budget", "60")
    tab.fill("#auto-samples", "4")
    tab.fill("#auto-validation", "0")
    tab.fill("#auto-confidence", "0")  # means only: 4 latents make one group of the critic's
    tab.click("#auto-run")
    tab.wait_for_function("document.getElementById('auto-status').dataset.state === 'running'")
    job = tab.get_attribute("#auto-status", "data-job")
    tab.reload()
    tab.wait_for_function(f"document.getElementById('auto-status').dataset.job === '{job}'")
    assert tab.get_attribute("#auto-status", "data-state") == "running" and tab.is_disabled("#auto-run")
    tab.click("#auto-cancel")
    tab.wait_for_function("document.getElementById('auto-status').dataset.state === 'cancelled'")
    assert server.session.jobs.status(job)["state"] == "cancelled" and tab.is_enabled("#auto-run")
    assert tab.is_disabled("#auto-apply")  # a cancelled search keeps nothing
    tab.close()


def test_apply_puts_a_table_with_four_decimals_on_the_sliders_exactly(browser, server):
    """The search's tables have 4 decimals: the sliders (step 0.01) must not round them to another blend."""
    from styleblend.blend.auto import AutoResult, Candidate
    from styleblend.ui.regions import AutoOutcome
    from styleblend.ui.service import png_bytes

    session = server.session
    chosen = Candidate((0.1163, 0.0812, 0.003, 0.6126), -1.0, 3.0, "search")
    result = AutoResult((4, 8, 16, 32), (chosen,), (), (chosen,), chosen, 1.0, 1.0, {"structure_res": 16})
    outcome = AutoOutcome(result, png_bytes(np.zeros((8, 8, 3), np.uint8)), session.current_pair()[2], "stand-in")
    job = session.jobs.start("auto", lambda ctx: outcome)
    session.jobs.wait(job, 30)
    tab = new_tab(browser, server.url)  # a (re)loaded page shows the newest finished search
    tab.wait_for_selector("#auto-apply:not([disabled])")
    tab.click("#auto-apply")
    tab.wait_for_function(f"document.getElementById('auto-apply').dataset.applied === '{job}'")
    assert tab.evaluate(SLIDERS) == [0.1163, 0.0812, 0.003, 0.6126]
    tab.wait_for_function("document.getElementById('preview-status').textContent.includes('0.1163')")
    tab.close()


def test_new_seeds_redraw_the_part_map_and_a_new_model_stops_the_search_and_updates_the_panels(browser, pair_paths):
    with serving(BlendSession(*pair_with_critic(), embed_steps=3)) as srv:
        tab = new_tab(browser, srv.url)
        ready = tab.get_attribute("#region-map", "data-ready")
        tab.fill("#seeds", "2,4")
        tab.dispatch_event("#seeds", "change")
        tab.wait_for_function(f"document.getElementById('region-map').dataset.ready !== '{ready}'")
        cell = srv.regions.part_map({"seeds": "2", "parts": 6, "samples": 16})["cell"]
        assert tab.evaluate("document.getElementById('region-map').naturalHeight") == 2 * cell + 2  # two rows
        tab.fill("#auto-budget", "60")
        tab.fill("#auto-samples", "4")
        tab.fill("#auto-validation", "0")
        tab.fill("#auto-confidence", "0")  # means only: 4 latents make one group of the critic's
        tab.click("#auto-run")
        tab.wait_for_function("document.getElementById('auto-status').dataset.state === 'running'")
        ready = tab.get_attribute("#region-map", "data-ready")
        tab.set_input_files("#upload-transfer", str(pair_paths[1]))  # a transfer without a discriminator
        tab.click("#upload-transfer-run")
        tab.wait_for_function("document.getElementById('auto-status').dataset.state === 'cancelled'")
        assert "the models changed" in tab.inner_text("#auto-status")
        tab.wait_for_function(f"document.getElementById('region-map').dataset.ready !== '{ready}'")
        assert tab.get_attribute("#auto-note", "data-available") == "0" and tab.is_disabled("#auto-run")
        tab.close()
