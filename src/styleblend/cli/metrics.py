"""``styleblend metrics``: FID and KID (Inception-v3 features) and SWD (no network) of a generator against a data set."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..errors import InvalidArgumentError
from ..io.atomic import write_bytes_atomic
from ..io.files import load_checkpoint
from ..metrics.features import (
    ImagePixels,
    StandInFeatures,
    dataset_features,
    generator_features,
)
from ..metrics.fid import SQRT_METHODS, fid_from_stats
from ..metrics.inception import load_inception
from ..metrics.kid import kid_subset_values
from ..metrics.swd import swd
from ..train.data import ImageZipDataset
from .common import MAX_BATCH, MAX_SAMPLES, add_device, int_in_range, progress, resolve_device

log = logging.getLogger(__name__)

METRICS = ("fid", "kid", "swd")


def _metric_list(text: str) -> list[str]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown metric(s) {unknown or text!r}; choose from {', '.join(METRICS)}")
    return list(dict.fromkeys(names))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "metrics", help="FID / KID (Inception-v3 features) or SWD of a generator against a data set",
        description="Fréchet Inception Distance and Kernel Inception Distance between images of --network and "
                    "the images of --data, with the Inception-v3 of pytorch-fid (pt_inception-2015-12-05-6726825d.pth "
                    "in the torch hub cache or --inception PATH; never downloaded). Published numbers use 50000 "
                    "generated images and the whole data set (fid50k_full, kid50k_full). SWD (sliced Wasserstein "
                    "distance of Laplacian-pyramid patches, Karras et al. 2018) needs no network weights: it "
                    "compares as many generated images as real ones, per pyramid level, x 1e3.")
    p.add_argument("--network", required=True, help="checkpoint: NVIDIA .pkl, rosinality .pt or .safetensors")
    p.add_argument("--data", required=True, type=Path, help="data set: zip made by `make_dataset`/NVIDIA, or folder")
    p.add_argument("--metrics", type=_metric_list, default=["fid"], help="comma-separated: fid, kid, swd (default fid)")
    p.add_argument("--num-gen", type=int_in_range(2, MAX_SAMPLES, "--num-gen"), default=50000, help="generated images (default 50000, as published)")
    p.add_argument("--max-real", type=int, default=None, help="use at most this many data set images (default all)")
    p.add_argument("--mirror", action="store_true", help="add mirrored data set images (if training used --mirror)")
    p.add_argument("--inception", default=None, metavar="PATH", help="pytorch-fid Inception weights .pth")
    p.add_argument("--seed", type=int, default=0, help="first seed of the generated images (default 0)")
    p.add_argument("--noise-mode", choices=["const", "random", "none"], default="const")
    p.add_argument("--batch", type=int_in_range(1, MAX_BATCH, "--batch"), default=32, help="images per forward pass (default 32)")
    p.add_argument("--kid-subsets", type=int_in_range(1, 100_000, "--kid-subsets"), default=100, help="KID subset pairs (default 100)")
    p.add_argument("--kid-subset-size", type=int_in_range(1, MAX_SAMPLES, "--kid-subset-size"), default=1000, help="KID images per subset (default 1000)")
    p.add_argument("--fid-sqrt", choices=SQRT_METHODS, default="sqrtm",
                   help="matrix square root: sqrtm (scipy, as NVIDIA/pytorch-fid) or eigh (numpy only)")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    # Testing hook: a tiny random feature network instead of Inception. Hidden from --help; its
    # numbers are labelled as not being FID/KID wherever they are shown.
    p.add_argument("--stand-in-features", action="store_true", help=argparse.SUPPRESS)
    add_device(p)
    p.set_defaults(func=run)


def _tag(metric: str, num_gen: int, max_real: int | None) -> str:
    """NVIDIA-style name: fid50k_full (all real images) or fid10k (real images capped)."""
    count = f"{num_gen // 1000}k" if num_gen % 1000 == 0 else str(num_gen)
    return f"{metric}{count}" + ("_full" if max_real is None else "")


def run(args: argparse.Namespace) -> int:
    for name, value, low in (("--num-gen", args.num_gen, 2), ("--batch", args.batch, 1),
                             ("--kid-subsets", args.kid_subsets, 1), ("--kid-subset-size", args.kid_subset_size, 2)):
        if value < low:
            raise InvalidArgumentError(f"{name} {value} must be >= {low}")
    if args.max_real is not None and args.max_real < 2:
        raise InvalidArgumentError(f"--max-real {args.max_real} must be >= 2")
    device = resolve_device(args.device)
    want_kid = "kid" in args.metrics
    inception_metrics = [m for m in args.metrics if m in ("fid", "kid")]
    # Fail on missing weights before the slow parts.
    extractor = None
    if inception_metrics:
        extractor = StandInFeatures() if args.stand_in_features else load_inception(args.inception, device)
    G = load_checkpoint(args.network).generator(device)
    dataset = ImageZipDataset(args.data, xflip=args.mirror)
    if dataset.resolution != G.img_resolution:
        if "swd" in args.metrics:
            raise InvalidArgumentError(f"SWD compares images at one resolution: the data set is {dataset.resolution} "
                                       f"px, the generator makes {G.img_resolution} px")
        log.warning("the data set is %d px but the generator makes %d px images; both are resized for the features",
                    dataset.resolution, G.img_resolution)
    num_real = len(dataset) if args.max_real is None else min(len(dataset), args.max_real)
    labels = dataset.labels.numpy() if dataset.labels is not None else None
    results: dict[str, float] = {}
    counts: dict[str, int] = {}
    lines = []
    abouts = []
    if inception_metrics:
        with progress(args, num_real, "real images") as cb:
            real = dataset_features(extractor, dataset, max_items=args.max_real, batch_size=args.batch,
                                    capture_all=want_kid, callback=cb)
        with progress(args, args.num_gen, "generated images") as cb:
            gen = generator_features(extractor, G, args.num_gen, batch_size=args.batch, seed=args.seed,
                                     noise_mode=args.noise_mode, class_labels=labels, capture_all=want_kid,
                                     callback=cb)
        counts.update(num_gen=gen.num_items, num_real=real.num_items)
        abouts.append(f"{gen.num_items} generated vs {real.num_items} real images; features: {extractor.name}")
    if "fid" in args.metrics:
        tag = _tag("fid", args.num_gen, args.max_real)
        results[tag] = fid_from_stats(real, gen, method=args.fid_sqrt)
        lines.append(f"{tag} = {results[tag]:.4f}")
    if want_kid:
        tag = _tag("kid", args.num_gen, args.max_real)
        values = kid_subset_values(real, gen, args.kid_subsets, args.kid_subset_size, seed=args.seed)
        results[tag] = float(values.mean())
        subset = min(real.num_items, gen.num_items, args.kid_subset_size)
        lines.append(f"{tag} = {results[tag]:.6f} "
                     f"(std over {args.kid_subsets} subsets of {subset}: {values.std():.6f})")
    if "swd" in args.metrics:
        count = min(num_real, args.num_gen)
        pixels = ImagePixels()
        with progress(args, count, "SWD images") as cb:
            real_px = dataset_features(pixels, dataset, max_items=count, batch_size=args.batch, capture_all=True,
                                       capture_mean_cov=False)
            gen_px = generator_features(pixels, G, count, batch_size=args.batch, seed=args.seed,
                                        noise_mode=args.noise_mode, class_labels=labels, capture_all=True,
                                        capture_mean_cov=False, callback=cb)
        shape = (count, 3, G.img_resolution, G.img_resolution)
        per_level = swd(real_px.all_features().reshape(shape), gen_px.all_features().reshape(shape), seed=args.seed)
        tag = f"swd{count // 1000}k" if count % 1000 == 0 else f"swd{count}"
        results[tag] = per_level[0]
        for res, value in per_level.items():
            if res:
                results[f"{tag}_{res}px"] = value
        levels = ", ".join(f"{res} px {v:.2f}" for res, v in per_level.items() if res)
        lines.append(f"{tag} = {per_level[0]:.3f} (x 1e3; per level: {levels})")
        counts["swd_images"] = count
        abouts.append(f"SWD: {count} generated vs {count} real images")
    if args.json is not None:
        payload = {"results": results, **counts,
                   "features": extractor.name if extractor is not None else None,
                   "stand_in_features": bool(args.stand_in_features),
                   "network": str(args.network), "data": str(args.data), "seed": args.seed,
                   "noise_mode": args.noise_mode, "fid_sqrt": args.fid_sqrt, "kid_subsets": args.kid_subsets,
                   "kid_subset_size": args.kid_subset_size, "mirror": args.mirror}
        write_bytes_atomic(args.json, (json.dumps(payload, indent=2) + "\n").encode())
    # The numbers are the point of this command, so they are printed even with -q.
    for line in lines:
        print(line)
    for about in abouts:
        print(f"  ({about})")
    if args.json is not None:
        print(f"  wrote {args.json}")
    return 0
