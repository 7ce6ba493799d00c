"""``styleblend metrics``: FID and KID (Inception-v3 features) and SWD (no network) of a generator against a data set.

Parses, calls :func:`styleblend.metrics.evaluate.evaluate`, prints; the metrics themselves are the
library's registry (:data:`styleblend.metrics.evaluate.METRICS`), which also checks the names and options
(the help names the registered metrics; a test holds it to the registry).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..io.atomic import write_bytes_atomic
from .common import MAX_BATCH, MAX_SAMPLES, add_device, int_in_range, progress_bar, resolve_device

if TYPE_CHECKING:
    from tqdm import tqdm


def _metric_list(text: str) -> list[str]:
    # The names are checked by the library's registry when the command runs (parsing loads no torch).
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no metric named in {text!r}; give e.g. fid or fid,kid")
    return list(dict.fromkeys(names))


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "metrics", help="FID / KID (Inception-v3 features) or SWD of a generator against a data set",
        description="Fréchet Inception Distance and Kernel Inception Distance between images of --network and "
                    "the images of --data, with the Inception-v3 of pytorch-fid (pt_inception-2015-12-05-6726825d.pth "
                    "in the torch hub cache or --inception PATH; fetched only with --download). Published numbers use "
                    "50000 generated images and the whole data set (fid50k_full, kid50k_full). SWD (sliced Wasserstein "
                    "distance of Laplacian-pyramid patches, Karras et al. 2018) needs no network weights: it "
                    "compares as many generated images as real ones, per pyramid level, x 1e3.")
    p.add_argument("--network", required=True, help="checkpoint: NVIDIA .pkl, rosinality .pt or .safetensors")
    p.add_argument("--data", required=True, type=Path, help="data set: zip made by `make_dataset`/NVIDIA, or folder")
    p.add_argument("--metrics", type=_metric_list, default=["fid"],
                   help="comma-separated: fid, kid (Inception-v3 features) or swd (pixels) (default fid)")
    p.add_argument("--num-gen", type=int_in_range(2, MAX_SAMPLES, "--num-gen"), default=50000,
                   help="generated images (default 50000, as published)")
    p.add_argument("--max-real", type=int, default=None, help="use at most this many data set images (default all)")
    p.add_argument("--mirror", action="store_true", help="add mirrored data set images (if training used --mirror)")
    p.add_argument("--inception", default=None, metavar="PATH", help="pytorch-fid Inception weights .pth")
    p.add_argument("--download", action="store_true",
                   help="allow downloading pytorch-fid's Inception weights (92 MB) into the torch hub cache")
    p.add_argument("--seed", type=int, default=0, help="first seed of the generated images (default 0)")
    p.add_argument("--noise-mode", choices=["const", "random", "none"], default="const")
    p.add_argument("--batch", type=int_in_range(1, MAX_BATCH, "--batch"), default=32,
                   help="images per forward pass (default 32)")
    p.add_argument("--kid-subsets", type=int_in_range(1, 100_000, "--kid-subsets"), default=100,
                   help="KID subset pairs (default 100)")
    p.add_argument("--kid-subset-size", type=int_in_range(1, MAX_SAMPLES, "--kid-subset-size"), default=1000,
                   help="KID images per subset (default 1000)")
    p.add_argument("--fid-sqrt", default="sqrtm",
                   help="matrix square root: sqrtm (scipy, as NVIDIA/pytorch-fid) or eigh (numpy only)")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    # Testing hook: a tiny random feature network instead of Inception. Hidden from --help; its
    # numbers are labelled as not being FID/KID wherever they are shown.
    p.add_argument("--stand-in-features", action="store_true", help=argparse.SUPPRESS)
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The library is imported here, so that `metrics --help` needs no torch.
    from ..io.files import load_checkpoint
    from ..metrics.evaluate import evaluate
    from ..metrics.features import StandInFeatures

    device = resolve_device(args.device)
    bars: dict[str, tqdm] = {}

    def report(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = progress_bar(args, total=total, desc=stage, unit="img", leave=False)
        bar.update(done - bar.n)

    G = load_checkpoint(args.network).generator(device)
    try:
        result = evaluate(G, args.data, args.metrics, num_gen=args.num_gen, max_real=args.max_real, mirror=args.mirror,
                          seed=args.seed, noise_mode=args.noise_mode, batch_size=args.batch,
                          kid_subsets=args.kid_subsets, kid_subset_size=args.kid_subset_size, fid_sqrt=args.fid_sqrt,
                          extractor=StandInFeatures() if args.stand_in_features else None,
                          inception_path=args.inception, download=args.download, device=device, progress=report)
    finally:
        for bar in bars.values():
            bar.close()
    if args.json is not None:
        payload = dict(result.to_dict(), stand_in_features=bool(args.stand_in_features), network=str(args.network),
                       data=str(args.data), mirror=args.mirror)
        write_bytes_atomic(args.json, (json.dumps(payload, indent=2) + "\n").encode())
    # The numbers are the point of this command, so they are printed even with -q.
    for line in result.lines:
        print(line)
    for about in result.about:
        print(f"  ({about})")
    if args.json is not None:
        print(f"  wrote {args.json}")
    return 0
