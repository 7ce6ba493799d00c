"""``styleblend regions``: cluster a layer's features into parts and score every channel per part."""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidArgumentError
from ..io.atomic import write_bytes_atomic
from .common import add_device, int_in_range, resolve_device

if TYPE_CHECKING:
    from ..blend.regions import RegionBlend

#: At most this many samples are analysed (their features are kept in memory) and drawn.
MAX_SAMPLES = 256
MAX_GRID_ROWS = 16
#: How many of the best channels per part the JSON lists by name (every score is in it too).
TOP_LISTED = 16

#: The library's parameter names (backticked in its errors) -> the flags of each command.
REGIONS_FLAGS = {"layer": "--layer", "parts": "--parts", "samples": "--samples"}
BLEND_FLAGS = {"layer": "--region-layer", "layers": "--region-layers", "parts": "--parts",
               "samples": "--region-samples", "region": "--region", "top_k": "--top-k", "threshold": "--threshold"}

SCORING = ("score_c = mean of channel c inside the region - mean outside, after standardising the channel "
           "over every pixel of every sample (units of the channel's spread); defined for parts and user "
           "masks alike, and highest for a channel that fires only inside the region")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("regions", help="find image parts in a layer's features and the channels that draw them",
                       description="Cluster the per-pixel features of one synthesis layer over sample images into "
                                   "parts (spherical k-means, Collins et al., 'Editing in Style', CVPR 2020) and score "
                                   "each channel's contribution to each part; or score a region you paint (--mask). "
                                   "Use the part numbers with 'styleblend blend --region PART'.")
    p.add_argument("--network", required=True, help="the (base) model to analyse")
    p.add_argument("--layer", default=None, help="feature layer: a block such as b32 (its output) or b32.conv0 "
                                                 "(default b32, or the block below the output for smaller models)")
    p.add_argument("--parts", type=int, default=8, help="number of parts K >= 2 (default 8)")
    p.add_argument("--samples", type=int_in_range(1, MAX_SAMPLES, "--samples"), default=16,
                   help=f"sample images, seeds 0..S-1 (default 16, at most {MAX_SAMPLES})")
    p.add_argument("--seed", type=int, default=0, help="seed of the k-means start (default 0)")
    p.add_argument("--mask", type=Path, default=None,
                   help="score this region instead of clustering: a square PNG, white inside, of the image's "
                        "or the layer's size")
    p.add_argument("--outdir", type=Path, required=True, help="writes parts.png and regions.json here")
    add_device(p)
    p.set_defaults(func=run)


@contextlib.contextmanager
def flags_in_errors(flags: dict[str, str]) -> Iterator[None]:
    """Show this command's flags for the parameters a library error names (``regions`` and ``blend`` differ)."""
    try:
        yield
    except InvalidArgumentError as exc:
        text = str(exc)
        for name in exc.params:
            text = text.replace(f"`{name}`", flags.get(name, f"`{name}`"))
        raise InvalidArgumentError(text) from None


def run(args: argparse.Namespace) -> int:
    with flags_in_errors(REGIONS_FLAGS):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    # The library is imported here, so that `regions --help` needs no torch.
    from ..blend.regions import (
        default_layer,
        find_parts,
        layer_activations,
        load_region_mask,
        parse_layer,
        part_scores,
        region_scores,
        resize_mask,
        sample_seeds,
    )
    from ..io import load_checkpoint
    from ..latents.mapping import seeds_to_ws
    from ..media.images import make_grid, save_png, to_uint8
    from ..media.parts import part_map_image
    from ..render import render_ws

    if args.parts < 2:
        raise InvalidArgumentError(f"--parts {args.parts}: clustering needs at least 2 parts")
    device = resolve_device(args.device)
    ckpt = load_checkpoint(args.network)
    cfg = ckpt.g_config
    layer = parse_layer(args.layer or default_layer(cfg), cfg)
    res = int(layer.split(".")[0][1:])
    mask = load_region_mask(args.mask, sorted({res, cfg.img_resolution})) if args.mask else None
    G = ckpt.generator(device)
    seeds = sample_seeds(args.samples)
    ws = seeds_to_ws(G, seeds)
    acts = layer_activations(G, ws, layer)
    report: dict = {"network": str(args.network), "layer": layer, "resolution": res, "channels": int(acts.shape[1]),
                    "samples": args.samples, "seeds": f"0-{args.samples - 1}", "truncation_psi": 1.0,
                    "scoring": SCORING}
    if mask is not None:
        region = resize_mask(mask, res)
        scores = region_scores(acts, region)[None]
        report.update({"mask": str(args.mask), "area": round(float(region.float().mean()), 4)})
        maps = region[None].expand(len(seeds), res, res).long()
        names = ["mask"]
    else:
        parts = find_parts(acts, args.parts, layer, seed=args.seed)
        scores = part_scores(acts, parts.labels, args.parts)
        report.update({"parts": args.parts, "kmeans_seed": args.seed})
        maps = parts.labels
        names = [str(k) for k in range(args.parts)]
    areas = [round(float((maps == (1 if mask is not None else k)).float().mean()), 4) for k in range(len(names))]
    ranked = [scores[i].argsort(descending=True, stable=True)[:TOP_LISTED] for i in range(len(names))]
    report["regions"] = [{"region": name, "area": area, "top_channels": [int(c) for c in ranked[i]],
                          "scores": [round(float(s), 4) for s in scores[i]]}
                         for i, (name, area) in enumerate(zip(names, areas))]
    args.outdir.mkdir(parents=True, exist_ok=True)
    images = to_uint8(render_ws(G, ws[:MAX_GRID_ROWS]))
    size = max(images.shape[1], 128)
    cells = []
    for img, labels in zip(images, maps[:MAX_GRID_ROWS]):
        cells.append(np.kron(img, np.ones((size // img.shape[0], size // img.shape[1], 1), dtype=np.uint8))
                     if img.shape[0] < size else img)
        cells.append(part_map_image(labels, size)[:, :, :img.shape[2]] if img.shape[2] == 3
                     else part_map_image(labels, size)[:, :, :1])
    grid = make_grid(np.stack(cells), cols=4, pad=2)
    grid_path = save_png(grid, args.outdir / "parts.png")
    json_path = write_bytes_atomic(args.outdir / "regions.json", (json.dumps(report, indent=1) + "\n").encode())
    print(f"wrote {grid_path} (image | part map, two samples per row) and {json_path}")
    for entry in report["regions"]:
        print(f"region {entry['region']}: area {entry['area']:.3f}, top channels {entry['top_channels'][:8]}")
    return 0


# --- the region options of ``styleblend blend`` (kept here so blend.py only wires them in) ---

def add_region_options(p: argparse.ArgumentParser) -> None:
    """--region and its companions for ``styleblend blend``."""
    g = p.add_argument_group("region blends (channels chosen by the image part they draw; see 'styleblend regions')")
    g.add_argument("--region", default=None, metavar="PART|MASK.png",
                   help="blend only the channels that draw this part (a number from 'styleblend regions' with the same "
                        "--region-layer, --parts and --region-samples) or this mask (white = region); without a "
                        "schedule flag every other tensor stays the base's")
    g.add_argument("--region-layer", default=None, help="analysed feature layer (default b32, as 'regions')")
    g.add_argument("--region-layers", default=None,
                   help="comma-separated layers whose output channels are blended (default: the conv producing "
                        "the analysed features, e.g. b32.conv1); they need the analysed layer's channel count")
    g.add_argument("--parts", type=int, default=8, help="number of parts, as in 'regions' (default 8)")
    g.add_argument("--region-samples", type=int_in_range(1, MAX_SAMPLES, "--region-samples"), default=16,
                   help="sample images of the analysis, seeds 0..S-1 (default 16, as 'regions')")
    g.add_argument("--features", action="store_true",
                   help="not here: a region blend of feature maps (spatial alpha) mixes two networks per image at "
                        "render time and cannot be one weight file; render it with 'styleblend region-render'")
    sel = g.add_mutually_exclusive_group()
    sel.add_argument("--top-k", type=int, default=None, help="blend the N best-scoring channels (default: a quarter)")
    sel.add_argument("--threshold", type=float, default=None, help="blend every channel scoring >= T")


def region_requested(args: argparse.Namespace) -> bool:
    """True when --region was given; then a missing schedule means 'base everywhere else' (α = 0)."""
    if getattr(args, "features", False):
        raise InvalidArgumentError("--features: a feature region blend mixes the base's and the transfer's feature "
                                   "maps inside each image's region while rendering, so it cannot be saved as one "
                                   "weight file; render it with 'styleblend region-render --base B --transfer T "
                                   f"--region {args.region or 'PART'} --outdir DIR' (or --video out.mp4)")
    if args.region is None:
        if args.top_k is not None or args.threshold is not None or args.region_layers or args.region_layer:
            raise InvalidArgumentError("--top-k, --threshold and --region-layer(s) need --region PART|MASK.png")
        return False
    if args.parts < 2:
        raise InvalidArgumentError(f"--parts {args.parts}: clustering needs at least 2 parts")
    return True


def plan_region(args: argparse.Namespace, base, device) -> RegionBlend:
    """The region blend's channel masks on the base (which the blend command loaded)."""
    from ..blend.regions import plan_region_blend

    layers = [x for x in args.region_layers.split(",") if x.strip()] if args.region_layers else None
    with flags_in_errors(BLEND_FLAGS):
        return plan_region_blend(base.generator(device), args.region, layer=args.region_layer, parts=args.parts,
                                 samples=args.region_samples, top_k=args.top_k, threshold=args.threshold,
                                 layers=layers)


def record_region(recipe, plan: RegionBlend) -> None:
    """Note the region choice on the recipe's channel masks it produced (``recipe.channels[i]['region']``)."""
    ours = {(m.layer, m.channels) for m in plan.masks}
    for entry in recipe.channels:
        if (entry["layer"], tuple(entry["channels"] or ())) in ours:
            entry["region"] = plan.record


def region_column(base, plan: RegionBlend, seeds: list[int], psi: float, device, class_idx: int | None,
                  size: int) -> np.ndarray:
    """The base's preview images with everything outside the region darkened: one column [rows*size, size, C]."""
    from ..blend.regions import mark_region
    from ..latents.mapping import seeds_to_ws
    from ..media.images import make_grid, to_uint8
    from ..render import render_ws

    G = base.generator(device)
    ws = seeds_to_ws(G, seeds, psi, class_idx=class_idx)
    images = mark_region(to_uint8(render_ws(G, ws)), plan.region_maps(G, ws))
    factor = size // images.shape[1]
    if factor > 1:
        images = images.repeat(factor, axis=1).repeat(factor, axis=2)
    return make_grid(images, cols=1)
