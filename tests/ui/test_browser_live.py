"""Live tuning in headless Chromium: the low-resolution preview first and the full image after it, previews
while a slider is dragged (throttled), undo/redo of α changes (buttons and keys) and the seed browser.
Skips without Playwright or Chromium."""

from __future__ import annotations

import base64
import io
import time

import numpy as np
import pytest
from PIL import Image

from styleblend.io import load_checkpoint
from styleblend.ui.service import BlendSession

from .browser import serving, wait_ready

SLIDERS = "Array.from(document.querySelectorAll('#sliders input')).map(s => Number(s.value))"
R, PAD = 32, 2


@pytest.fixture(scope="module")
def server(pair_paths):
    # low_preview=8: the tiny 32 px models get the low-resolution stage a 256 px+ model gets by default
    session = BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), low_preview=8)
    with serving(session) as srv:
        yield srv


@pytest.fixture
def tab(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    page.set_default_timeout(60_000)
    wait_ready(page, server.url)
    yield page
    page.close()


def decode_src(src: str) -> np.ndarray:
    assert src.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))


def blend_column(image: np.ndarray) -> np.ndarray:
    return image[:, 2 * (R + PAD):]


def wait_final(tab, after_seq: int) -> None:
    tab.wait_for_function("s => Number(document.getElementById('preview').dataset.seq) > s && "
                          "document.getElementById('preview').dataset.stage === 'full'", arg=after_seq)


def sliders_differ(tab, old: list[float]) -> None:
    tab.wait_for_function("old => JSON.stringify(" + SLIDERS + ") !== JSON.stringify(old)", arg=old)


def seq(tab) -> int:
    return int(tab.get_attribute("#preview", "data-seq") or 0)


def test_the_low_resolution_preview_appears_first_and_the_full_image_replaces_it(tab, server):
    # Record every image the preview shows, with its stage.
    tab.evaluate("""() => {
      window.shown = [];
      const img = document.getElementById('preview');
      new MutationObserver(() => window.shown.push([img.dataset.stage, img.dataset.fullRows, img.src,
                                                     img.style.width]))
        .observe(img, { attributes: true, attributeFilter: ['data-seq', 'style'] });
    }""")
    before = seq(tab)
    tab.focus("#alpha-8")
    tab.keyboard.press("Home")  # the 8 px slider to 0: blocks 8 to 32 of every seed change
    wait_final(tab, before)
    shown = tab.evaluate("window.shown")
    stages = [(stage, rows) for stage, rows, _, _ in shown]
    stages = [s for i, s in enumerate(stages) if i == 0 or s != stages[i - 1]]
    # low (seed 1 at 8 px, the others waiting), then seed by seed at full resolution, then the final grid
    assert stages[0] == ("low", "0") and stages[-1][0] == "full", stages
    assert [int(rows) for stage, rows in stages if stage == "low"] == [0, 1, 2]
    first, last = decode_src(shown[0][2]), decode_src(shown[-1][2])
    assert not np.array_equal(blend_column(first), blend_column(last))  # the preview was replaced
    # The final image is the service's full preview of the same blend, and the low one its 8 px stage.
    alphas = tab.evaluate(SLIDERS)
    full = server.session.preview_images(alphas, "1,3,5", 0.7)
    np.testing.assert_array_equal(last[:R, 2 * (R + PAD):], full[0, 2])
    # The first image is the grid at 8 px (the blend's 8 px image, seeds 3 and 5 waiting), drawn as wide as the
    # full grid.
    assert first.shape == (3 * 8 + 2 * PAD, 3 * 8 + 2 * PAD, 3)
    blend_cells = [first[r * (8 + PAD):r * (8 + PAD) + 8, 2 * (8 + PAD):] for r in range(3)]
    assert not (blend_cells[0] == 230).all() and (blend_cells[1] == 230).all() and (blend_cells[2] == 230).all()
    widths = {width for _, _, _, width in shown if width}
    assert widths == {f"{(3 * R + 2 * PAD) * 5}px"}, widths  # zoom 5 for 32 px models


DRAG = """async () => {
      const slider = document.getElementById('alpha-16');
      const img = document.getElementById('preview');
      const seq0 = Number(img.dataset.seq);
      const t0 = performance.now();
      let moves = 0;
      for (let i = 1; i <= 100; i += 1) {
        slider.value = String(1 - i / 100);
        slider.dispatchEvent(new Event('input', { bubbles: true }));
        moves += 1;
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
      return { moves, drawn: Number(img.dataset.seq) - seq0, ms: performance.now() - t0 };
    }"""


def test_dragging_a_slider_previews_while_it_moves_with_fewer_requests_than_moves(tab):
    requests = []
    tab.on("request", lambda r: requests.append(r) if r.url.endswith("/api/preview") else None)
    # A drag as the browser sees it: the slider's value and an input event every 15 ms for 1.5 s.
    drag = tab.evaluate(DRAG)
    assert drag["drawn"] >= 2, f"no preview while the slider moved: {drag}"
    started = len({r.post_data_json["seq"] for r in requests})
    # Throttled (one start per 120 ms at most, plus the first and the last position), far fewer than the moves.
    assert 2 <= started <= drag["ms"] / 120 + 2 and started < drag["moves"] / 2, (started, drag)
    # The last position is previewed in full.
    tab.wait_for_function("document.getElementById('preview').dataset.stage === 'full' && "
                          "document.getElementById('preview-status').textContent.includes('16:0,')")
    assert tab.evaluate(SLIDERS)[2] == 0.0


def test_a_drag_shows_previews_even_when_each_render_takes_longer_than_the_throttle(tab, server, monkeypatch):
    """A request's first answer is never superseded: with 0.4 s renders and a new position every 120 ms, a page
    that let every newer request replace the last one would draw nothing until the drag ended."""
    session = server.session
    render = session._render_blend

    def slow(*args, **kwargs):
        time.sleep(0.4)
        return render(*args, **kwargs)

    monkeypatch.setattr(session, "_render_blend", slow)
    drag = tab.evaluate(DRAG)
    assert drag["drawn"] >= 2, f"no preview while the slider moved: {drag}"


def test_undo_and_redo_walk_through_alpha_changes_with_buttons_and_keys(tab):
    assert tab.is_disabled("#undo") and tab.is_disabled("#redo")
    start = tab.evaluate(SLIDERS)
    tab.select_option("#swap-res", "8")
    tab.click("#preset-swap")
    sliders_differ(tab, start)
    swap = tab.evaluate(SLIDERS)
    tab.focus("#alpha-32")
    tab.keyboard.press("End")  # a slider change is a step too
    moved = tab.evaluate(SLIDERS)
    assert moved != swap and swap != start
    before = seq(tab)
    tab.click("#undo")
    assert tab.evaluate(SLIDERS) == swap
    wait_final(tab, before)  # and the preview follows
    tab.click("#undo")
    assert tab.evaluate(SLIDERS) == start and tab.is_disabled("#undo")
    tab.click("#redo")
    assert tab.evaluate(SLIDERS) == swap
    tab.click("body", position={"x": 5, "y": 300})  # keys act outside text fields
    tab.keyboard.press("Control+Shift+Z")
    assert tab.evaluate(SLIDERS) == moved and tab.is_disabled("#redo")
    tab.keyboard.press("Control+z")
    assert tab.evaluate(SLIDERS) == swap
    # In a text field Ctrl-Z is the field's own undo, not α's.
    tab.focus("#seeds")
    tab.keyboard.press("Control+z")
    assert tab.evaluate(SLIDERS) == swap
    # A new change drops the redo steps.
    tab.click("#preset-sigmoid")
    sliders_differ(tab, swap)
    assert tab.is_disabled("#redo") and not tab.is_disabled("#undo")


def test_the_seed_browser_shows_16_seeds_and_a_click_picks_one_for_the_preview(tab, server):
    tab.click("#seed-browser summary")
    tab.wait_for_function("document.getElementById('seed-grid').dataset.first === '0'")
    grid = decode_src(tab.get_attribute("#seed-grid", "src"))
    assert grid.shape == (4 * R + 3 * PAD, 4 * R + 3 * PAD, 3)
    base = server.session.preview_images(None, "6", 0.7)[0, 0]
    row, col = divmod(6, 4)
    np.testing.assert_array_equal(grid[row * (R + PAD):row * (R + PAD) + R, col * (R + PAD):col * (R + PAD) + R], base)

    def click_seed(seed: int) -> None:
        box = tab.locator("#seed-grid").bounding_box()
        scale = box["width"] / grid.shape[1]
        r, c = divmod(seed % 16, 4)
        tab.click("#seed-grid", position={"x": (c * (R + PAD) + R / 2) * scale, "y": (r * (R + PAD) + R / 2) * scale})

    before = seq(tab)
    click_seed(6)
    assert tab.input_value("#seeds") == "1,3,5,6"
    wait_final(tab, before)
    preview = decode_src(tab.get_attribute("#preview", "src"))
    assert preview.shape[0] == 4 * R + 3 * PAD  # a fourth row: seed 6
    np.testing.assert_array_equal(preview[3 * (R + PAD):, :R], base)
    click_seed(3)  # a seed already shown: removed
    assert tab.input_value("#seeds") == "1,5,6"
    tab.click("#seed-next")
    tab.wait_for_function("document.getElementById('seed-grid').dataset.first === '16'")
    click_seed(20)
    assert tab.input_value("#seeds") == "1,5,6,20"
    tab.click("#seed-prev")
    tab.wait_for_function("document.getElementById('seed-grid').dataset.first === '0'")
