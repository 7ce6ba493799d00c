"""Which optimiser settings refine an encoder's prediction best (issue 17): PSNR after N `fast` steps from the
bundled encoder's latents, for overrides of the `fast` preset, on the first images of a held-out set.

Every row starts from the same prediction (the encoder's default passes) and uses the pixel loss, seed 0, one
torch thread, exactly what ``project --method encoder --steps N`` runs apart from the override.

Usage::

    python benchmarks/bench_refine_settings.py '[{}, {"lr": 0.03}, {"betas": [0.9, 0.99]}]' [--steps 100]
        [--set noto|openmoji|known] [--limit 5] [--encoder FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))

import bench_projection as bp  # noqa: E402
import torch  # noqa: E402

from styleblend.media.images import from_uint8, to_uint8  # noqa: E402
from styleblend.metrics.quality import psnr  # noqa: E402
from styleblend.project import pixel_fallback_loss, project, settings_for, synthesize  # noqa: E402
from styleblend.project.encoder import encode, load_encoder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("overrides", help="JSON list of dicts of ProjectionSettings fields ({} = the preset)")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--set", default="noto", choices=["noto", "openmoji", "known"])
    parser.add_argument("--limit", type=int, default=5)
    parser.add_argument("--encoder", default=None, help="default: the bundled encoder")
    args = parser.parse_args()
    torch.set_num_threads(1)
    from styleblend.models import bundled_encoder_path

    t = bp.load_set(args.set, HERE.parent / "runs" / "bench17")
    encoder = load_encoder(args.encoder or bundled_encoder_path())
    target = t.images[: args.limit]
    with torch.no_grad():
        start = encode(encoder, t.G, target)
        print(f"set {args.set}, first {len(target)} images, {args.steps} steps, pixel loss; encoder alone "
              f"{psnr(from_uint8(to_uint8(synthesize(t.G, start))), target).mean():.2f} dB")
    print("| override of `fast` | PSNR dB | CPU s/img | load |")
    print("|---|---|---|---|")
    for override in json.loads(args.overrides):
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in override.items()}
        settings = dataclasses.replace(settings_for("fast", steps=args.steps, num_w_samples=0), method="encoder",
                                       **fields)
        cpu = time.process_time()
        ws = project(t.G, target, settings, pixel_fallback_loss(), seed=0, init_ws=start.clone()).ws
        cpu = (time.process_time() - cpu) / len(target)
        with torch.no_grad():
            p = psnr(from_uint8(to_uint8(synthesize(t.G, ws))), target).mean()
        print(f"| {json.dumps(override) if override else '(none: lr 0.1, nvidia schedule)'} | {p:.2f} | {cpu:.2f} "
              f"| {os.getloadavg()[0]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
