"""Comparing blends in headless Chromium (issue 13, item 2): the preview as large as the panel and the window
allow, seed labels on its rows and model names on its columns, the A/B view (hold B: the base in the blend
column) and a click that shows one cell at the model's resolution. Skips without Playwright or Chromium."""

from __future__ import annotations

import numpy as np
import pytest

from styleblend.io import load_checkpoint
from styleblend.ui.service import BlendSession

from .browser import new_tab as browser_tab
from .browser import serving

R = 32  # the tiny pair's resolution
PAD = 2
# The RGB pixels of a canvas, as nested lists [H][W][3].
CANVAS_RGB = """id => {
  const c = document.getElementById(id);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const rows = [];
  for (let y = 0; y < c.height; y++) {
    const row = [];
    for (let x = 0; x < c.width; x++) { const i = 4 * (y * c.width + x); row.push([d[i], d[i + 1], d[i + 2]]); }
    rows.push(row);
  }
  return rows;
}"""
SLIDERS = "Array.from(document.querySelectorAll('#sliders input')).map(s => Number(s.value))"


@pytest.fixture(scope="module")
def server(pair_paths):
    with serving(BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), embed_steps=3)) as srv:
        yield srv


def new_tab(browser, url: str, width: int = 1280, height: int = 900):
    tab = browser_tab(browser, url, width, height)
    tab.wait_for_function("document.getElementById('preview').dataset.fit !== undefined")
    return tab


def cells(server, tab, seeds):
    """The server's preview cells for the page's sliders: uint8 [len(seeds), 3, R, R, 3]."""
    return server.session.preview_images(tab.evaluate(SLIDERS), seeds, 0.7, "base")


def fit(tab) -> dict:
    return tab.evaluate("""() => {
      const img = document.getElementById('preview');
      const figure = img.closest('.figure');
      const labels = document.getElementById('preview-rows');
      return { scale: Number(img.dataset.fit), shown: img.getBoundingClientRect().width, natural: img.naturalWidth,
               naturalHeight: img.naturalHeight, room: figure.clientWidth - labels.offsetWidth - 6,
               height: window.innerHeight * 0.8 };
    }""")


def test_the_preview_is_as_large_as_the_panel_and_the_window_allow(browser, server):
    tab = new_tab(browser, server.url)
    f = fit(tab)
    assert f["natural"] == 3 * R + 2 * PAD and f["scale"] == int(f["scale"]) >= 1
    assert f["shown"] == pytest.approx(f["natural"] * f["scale"], abs=0.5)
    # It fits, and one more whole multiple would not.
    assert f["natural"] * f["scale"] <= f["room"] and f["naturalHeight"] * f["scale"] <= f["height"]
    k = f["scale"] + 1
    assert f["natural"] * k > f["room"] or f["naturalHeight"] * k > f["height"]
    # 'wide preview' gives the blend panel the whole width: the preview grows (up to the window's height).
    tab.click("#preview-wide")
    tab.wait_for_function(f"Number(document.getElementById('preview').dataset.fit) > {f['scale']}")
    assert tab.evaluate("document.documentElement.scrollWidth") <= 1280
    tab.close()


def test_rows_are_labelled_with_their_seeds_and_columns_with_the_models(browser, server):
    tab = new_tab(browser, server.url)
    labels = tab.locator("#preview-rows .row-label")
    assert labels.all_inner_texts() == ["seed 1", "seed 3", "seed 5"]
    # Each label sits beside its row of images.
    img = tab.locator("#preview").bounding_box()
    scale = fit(tab)["scale"]
    for r, label in enumerate(labels.all()):
        box = label.bounding_box()
        middle = box["y"] + box["height"] / 2 - img["y"]
        assert r * (R + PAD) * scale <= middle <= (r * (R + PAD) + R) * scale
    heads = tab.locator(".figure.compare .columns span").all_inner_texts()
    assert heads[0].startswith("base") and "base.safetensors" in heads[0]
    assert heads[1].startswith("transfer") and "transfer.safetensors" in heads[1]
    before = tab.get_attribute("#preview", "src")
    tab.fill("#seeds", "7-8")
    tab.press("#seeds", "Enter")
    tab.dispatch_event("#seeds", "change")
    tab.wait_for_function("b => document.getElementById('preview').src !== b", arg=before)
    tab.wait_for_function("document.querySelectorAll('#preview-rows .row-label').length === 2")
    assert labels.all_inner_texts() == ["seed 7", "seed 8"]
    tab.close()


def test_holding_b_shows_the_base_in_the_blend_column_and_releasing_shows_the_blend(browser, server):
    tab = new_tab(browser, server.url)
    tab.click("#preset-sigmoid")  # a blend that differs from the base
    tab.wait_for_function("document.getElementById('preview-status').textContent.includes('table')")
    expected = cells(server, tab, [1, 3, 5])
    assert tab.is_hidden("#preview-ab")
    tab.focus("#preview-wide")
    tab.keyboard.down("b")
    tab.wait_for_selector("#preview-ab", state="visible")
    shown = np.array(tab.evaluate(CANVAS_RGB, "preview-ab"), dtype=np.uint8)  # [3 R + 2 PAD, R, 3]
    for row in range(3):
        band = shown[row * (R + PAD): row * (R + PAD) + R]
        assert np.array_equal(band, expected[row, 0])  # the base, where the blend was
        assert not np.array_equal(band, expected[row, 2])
    # It lies exactly over the blend column.
    ab, img = tab.locator("#preview-ab").bounding_box(), tab.locator("#preview").bounding_box()
    scale = fit(tab)["scale"]
    assert ab["x"] - img["x"] == pytest.approx(2 * (R + PAD) * scale, abs=1)
    assert ab["width"] == pytest.approx(R * scale, abs=1)
    assert "base (B)" in tab.evaluate("getComputedStyle(document.querySelector('.ab-base'), '::after').content")
    tab.keyboard.up("b")
    tab.wait_for_selector("#preview-ab", state="hidden")
    # Typing a 'b' into a field is typing, not a toggle.
    tab.focus("#mix-layers")
    tab.keyboard.down("b")
    assert tab.is_hidden("#preview-ab")
    tab.keyboard.up("b")
    # The button does the same while pressed.
    tab.hover("#ab-hold")
    tab.mouse.down()
    tab.wait_for_selector("#preview-ab", state="visible")
    tab.mouse.up()
    tab.wait_for_selector("#preview-ab", state="hidden")
    tab.close()


def test_a_click_shows_the_cell_at_the_models_resolution_with_crisp_pixels(browser, server):
    tab = new_tab(browser, server.url)
    expected = cells(server, tab, [1, 3, 5])
    img = tab.locator("#preview").bounding_box()
    scale = fit(tab)["scale"]
    # The middle of row 1 (seed 3), column 2 (blend).
    tab.mouse.click(img["x"] + (2 * (R + PAD) + R / 2) * scale, img["y"] + (1 * (R + PAD) + R / 2) * scale)
    tab.wait_for_selector("#zoom", state="visible")
    canvas = tab.evaluate("""() => { const c = document.getElementById('zoom-canvas');
      return { w: c.width, h: c.height, shown: c.getBoundingClientRect().width, factor: Number(c.dataset.factor),
               rendering: getComputedStyle(c).imageRendering }; }""")
    assert canvas["w"] == canvas["h"] == R  # the model's resolution
    assert canvas["factor"] == int(900 * 0.85 / R) and canvas["shown"] == pytest.approx(R * canvas["factor"], abs=0.5)
    assert canvas["rendering"] == "pixelated"
    assert np.array_equal(np.array(tab.evaluate(CANVAS_RGB, "zoom-canvas"), dtype=np.uint8), expected[1, 2])
    label = tab.inner_text("#zoom-label")
    assert "seed 3" in label and "blend" in label and f"{R} px" in label
    tab.keyboard.down("b")  # A/B inside the zoom too
    tab.wait_for_function("document.getElementById('zoom-label').textContent.includes('B held')")
    assert np.array_equal(np.array(tab.evaluate(CANVAS_RGB, "zoom-canvas"), dtype=np.uint8), expected[1, 0])
    tab.keyboard.up("b")
    tab.keyboard.press("Escape")
    tab.wait_for_selector("#zoom", state="hidden")
    # Other grid images zoom too: the mixing row's B, and the morph strip's third step.
    mix = tab.locator("#mix-image").bounding_box()
    k = mix["width"] / tab.evaluate("document.getElementById('mix-image').naturalWidth")
    tab.mouse.click(mix["x"] + (1 * (R + PAD) + R / 2) * k, mix["y"] + (R / 2) * k)
    tab.wait_for_selector("#zoom", state="visible")
    assert tab.inner_text("#zoom-label").startswith("B ·")
    tab.keyboard.press("Escape")
    tab.wait_for_selector("#zoom", state="hidden")
    morph = tab.locator("#morph-image")
    morph.scroll_into_view_if_needed()
    box = morph.bounding_box()
    k = box["width"] / tab.evaluate("document.getElementById('morph-image').naturalWidth")
    tab.mouse.click(box["x"] + (2 * (R + PAD) + R / 2) * k, box["y"] + (R / 2) * k)
    tab.wait_for_selector("#zoom", state="visible")
    assert "step 3" in tab.inner_text("#zoom-label")
    tab.click("#zoom-close")
    tab.wait_for_selector("#zoom", state="hidden")
    tab.close()


def test_compare_controls_fit_at_400_px(browser, server):
    tab = new_tab(browser, server.url, width=400)
    assert tab.evaluate("document.documentElement.scrollWidth") <= 400
    f = fit(tab)
    assert f["shown"] <= f["room"] + 0.5 and len(tab.locator("#preview-rows .row-label").all()) == 3
    tab.close()
