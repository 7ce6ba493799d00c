"""Projection variants on held-out images, one batch per variant: PSNR, W+ row spread, seconds.

Reproduces the loss, W+ regulariser and `nvidia` noise tables of docs/projection.md. Each variant is
``method:loss:overrides`` (loss: pixel, dfeat, or dfeat*K = D features + K x MSE) with overrides as
``key=value`` pairs joined by ``+`` (ProjectionSettings fields), e.g. ``fast:pixel:w_reg=0.03`` or
``nvidia:pixel:optimize_noise=false+space=w+``. All images are projected
at once (``project()`` takes N targets; each gets its own latent). Examples (minutes on 2 busy CPU cores):

    python benchmarks/bench_project_variants.py --first 0 --count 8 --steps 100 \
        --discriminator runs/bundle/base-224.safetensors \
        --variants "fast:pixel:,fast:pixel:w_reg=0.01,fast:pixel:w_reg=0.03,fast:dfeat:"
    python benchmarks/bench_project_variants.py --first 0 --count 4 --steps 300 \
        --variants "nvidia:pixel:,nvidia:pixel:optimize_noise=false,nvidia:pixel:noise_init=model"
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from styleblend.io import load_checkpoint
from styleblend.media.images import from_uint8
from styleblend.media.load import list_images, load_image
from styleblend.metrics.quality import psnr
from styleblend.project import (
    DiscriminatorFeatureDistance,
    LossTerm,
    WeightedLoss,
    pixel_fallback_loss,
    project,
    settings_for,
    synthesize,
)
from styleblend.project.losses import DFEAT_MSE_WEIGHT, pixel_mse

ROOT = Path(__file__).resolve().parents[1]


def _value(text: str):
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return float(text) if any(c in text for c in ".e") else int(text)
    except ValueError:
        return text


def parse_variant(spec: str) -> tuple[str, str, dict]:
    method, loss, overrides = (spec.split(":") + ["", ""])[:3]
    pairs = [p for p in overrides.replace("w+", "W_PLUS").split("+") if p]
    return method, loss, {k: _value(v.replace("W_PLUS", "w+")) for k, v in (p.split("=", 1) for p in pairs)}


def make_loss(name: str, D):
    """'pixel'; 'dfeat' (the default dfeat loss); 'dfeat*K' (D features + K x MSE, K = 0: features only)."""
    if name in ("", "pixel"):
        return pixel_fallback_loss()
    if D is None:
        raise SystemExit(f"loss {name!r} needs --discriminator")
    mse_weight = DFEAT_MSE_WEIGHT if name == "dfeat" else float(name.split("*", 1)[1])
    terms = [LossTerm("dfeat", 1.0, DiscriminatorFeatureDistance(D))]
    return WeightedLoss(terms + ([LossTerm("mse", mse_weight, pixel_mse)] if mse_weight > 0 else []), kind="dfeat")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--network", default=str(ROOT / "src/styleblend/models/emoji64-noto.safetensors"))
    ap.add_argument("--discriminator", default=None, help="checkpoint with D for the dfeat loss")
    ap.add_argument("--images", default=str(ROOT / "data/emoji/heldout-google"))
    ap.add_argument("--first", type=int, default=0)
    ap.add_argument("--count", type=int, default=8)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", required=True, help="comma-separated method:loss:overrides")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    G = load_checkpoint(args.network).generator("cpu")
    D = load_checkpoint(args.discriminator).discriminator("cpu") if args.discriminator else None
    files = sorted(list_images(Path(args.images)), key=lambda p: p.name)[args.first:args.first + args.count]
    target = torch.cat([from_uint8(load_image(f, resolution=G.img_resolution, channels=G.img_channels)) for f in files])
    n = len(files)
    print(f"{n} images from {args.images} ({files[0].name} ...), {args.steps} steps, seed {args.seed}\n")
    print("| variant | PSNR dB | row spread | mean distance | s / image |\n|---|---|---|---|---|")
    for spec in args.variants.split(","):
        method, loss_name, overrides = parse_variant(spec)
        loss = make_loss(loss_name, D)
        start = time.perf_counter()
        r = project(G, target, settings_for(method, steps=args.steps, **overrides), loss, seed=args.seed)
        with torch.no_grad():
            img = synthesize(G, r.ws)
        p = sum(psnr(img[i:i + 1], target[i:i + 1]).item() for i in range(n)) / n
        spread = sum(r.w_distance["row_spread"]) / n
        dist = sum(r.w_distance["mean_distance"]) / n
        print(f"| {spec} | {p:.2f} | {spread:.3f} | {dist:.3f} | {(time.perf_counter() - start) / n:.1f} |", flush=True)


if __name__ == "__main__":
    main()
