"""Benchmark: how local is a region blend of weights or of features? (issue 14, "Done when": >= 3x inside vs outside).

For the bundled pair (emoji64 Noto base, Twemoji transfer) and one analysis setting (layer, K parts,
S analysis samples = seeds 0..S-1, top-k channels, blended layers), every part p in turn:

1. choose the channels of part p on the base (:func:`styleblend.blend.regions.plan_region_blend`),
2. blend with α = 0 everywhere except those channels (α = 1 there),
3. render base and blend for held-out seeds (1000 .. 1000+N-1, never used by the analysis, ψ = 1,
   stored noise) and the part maps of those same images (the base's features assigned to the centroids),
4. locality = mean |blend - base| per pixel inside the part / mean |blend - base| per pixel outside
   (both per unit area, pixel values in [0, 255], averaged over RGB; images whose part is empty or
   covers everything do not count).

With ``--features BLOCKS`` (repeatable, e.g. ``--features 32-64 --features 16-32``) the same parts are also
blended as features (:func:`styleblend.blend.features.feature_blend`: base and transfer side by side, the
transfer's features inside the part after those blocks, ``--feather`` px soft edge, α = 1) and measured the
same way; ``--no-weights`` skips the weight blends.

Prints one row per part plus the command, the load average and the wall time. Usage::

    python benchmarks/bench_region_locality.py [--layer b32] [--parts 6] [--top-k 16] \\
        [--region-layers b32.conv0,b32.conv1] [--samples 16] [--eval 32] \\
        [--picture docs/regions-locality.png] [--picture-parts 1,2] \\
        [--features 32-64 [--features 16-32]] [--feather 1] [--no-weights] [--feature-picture docs/x.png]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from styleblend.blend.features import feature_blend, parse_feature_layers
from styleblend.blend.model import blend_checkpoints
from styleblend.blend.regions import plan_region_blend, resize_mask
from styleblend.blend.schedules import Constant
from styleblend.latents.mapping import seeds_to_ws
from styleblend.media.images import make_grid, save_png, to_uint8
from styleblend.models import bundled_checkpoint
from styleblend.render import render_ws


def locality(base_img: torch.Tensor, blend_img: torch.Tensor, region: torch.Tensor) -> tuple[float, float, int]:
    """(mean |change| inside, mean |change| outside, images counted) over images with a proper region."""
    diff = (blend_img - base_img).abs().mean(dim=1) * 127.5  # [N, H, W] in 8-bit units
    inside = resize_mask(region, diff.shape[-1])
    ins, outs, counted = [], [], 0
    for d, m in zip(diff, inside):
        if 0 < int(m.sum()) < m.numel():
            ins.append(d[m].mean())
            outs.append(d[~m].mean())
            counted += 1
    if not counted:
        return float("nan"), float("nan"), 0
    return float(torch.stack(ins).mean()), float(torch.stack(outs).mean()), counted


def picture_rows(base_img: torch.Tensor, blend_img: torch.Tensor, region: torch.Tensor, n: int = 4) -> list[np.ndarray]:
    """Four rows of ``n`` images: base, blend, 4 x |change|, the base with the outside of the region darkened."""
    b, x = to_uint8(base_img[:n]), to_uint8(blend_img[:n])
    change = np.clip(np.abs(x.astype(np.int16) - b.astype(np.int16)) * 4, 0, 255).astype(np.uint8)
    mask = resize_mask(region[:n], b.shape[1]).numpy()[..., None]
    shown = np.where(mask, b, (b * 0.3).astype(np.uint8))
    return [*b, *x, *change, *shown]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layer", default="b32")
    p.add_argument("--parts", type=int, default=6)
    p.add_argument("--top-k", type=int, default=16)
    p.add_argument("--region-layers", default=None)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--eval", type=int, default=32, help="held-out seeds 1000 .. 1000+N-1")
    p.add_argument("--picture", default=None, help="PNG: per part, rows base | blend | |change| | region")
    p.add_argument("--picture-parts", default=None, help="parts to draw, e.g. 1,2 (default all)")
    p.add_argument("--features", action="append", default=[], metavar="BLOCKS",
                   help="also measure feature blends mixing after these blocks, e.g. 32-64 (repeatable)")
    p.add_argument("--feather", type=float, default=1.0, help="feature blends: soft edge in output pixels")
    p.add_argument("--no-weights", action="store_true", help="skip the weight blends")
    p.add_argument("--feature-picture", default=None,
                   help="PNG: per drawn part, rows base | feature blend (first --features) | |change| | region")
    args = p.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    base, transfer = bundled_checkpoint("base"), bundled_checkpoint("transfer")
    G = base.generator()
    ws = seeds_to_ws(G, list(range(1000, 1000 + args.eval)))
    base_img = render_ws(G, ws)
    layers = args.region_layers.split(",") if args.region_layers else None
    print(f"command: {' '.join(sys.argv)}")
    print(f"layer {args.layer}, K={args.parts}, analysis seeds 0-{args.samples - 1}, top-k {args.top_k}, "
          f"blended layers {layers or 'default'}, held-out seeds 1000-{999 + args.eval}")
    feature_sets = [parse_feature_layers(f, G.synthesis.block_resolutions) for f in args.features]
    if feature_sets:
        print(f"feature blends: alpha 1, feather {args.feather:g} px, blocks "
              + "; ".join(",".join(f"b{r}" for r in fs) for fs in feature_sets))
    Gt = transfer.generator()
    head = f"{'part':>4}  {'area':>6}"
    if not args.no_weights:
        head += f"  {'inside':>7}  {'outside':>7}  {'ratio':>6}  images"
    for fs in feature_sets:
        head += f"  | feat {fs[0]}-{fs[-1]}: {'inside':>7}  {'outside':>7}  {'ratio':>6}"
    print(head)
    cells: list[np.ndarray] = []
    feature_cells: list[np.ndarray] = []
    for part in range(args.parts):
        plan = plan_region_blend(G, part, layer=args.layer, parts=args.parts, samples=args.samples,
                                 top_k=args.top_k, layers=layers)
        region = plan.region_maps(G, ws)
        area = float(region.float().mean())
        row = f"{part:>4}  {area:6.3f}"
        drawn = args.picture_parts is None or str(part) in args.picture_parts.split(",")
        if not args.no_weights:
            blended, _ = blend_checkpoints(base, [transfer], Constant(0.0), channels=plan.masks, hash_inputs=False)
            blend_img = render_ws(blended.generator(), ws)
            inside, outside, counted = locality(base_img, blend_img, region)
            row += f"  {inside:7.2f}  {outside:7.2f}  {inside / outside:6.2f}  {counted:>6}"
            if args.picture and drawn:
                cells += picture_rows(base_img, blend_img, region)
        for i, fs in enumerate(feature_sets):
            feat_img = torch.cat([feature_blend(G, Gt, ws[s:s + 8], region[s:s + 8], fs, 1.0, args.feather)
                                  for s in range(0, ws.shape[0], 8)])
            inside, outside, counted = locality(base_img, feat_img, region)
            row += f"  | {'':>{len(str(fs[0])) + len(str(fs[-1])) + 7}} {inside:7.2f}  {outside:7.2f}  " \
                   f"{inside / max(outside, 1e-9):6.2f}"
            if i == 0 and args.feature_picture and drawn:
                feature_cells += picture_rows(base_img, feat_img, region)
        print(row)
    if args.picture:
        save_png(make_grid(np.stack(cells), cols=4, pad=2), args.picture)
        print(f"wrote {args.picture}: per part 4 rows (base | region blend | 4x |change| | part), 4 seeds each")
    if args.feature_picture:
        save_png(make_grid(np.stack(feature_cells), cols=4, pad=2), args.feature_picture)
        print(f"wrote {args.feature_picture}: per part 4 rows (base | feature blend | 4x |change| | part)")
    print(f"load average {os.getloadavg()[0]:.2f}, wall {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
