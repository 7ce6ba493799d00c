"""Toonify benchmark: the default toonify of held-out images, then the same with pivotal tuning.

For every image (default: the 20 held-out Noto emoji the bundled base never saw) ``toonify`` runs once with its
defaults and once with ``pti=PTISettings()`` (the embedding is then reused from the cache), in one process.
Prints one JSON line per image and a Markdown table of means and medians: seconds (wall and the process's CPU
time), PSNR / SSIM of the reconstruction without and with PTI, the delta's size, and the transfer
discriminator's logit of the toons (with --critic).

Example (first make the blend with `styleblend blend ... --swap-res 16 --out blend16.safetensors`):
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_toonify.py --blend blend16.safetensors \
        --critic runs/bundle/twemoji-072.safetensors
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import torch

from styleblend.media.load import list_images
from styleblend.models import bundled_path
from styleblend.project.pti import PTISettings
from styleblend.project.toonify import toonify

DEFAULT_IMAGES = Path(__file__).resolve().parents[1] / "data" / "emoji" / "heldout-google"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=None, help="base model (default: the bundled base)")
    ap.add_argument("--blend", required=True, help="a blend of the base")
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--limit", type=int, default=0, help="only the first N images (0: all)")
    ap.add_argument("--critic", default=None, help="checkpoint with the transfer's discriminator")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = args.base or str(bundled_path("base"))
    files = list_images(args.images)[: args.limit or None]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for f in files:
            out = Path(tmp) / f.stem
            row = {"image": f.name}
            for tag, pti in (("", None), ("_pti", PTISettings())):
                c0, t0 = time.process_time(), time.perf_counter()
                r = toonify(base, [args.blend], f, out, align=False, pti=pti, critic=args.critic)
                row[f"wall{tag}"] = time.perf_counter() - t0
                row[f"cpu{tag}"] = time.process_time() - c0
                key = "reconstruction_pti" if pti else "reconstruction"
                row[f"psnr{tag}"] = r.metrics[key]["psnr"]
                row[f"ssim{tag}"] = r.metrics[key]["ssim"]
                toon = next(iter(r.metrics["toons"].values()))
                if "realism_logit" in toon:
                    row[f"d_logit{tag}"] = toon["realism_logit"]
                    row["d_reference"] = toon["critic_reference_logit"]
                if pti:
                    row.update(delta_bytes=r.metrics["pti"]["bytes"], delta_params=r.metrics["pti"]["params"],
                               delta_fraction=r.metrics["pti"]["fraction_of_G"], rank=r.metrics["pti"]["rank"])
                else:
                    row["w_distance"] = r.metrics["w_distance"]["row_spread"]
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(f"\n{len(rows)} images; mean (median)\n\n| measure | value |\n|---|---|")
    for key in rows[0]:
        if key == "image":
            continue
        values = [r[key] for r in rows if key in r]
        print(f"| {key} | {statistics.mean(values):.4g} ({statistics.median(values):.4g}) |")


if __name__ == "__main__":
    main()
