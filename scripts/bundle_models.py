#!/usr/bin/env python3
"""Package training snapshots as the bundled models and draw their sample grids for docs/.

Usage (give any of the three; each one given is re-exported):
    python scripts/bundle_models.py --base runs/base-emoji64/network-snapshot-000060.safetensors \
        --transfer runs/twemoji64/network-snapshot-000040.safetensors \
        --third runs/fluent3d64/network-snapshot-000024.safetensors

Writes src/styleblend/models/emoji64-{noto,twemoji,fluent3d}.safetensors (EMA generator only, float16),
docs/bundled-{base,transfer,fluent3d}.png for the models given, docs/bundled-blend-sweep*.png when base or
transfer is given and docs/bundled-blend-3models.png (the demo's 3-model grid) whenever one is given. The
transfer and the third style must be fine-tuned from exactly the bundled base snapshot.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from styleblend.blend import swap_sweep  # noqa: E402
from styleblend.blend.preview import preview_grid  # noqa: E402
from styleblend.demo import DEMO_SEEDS, labelled, three_model_grid  # noqa: E402
from styleblend.io import Checkpoint, load_checkpoint  # noqa: E402
from styleblend.io.formats import native  # noqa: E402
from styleblend.latents.mapping import seeds_to_ws  # noqa: E402
from styleblend.media.images import make_grid, save_png, to_uint8  # noqa: E402
from styleblend.models import BUNDLED  # noqa: E402
from styleblend.render import render_ws  # noqa: E402

CREDIT = {
    "base": "trained by styleblend on Google Noto Emoji images (Apache-2.0) from emoji-datasource-google 16.0.0",
    "transfer": "fine-tuned from the base on Twitter Twemoji images (CC-BY 4.0, (c) Twitter, Inc. and other "
                "contributors) from emoji-datasource-twitter 16.0.0",
    "fluent3d": "fine-tuned from the base on Microsoft Fluent Emoji 3D images (MIT, (c) Microsoft Corporation) "
                "from @lobehub/fluent-emoji-3d 1.1.0 (MIT, (c) LobeHub)",
}
LIMIT_BYTES = 30 * 1024 * 1024  # all bundled models together


def g_ema_only(ckpt: Checkpoint, role: str, source: Path) -> Checkpoint:
    meta = {"bundled": role, "credit": CREDIT[role], "trained_from": source.name,
            "kimg": ckpt.meta.get("kimg"), "training_options": ckpt.meta.get("training_options")}
    return Checkpoint(g_config=ckpt.g_config, g_ema=ckpt.g_ema, meta={k: v for k, v in meta.items() if v is not None})


def sample_grid(ckpt: Checkpoint, seeds: range, psi: float) -> object:
    G = ckpt.generator()
    return make_grid(to_uint8(render_ws(G, seeds_to_ws(G, list(seeds), psi))), cols=8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="snapshot to ship as the base (Noto)")
    parser.add_argument("--transfer", type=Path, help="snapshot to ship as the transfer (Twemoji)")
    parser.add_argument("--third", type=Path, help="snapshot to ship as the third style (Fluent Emoji 3D)")
    parser.add_argument("--psi", type=float, default=0.7)
    args = parser.parse_args()
    given = {role: path for role, path in [("base", args.base), ("transfer", args.transfer),
                                           ("fluent3d", args.third)] if path is not None}
    if not given:
        parser.error("give at least one of --base, --transfer, --third")
    models_dir = ROOT / "src" / "styleblend" / "models"
    docs = ROOT / "docs"
    for role, source in given.items():
        ckpt = g_ema_only(load_checkpoint(source), role, source)
        path = native.write(ckpt, models_dir / BUNDLED[role], dtype=torch.float16)
        print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB, {ckpt.meta.get('kimg')} kimg)")
    total = sum((models_dir / name).stat().st_size for name in BUNDLED.values() if (models_dir / name).exists())
    print(f"all bundled models: {total / 1e6:.1f} MB")
    if total > LIMIT_BYTES:
        sys.exit(f"the bundled models take {total / 1e6:.1f} MB, over the {LIMIT_BYTES / 1e6:.1f} MB limit")
    # Grids from the float16 files as shipped.
    shipped = {role: load_checkpoint(models_dir / BUNDLED[role]) for role in BUNDLED}
    for role in given:
        save_png(sample_grid(shipped[role], range(32), args.psi), docs / f"bundled-{role}.png")
    base, transfer = shipped["base"], shipped["transfer"]
    trio = [("noto", base), ("tw", transfer), ("fl", shipped["fluent3d"])]
    [(demo_grid, _)] = three_model_grid(trio, docs, seeds=DEMO_SEEDS)
    demo_grid.replace(docs / "bundled-blend-3models.png")
    if "base" not in given and "transfer" not in given:
        print("wrote docs/bundled-*.png")
        return
    res_list = [r for r in base.g_config.block_resolutions if r < base.g_config.img_resolution]
    for flip, name in [(False, "bundled-blend-sweep.png"), (True, "bundled-blend-sweep-flipped.png")]:
        models = [base, *(c for _, c, _ in swap_sweep(base, transfer, flip=flip, resolutions=res_list)), transfer]
        grid = preview_grid(models, [1, 3, 5, 8, 13, 21, 34, 55], truncation_psi=args.psi)
        save_png(labelled(grid, ["base", *(f"swap {r}" for r in res_list), "transfer"], base.g_config.img_resolution),
                 docs / name)
    print("wrote docs/bundled-*.png")


if __name__ == "__main__":
    main()
