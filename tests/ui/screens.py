"""The docs screenshots of comparing blends and cropping a photo (``docs/ui-compare.png``, ``docs/ui-crop.png``)::

    PYTHONPATH=src python3 tests/ui/screens.py [--out docs]

Uses the bundled pair (tiny random models when it is not installed) and the system Chromium (see browser.py).
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def take(out: Path) -> list[Path]:
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    import numpy as np
    from PIL import Image
    from playwright.sync_api import sync_playwright
    from tests.ui.browser import launch, wait_ready

    from styleblend.errors import MissingWeightsError
    from styleblend.io import load_checkpoint
    from styleblend.ui.server import UIServer
    from styleblend.ui.service import BlendSession, open_session

    try:
        session = open_session(embed_steps=20)
    except MissingWeightsError:
        from tests.ui.conftest import write_pair

        paths = write_pair(Path(tempfile.mkdtemp(prefix="styleblend-shot-")))
        session = BlendSession(load_checkpoint(paths[0]), load_checkpoint(paths[1]), embed_steps=20)
    server = UIServer(session, "127.0.0.1", 0)
    thread = server.start_thread()
    written = []
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            wait_ready(page, server.url)
            page.click("#preset-sigmoid")
            page.wait_for_function("document.getElementById('preview-status').textContent.includes('table')")
            page.focus("#preview-wide")
            page.keyboard.down("b")  # the A/B view: the base in the blend column
            page.wait_for_selector("#preview-ab", state="visible")
            out.mkdir(parents=True, exist_ok=True)
            figure = page.locator(".figure.compare").bounding_box()
            tools = page.locator(".compare-tools").bounding_box()
            clip = {"x": figure["x"] - 8, "y": figure["y"] - 8, "width": figure["width"] + 16,
                    "height": tools["y"] + tools["height"] - figure["y"] + 16}
            page.screenshot(path=str(out / "ui-compare.png"), clip=clip)
            page.keyboard.up("b")
            written.append(out / "ui-compare.png")
            # A landscape photo in the crop box, the square moved and made smaller.
            y, x = np.mgrid[0:240, 0:360]
            photo = np.stack([x * 255 // 360, y * 255 // 240, (x * y) % 251], axis=2).astype(np.uint8)
            photo[60:180, 200:320] = (240, 200, 150)
            buf = io.BytesIO()
            Image.fromarray(photo).save(buf, format="PNG")
            page.check("#crop-first")
            page.set_input_files("#photo", files=[{"name": "photo.png", "mimeType": "image/png",
                                                   "buffer": buf.getvalue()}])
            page.wait_for_function("document.getElementById('crop-box').dataset.size === '240'")
            page.fill("#crop-size", "55")
            page.dispatch_event("#crop-size", "input")
            page.focus("#crop-box")
            for _ in range(8):
                page.keyboard.press("Shift+ArrowRight")
            page.locator("#toonify-panel").screenshot(path=str(out / "ui-crop.png"))
            written.append(out / "ui-crop.png")
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        session.close()
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    for path in take(parser.parse_args().out):
        print(path)
