"""How much a feature map at block r can carry: optimise it freely (W+ fixed at the encoder's prediction).

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_fs_capacity.py [--blocks 8,16] [--steps 200] [--limit 5]

The first ``limit`` held-out Noto emoji (data/emoji/heldout-google), the bundled base and encoder; Adam (lr 0.01)
on the block-r features alone, pixel MSE. Prints PSNR (uint8 renders) at steps 0, 50, 100 and ``steps``, and the
features' RMS (how far they leave the generator's own scale). An upper bound for a feature head, not a method.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from styleblend.media.images import from_uint8, to_uint8  # noqa: E402
from styleblend.media.load import list_images, load_image  # noqa: E402
from styleblend.metrics.quality import psnr  # noqa: E402
from styleblend.models import bundled_checkpoint, bundled_encoder_path  # noqa: E402
from styleblend.nn.feature_space import block_output, synthesize_from_features  # noqa: E402
from styleblend.project.encoder import encode, load_encoder  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--blocks", default="8,16")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--limit", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    G = bundled_checkpoint("base").generator("cpu")
    E = load_encoder(bundled_encoder_path())
    files = sorted(list_images(ROOT / "data/emoji/heldout-google"), key=lambda p: p.name)[:args.limit]
    target = torch.cat([from_uint8(load_image(f, resolution=64, channels=3)) for f in files])
    with torch.no_grad():
        ws = encode(E, G, target)
    for r in (int(b) for b in args.blocks.split(",")):
        with torch.no_grad():
            x, _ = block_output(G, ws, r)
        print(f"block {r}: features' RMS {float(x.square().mean().sqrt()):.3f} at the start")
        x = x.clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=0.01)
        for step in range(args.steps + 1):
            img = synthesize_from_features(G, ws, x, r, fused_modconv=False)
            if step in (0, 50, 100, args.steps):
                q = float(psnr(from_uint8(to_uint8(img.detach())), target).mean())
                rms = float(x.detach().square().mean().sqrt())
                print(f"block {r} step {step}: PSNR {q:.2f} dB, features' RMS {rms:.3f}")
            if step == args.steps:
                break
            loss = (img - target).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
