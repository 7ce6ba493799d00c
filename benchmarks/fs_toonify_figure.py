"""Toonify with a W+ latent vs W+ + block-r features, through the bundled swap blend; writes a picture grid.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/fs_toonify_figure.py --head HEAD --out docs/fs-toonify.png \
        [--swap 16] [--flip] [--count 6]

Rows: the first ``count`` held-out Noto emoji (data/emoji/heldout-google). Columns: target | base from W+ |
base from W+ + features | blend from W+ | blend with the base's features put in place of the blend's own at r
('replace') | blend with the pair's change of the base's features added to the blend's own at r ('residual',
:func:`styleblend.nn.feature_space.blend_features`, what toonify renders).
The blend: the bundled base (noto) and transfer (twemoji), Swap(swap) (structure, i.e. blocks <= swap, from the
transfer) or with --flip the reverse. Prints the PSNR of each reconstruction and how far each toon is from the
W+ toon and from the base reconstruction (RMS over pixels, [-1, 1] scale).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from styleblend.blend import Swap, blend_checkpoints  # noqa: E402
from styleblend.media.images import from_uint8, make_grid, to_uint8  # noqa: E402
from styleblend.media.load import list_images, load_image  # noqa: E402
from styleblend.metrics.quality import psnr  # noqa: E402
from styleblend.models import bundled_checkpoint, bundled_encoder_path  # noqa: E402
from styleblend.nn.feature_space import blend_features, synthesize_from_features  # noqa: E402
from styleblend.project.encoder import load_encoder  # noqa: E402
from styleblend.project.feature_encoder import encode_features, load_feature_head  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--head", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--swap", type=int, default=16)
    ap.add_argument("--flip", action="store_true")
    ap.add_argument("--count", type=int, default=6)
    args = ap.parse_args()
    torch.set_num_threads(1)
    base_ckpt, transfer_ckpt = bundled_checkpoint("base"), bundled_checkpoint("transfer")
    blended, _ = blend_checkpoints(base_ckpt, [transfer_ckpt], Swap(args.swap, flip=args.flip))
    G, B = base_ckpt.generator("cpu"), blended.generator("cpu")
    E, head = load_encoder(bundled_encoder_path()), load_feature_head(args.head)
    r = head.cfg.block_res
    files = sorted(list_images(ROOT / "data/emoji/heldout-google"), key=lambda p: p.name)[:args.count]
    target = torch.cat([from_uint8(load_image(f, resolution=64, channels=3)) for f in files])
    with torch.no_grad():
        ws, feats = encode_features(E, head, G, target)
        cols = {
            "base W+": G.synthesis(ws),
            "base FS": synthesize_from_features(G, ws, feats, r),
            "blend W+": B.synthesis(ws),
            "blend FS replace": synthesize_from_features(B, ws, feats, r),
            "blend FS residual": synthesize_from_features(B, ws, blend_features(G, B, ws, feats, r), r),
        }
    for name, img in cols.items():
        q = from_uint8(to_uint8(img))
        line = f"{name:18s} PSNR vs target {float(psnr(q, target).mean()):.2f} dB"
        if name.startswith("blend"):
            line += (f", RMS from blend W+ {float((img - cols['blend W+']).square().mean().sqrt()):.3f}"
                     f", from base FS {float((img - cols['base FS']).square().mean().sqrt()):.3f}")
        print(line)
    stack = [target, *cols.values()]
    tiles = [to_uint8(t[i:i + 1])[0] for i in range(len(files)) for t in stack]
    grid = make_grid(np.stack(tiles), cols=len(stack), pad=2)
    Image.fromarray(np.kron(grid, np.ones((2, 2, 1), dtype=np.uint8))).save(args.out)
    print("columns: target |", " | ".join(cols), "->", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
