"""``styleblend ppl``: perceptual path length (StyleGAN) of a generator along an interpolation scheme."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import InvalidArgumentError
from ..io.atomic import write_bytes_atomic
from ..latents.limits import LAYER_ORDERS
from .common import MAX_SAMPLES, add_generator_args, int_in_range, load_generator, progress

if TYPE_CHECKING:
    from ..metrics.ppl import ImageDistance

SCHEMES = ("slerp-z", "lerp-w", "per-layer", "pca", "psi")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ppl", help="perceptual path length (StyleGAN) along an interpolation scheme",
                       description="PPL = E[d(G(path(t)), G(path(t+eps))) / eps^2], eps=1e-4, reported as the "
                                   "1%%-99%% filtered mean. d is LPIPS-style VGG-16 when its weights are available, "
                                   "else a pixel proxy (labelled in the output; not comparable to published PPL).")
    add_generator_args(p, batch=8)
    p.add_argument("--space", choices=["z", "w"], default="z", help="PPL_z (slerp in Z) or PPL_w (lerp in W)")
    p.add_argument("--scheme", choices=SCHEMES, default=None,
                   help="interpolation scheme (overrides --space): slerp-z, lerp-w, per-layer (W+ schedule), "
                        "pca (W in a PCA subspace; needs --pca), psi (truncation dip mid-path)")
    p.add_argument("--sampling", choices=["full", "end"], default="end", help="t ~ U[0,1] (full) or t in {0,1} (end)")
    p.add_argument("--samples", type=int_in_range(1, MAX_SAMPLES, "--samples"), default=1000,
                   help="number of pairs (default 1000; StyleGAN: 50000+)")
    p.add_argument("--epsilon", type=float, default=1e-4)
    p.add_argument("--crop", action="store_true", help="crop to the face region like StyleGAN (face models)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--distance", choices=["auto", "pixel"], default="auto",
                   help="auto: VGG-16 LPIPS-style if weights exist, else pixel proxy; pixel: always the proxy")
    p.add_argument("--vgg", default=None, help="VGG-16 weights file for the LPIPS-style distance")
    p.add_argument("--layer-order", choices=LAYER_ORDERS, default="coarse-first", help="for --scheme per-layer")
    p.add_argument("--spread", type=float, default=0.5, help="for --scheme per-layer (default 0.5)")
    p.add_argument("--pca", type=Path, default=None, help="pca.npz (from `styleblend pca`) for --scheme pca")
    p.add_argument("--pca-components", type=int, default=8, help="subspace size for --scheme pca (default 8)")
    p.add_argument("--trunc-mid", type=float, default=0.7, help="mid-path psi for --scheme psi (default 0.7)")
    p.add_argument("--json", type=Path, default=None, help="also write the result as JSON")
    p.set_defaults(func=run)


def make_scheme(args: argparse.Namespace, w_dim: int):
    from ..latents.files import load_pca
    from ..metrics.ppl import (
        layer_schedule_scheme,
        lerp_w_scheme,
        pca_subspace_scheme,
        psi_schedule_scheme,
        slerp_z_scheme,
    )

    name = args.scheme or ("slerp-z" if args.space == "z" else "lerp-w")
    if name == "slerp-z":
        return slerp_z_scheme(args.class_idx)
    if name == "lerp-w":
        return lerp_w_scheme(args.class_idx)
    if name == "per-layer":
        return layer_schedule_scheme(args.layer_order, args.spread, args.class_idx)
    if name == "psi":
        return psi_schedule_scheme(args.trunc_mid, 1.0, args.class_idx)
    if args.pca is None:
        raise InvalidArgumentError("--scheme pca needs --pca FILE; make one with `styleblend pca --outdir D`")
    return pca_subspace_scheme(load_pca(args.pca, w_dim), args.pca_components, args.class_idx)


def run(args: argparse.Namespace) -> int:
    # The library is imported here, so that `ppl --help` needs no torch.
    from ..metrics.ppl import PixelProxyDistance, default_distance, perceptual_path_length

    G = load_generator(args)
    scheme = make_scheme(args, G.w_dim)
    distance: ImageDistance
    if args.distance == "pixel":
        distance = PixelProxyDistance()
    else:
        distance = default_distance(args.vgg, next(G.parameters()).device)
    with progress(args, args.samples, "ppl") as cb:
        result = perceptual_path_length(G, num_samples=args.samples, epsilon=args.epsilon, scheme=scheme,
                                        sampling=args.sampling, crop=args.crop, batch_size=args.batch,
                                        distance=distance, seed=args.seed, callback=cb)
    if args.json is not None:
        payload = {"ppl": result.filtered_mean, "mean": result.mean, "scheme": result.scheme,
                   "sampling": result.sampling, "distance": result.distance, "epsilon": result.epsilon,
                   "crop": result.crop, "num_samples": result.num_samples, "network": str(args.network)}
        write_bytes_atomic(args.json, (json.dumps(payload, indent=2) + "\n").encode())
    # The result is the point of this command, so it is printed even with -q.
    print(result.summary())
    return 0
