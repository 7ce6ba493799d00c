"""Take docs/ui-regions.png: the Regions and Auto α panels of `styleblend ui` on the bundled pair, with a part
picked and an auto α search run and applied; prints the server times it saw::

    OMP_NUM_THREADS=1 PYTHONPATH=src python3 tests/ui/regions_screenshot.py \
        [--critic runs/bundle/twemoji-072.safetensors] [--part 3] [--budget 240] [--out docs/ui-regions.png]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--critic", default="runs/bundle/twemoji-072.safetensors")
    parser.add_argument("--part", type=int, default=3)
    parser.add_argument("--budget", type=float, default=240)
    parser.add_argument("--out", type=Path, default=Path("docs/ui-regions.png"))
    args = parser.parse_args()
    sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
    import torch
    from playwright.sync_api import sync_playwright
    from tests.ui.browser import launch, missing_reason, wait_ready

    from styleblend.io import load_checkpoint
    from styleblend.ui.regions import RegionTools
    from styleblend.ui.server import UIServer
    from styleblend.ui.service import open_session

    if missing_reason():
        sys.exit(f"cannot take the screenshot: {missing_reason()}")
    torch.set_num_threads(1)
    session = open_session()
    server = UIServer(session, "127.0.0.1", 0,
                      regions=RegionTools(session, load_checkpoint(args.critic), Path(args.critic).name))
    thread = server.start_thread()
    try:
        with sync_playwright() as p:
            browser = launch(p)
            tab = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
            tab.set_default_timeout(600_000)
            wait_ready(tab, server.url)
            tab.wait_for_function("document.getElementById('region-map').dataset.ready")
            print("part map:", tab.inner_text("#region-status"))
            seeds = tab.input_value("#seeds")
            part_map = server.regions.part_map({"seeds": seeds, "psi": 0.7, "parts": 6, "samples": 16})
            t0 = time.perf_counter()
            server.regions.part_map({"seeds": seeds, "psi": 0.7, "parts": 6, "samples": 16})
            print(f"part map of {seeds} (analysis cached): {1000 * (time.perf_counter() - t0):.0f} ms")
            res, cell, pad = part_map["res"], part_map["cell"], part_map["pad"]
            row, index = next((r, i) for r, lab in enumerate(part_map["labels"])
                              for i, v in enumerate(lab) if v == args.part)
            py, px = divmod(index, res)
            tab.locator("#region-map").scroll_into_view_if_needed()
            box = tab.locator("#region-map").bounding_box()
            scale = box["width"] / (2 * cell + pad)
            tab.click("#region-map", position={"x": (cell + pad + (px + 0.5) * cell / res) * scale,
                                               "y": (row * (cell + pad) + (py + 0.5) * cell / res) * scale})
            tab.wait_for_function("document.getElementById('region-image').dataset.region")
            print("region blend:", tab.inner_text("#region-status"))
            tab.fill("#auto-budget", f"{args.budget:g}")
            tab.click("#auto-run")
            tab.wait_for_function("['done', 'failed', 'cancelled'].includes("
                                  "document.getElementById('auto-status').dataset.state)")
            print("auto:", tab.inner_text("#auto-status"), "|", tab.inner_text("#auto-applied"))
            tab.click("#auto-apply")
            tab.wait_for_function("document.getElementById('auto-apply').dataset.applied")
            tab.wait_for_timeout(1500)
            print("applied:", tab.inner_text("#auto-applied"), "|", tab.inner_text("#preview-status"))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            top = tab.evaluate("document.getElementById('regions-panel').getBoundingClientRect().top + window.scrollY")
            full = tab.evaluate("document.documentElement.scrollHeight")
            tab.screenshot(path=str(args.out), full_page=True,
                           clip={"x": 0, "y": top - 8, "width": 1280, "height": full - top + 8})
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
        session.close()
    print(args.out)


if __name__ == "__main__":
    main()
