"""Projection benchmark: optimisation steps/s, and reconstruction PSNR versus step budget per method.

1. Speed: steps/s of one projection step (synthesis forward + loss + backward + Adam) for a 64 px model
   (--network if given, else a small random one) and a 256 px config-f model (random weights; speed does
   not depend on their values), with the loss the run would use (VGG-16 if found, else the pixel fallback).
2. Quality: for every image in --images (default: the held-out emoji the model never saw), each method is
   run once per step budget (schedules scale with the budget, so a 100-step run is not the first 100 steps
   of a 500-step run) and the PSNR / SSIM of the final reconstruction is averaged.

Prints Markdown tables. Example (a few minutes on 2 CPU cores):
    python benchmarks/bench_project.py --network runs/base-emoji64/network-snapshot-000008.safetensors \
        --limit 4 --budgets 50,100,200 --methods image2stylegan,nvidia,fast
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from styleblend.config import GeneratorConfig, MappingConfig, SynthesisConfig
from styleblend.io import load_checkpoint
from styleblend.media.images import from_uint8, to_uint8
from styleblend.media.load import list_images, load_image
from styleblend.metrics.quality import psnr, ssim
from styleblend.nn import Generator
from styleblend.project import project, resolve_loss, settings_for, synthesize


def steps_per_second(G: torch.nn.Module, method: str, vgg: str | None, steps: int = 5) -> float:
    loss, _, _ = resolve_loss(method, vgg)
    target = torch.zeros([1, G.img_channels, G.img_resolution, G.img_resolution])
    settings = settings_for(method, steps=1, num_w_samples=100)
    project(G, target, settings, loss)  # warm-up
    settings = settings_for(method, steps=steps, num_w_samples=100)
    start = time.perf_counter()
    r = project(G, target, settings, loss)
    return r.steps_done / (time.perf_counter() - start)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default=None, help="trained model (64 px emoji model for the quality table)")
    ap.add_argument("--images", default="data/emoji/heldout-google", type=Path)
    ap.add_argument("--limit", type=int, default=4, help="use the first N images (sorted by name)")
    ap.add_argument("--methods", default="image2stylegan,nvidia,fast")
    ap.add_argument("--budgets", default="50,100,200", help="step budgets, comma-separated")
    ap.add_argument("--vgg", default=None, help="VGG-16 weights (default: torch hub cache, else pixel fallback)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (1 is fastest on a busy 2-core box)")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = [m for m in args.methods.split(",") if m]
    budgets = [int(b) for b in args.budgets.split(",") if b]
    _, vgg_net, warning = resolve_loss("image2stylegan", args.vgg)
    print(f"loss: {'VGG-16 ' + vgg_net.source if vgg_net is not None else 'pixel fallback (' + str(warning) + ')'}\n")

    small = (load_checkpoint(args.network).generator() if args.network else
             Generator(GeneratorConfig(z_dim=128, w_dim=128, img_resolution=64, mapping=MappingConfig(num_layers=4),
                                       synthesis=SynthesisConfig(channel_base=2048, channel_max=64))).eval())
    if not args.skip_speed:
        big = Generator(GeneratorConfig(img_resolution=256)).eval().requires_grad_(False)
        print("| model | " + " | ".join(methods) + " |")
        print("|---|" + "---|" * len(methods))
        for name, G in ((f"{small.img_resolution} px {'(--network)' if args.network else '(small random)'}", small),
                        ("256 px config-f (random)", big)):
            row = [f"{steps_per_second(G, m, args.vgg):.2f}" for m in methods]
            print(f"| {name} | " + " | ".join(row) + " steps/s |")
            sys.stdout.flush()
        print()

    if args.skip_quality:
        return 0
    if not args.network:
        print("quality table skipped: pass --network (a model trained on the emoji) to measure PSNR on held-out images")
        return 0
    files = list_images(args.images)[: args.limit]
    if not files:
        print(f"no images in {args.images}")
        return 1
    G = small
    res = G.img_resolution
    targets = [from_uint8(load_image(f, resolution=res, channels=G.img_channels)) for f in files]
    print(f"PSNR dB / SSIM of the reconstruction, mean over {len(files)} images of {args.images} "
          f"({res} px), seed 0\n")
    print("| method | " + " | ".join(f"{b} steps" for b in budgets) + " | s/step |")
    print("|---|" + "---|" * (len(budgets) + 1))
    for m in methods:
        loss, _, _ = resolve_loss(m, args.vgg)
        cells, seconds, steps = [], 0.0, 0
        for b in budgets:
            p_vals, s_vals = [], []
            for t in targets:
                r = project(G, t, settings_for(m, steps=b), loss, seed=0)
                seconds, steps = seconds + r.seconds, steps + r.steps_done
                with torch.no_grad():
                    rec = from_uint8(to_uint8(synthesize(G, r.ws))[0])
                p_vals.append(psnr(rec, t).item())
                s_vals.append(ssim(rec, t).item())
            cells.append(f"{np.mean(p_vals):.2f} / {np.mean(s_vals):.3f}")
        print(f"| {m} | " + " | ".join(cells) + f" | {seconds / max(steps, 1):.3f} |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
