"""The photo panel in headless Chromium (issue 13, item 7): a photo dropped on the panel opens a crop box, the
square chosen there is what the server embeds, and the status line says what happens before the first step.
Skips without Playwright or Chromium."""

from __future__ import annotations

import base64
import io
import threading

import numpy as np
import pytest
from PIL import Image

from styleblend.io import load_checkpoint
from styleblend.media.images import to_uint8
from styleblend.media.load import load_target
from styleblend.ui.embedding import PHASES
from styleblend.ui.service import BlendSession

from .browser import field_error, new_tab, serving

R, PAD = 32, 2
DROP = """([b64, name, type]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], name, { type }));
  return dt;
}"""
BOX = "() => { const d = document.getElementById('crop-box').dataset; return [+d.x, +d.y, +d.size]; }"


@pytest.fixture(scope="module")
def server(pair_paths):
    with serving(BlendSession(load_checkpoint(pair_paths[0]), load_checkpoint(pair_paths[1]), embed_steps=2)) as srv:
        yield srv


def a_photo(width: int = 90, height: int = 60) -> np.ndarray:
    """A landscape picture with structure everywhere (a crop of another place looks different)."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([(x * 255 // width), (y * 255 // height), ((x * y) % 251)], axis=2).astype(np.uint8)


def png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def drop(tab, data: bytes, name: str, mime: str) -> None:
    handle = tab.evaluate_handle(DROP, [base64.b64encode(data).decode(), name, mime])
    tab.dispatch_event("#toonify-panel", "dragover", {"dataTransfer": handle})
    tab.dispatch_event("#toonify-panel", "drop", {"dataTransfer": handle})


def shown_photo(tab) -> np.ndarray:
    """The photo cell of the toonify row the page shows (photo | base | blend)."""
    src = tab.get_attribute("#toonify-image", "src")
    grid = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))
    return grid[:R, :R]


def test_a_dropped_photo_is_cropped_where_the_box_is_and_that_square_is_embedded(browser, server, tmp_path):
    tab = new_tab(browser, server.url)
    image = a_photo()
    drop(tab, png(image), "landscape.png", "image/png")
    tab.wait_for_selector("#crop-box", state="visible")
    tab.wait_for_function("document.getElementById('crop-box').dataset.size !== undefined")
    assert tab.evaluate(BOX) == [15, 0, 60]  # the largest centred square, as the server's centre crop
    tab.focus("#crop-box")
    for _ in range(4):
        tab.keyboard.press("ArrowLeft")
    assert tab.evaluate(BOX) == [11, 0, 60]
    tab.fill("#crop-size", "50")  # half the short side, about the same centre
    tab.dispatch_event("#crop-size", "input")
    x, y, size = tab.evaluate(BOX)
    assert size == 30 and (x, y) == (26, 15)
    # Dragging moves it by the distance on screen in the photo's pixels (and it stays inside the photo).
    box = tab.locator("#crop-box").bounding_box()
    scale = tab.evaluate("document.getElementById('crop-image').clientWidth") / 90
    tab.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tab.mouse.down()
    tab.mouse.move(box["x"] + box["width"] / 2 + 20 * scale, box["y"] + box["height"] / 2 + 500)
    tab.mouse.up()
    x, y, size = tab.evaluate(BOX)
    assert (x, y, size) == (46, 30, 30)
    assert tab.inner_text("#crop-info").startswith("30 × 30 px at (46, 30)")
    tab.click("#crop-embed")
    tab.wait_for_selector("#crop", state="hidden")
    tab.wait_for_function("['optimised'].includes(document.getElementById('toonify-image').dataset.stage)")
    # The server embedded exactly that square: its target is the square resized to the model's resolution.
    path = tmp_path / "square.png"
    path.write_bytes(png(image[y:y + size, x:x + size]))
    expected = to_uint8(load_target(path, R, channels=3))[0]
    assert np.array_equal(shown_photo(tab), expected)
    path.write_bytes(png(image))  # not the centre crop the server would have taken of the whole photo
    assert not np.array_equal(shown_photo(tab), to_uint8(load_target(path, R, channels=3))[0])
    tab.close()


def test_a_dropped_file_that_is_not_an_image_is_refused_next_to_the_photo_input(browser, server):
    tab = new_tab(browser, server.url)
    drop(tab, b"hello", "notes.txt", "text/plain")
    assert "notes.txt is not an image" in field_error(tab, "#photo")
    assert tab.is_hidden("#crop")
    tab.close()


def test_crop_first_holds_a_chosen_photo_in_the_crop_box_and_cancel_sends_nothing(browser, server):
    tab = new_tab(browser, server.url)
    tab.check("#crop-first")
    tab.set_input_files("#photo", files=[{"name": "p.png", "mimeType": "image/png", "buffer": png(a_photo(40, 50))}])
    tab.wait_for_function("document.getElementById('crop-box').dataset.size === '40'")
    assert tab.evaluate(BOX) == [0, 5, 40]
    assert tab.inner_text("#embed-status") == ""  # nothing was sent
    tab.click("#crop-cancel")
    tab.wait_for_selector("#crop", state="hidden")
    tab.wait_for_timeout(300)
    assert tab.inner_text("#embed-status") == ""
    tab.close()


def test_the_status_says_what_happens_before_the_first_step(browser, server, monkeypatch):
    tab = new_tab(browser, server.url)
    session = server.session
    release = threading.Event()
    real = session.photo._embed_loss

    def slow_loss():
        release.wait(60)
        return real()

    monkeypatch.setattr(session.photo, "_embed_loss", slow_loss)
    # Every text the status line shows, in order.
    tab.evaluate("""() => { window.statusLog = [];
      new MutationObserver(() => window.statusLog.push(document.getElementById('embed-status').textContent))
        .observe(document.getElementById('embed-status'), { childList: true, characterData: true, subtree: true });
    }""")
    try:
        tab.set_input_files("#photo", files=[{"name": "p.png", "mimeType": "image/png", "buffer": png(a_photo())}])
        tab.wait_for_function("t => document.getElementById('embed-status').textContent.includes(t)",
                              arg=PHASES["loss"])
        assert tab.inner_text("#embed-status").startswith("running: step 0/2")
    finally:
        release.set()
    tab.wait_for_function("document.getElementById('embed-status').textContent.startsWith('done')")
    log = tab.evaluate("window.statusLog")
    assert log[0].startswith("sending p.png") and "reads and crops it" in log[0]
    assert PHASES["loss"] in " ".join(log) and "…" not in log[-1]
    tab.close()
