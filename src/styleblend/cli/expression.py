"""``styleblend expression``: expression transfer w = w1 + lambda (w3 - w2) with a channel threshold."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..latents.limits import NORMALIZE
from .common import (
    add_generator_args,
    add_truncation,
    float_list,
    load_generator,
    progress,
)
from .morph import LATENT_HELP, one_latent


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("expression", help="transfer an expression: w1 + lambda (w3 - w2), thresholded",
                       description="Image2StyleGAN 4.3: add the difference between an expressive (w3) and a neutral "
                                   "(w2) latent to a target (w1). Channels of the difference whose L2 norm across "
                                   "layers is below --threshold are zeroed. Writes strip.png (one image per lambda) "
                                   "and expression.npz.")
    add_generator_args(p)
    p.add_argument("--target", required=True, metavar="LATENT", help=f"w1, the face to edit: {LATENT_HELP}")
    p.add_argument("--neutral", required=True, metavar="LATENT", help=f"w2, neutral expression: {LATENT_HELP}")
    p.add_argument("--expressive", required=True, metavar="LATENT", help=f"w3, with the expression: {LATENT_HELP}")
    p.add_argument("--lambdas", type=float_list("lambdas"), default=[0.0, 0.5, 1.0, 1.5],
                   help="edit strengths (default 0,0.5,1,1.5; write --lambdas=-1,0,1 when it starts with a minus)")
    p.add_argument("--threshold", type=float, default=1.0, help="channel threshold tau (default 1, as the paper)")
    p.add_argument("--normalize", choices=NORMALIZE, default="none",
                   help="rescale the difference: none, unit (whole code norm 1) or layer (each layer norm 1)")
    add_truncation(p)
    p.add_argument("--outdir", required=True, type=Path)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The library is imported here, so that `expression --help` needs no torch.
    from ..latents.expression import expression_delta, expression_strip, threshold_channels
    from ..latents.files import latent_source, save_latents
    from ..media.images import make_grid, save_png
    from ..render import render_frames

    G = load_generator(args)
    w1, w2, w3 = (one_latent(latent_source(spec, G, args.trunc, args.trunc_cutoff, args.class_idx), spec)
                  for spec in (args.target, args.neutral, args.expressive))
    _, keep = threshold_channels(w3 - w2, args.threshold)
    delta = expression_delta(w2, w3, args.threshold, args.normalize)
    ws = expression_strip(w1, delta, args.lambdas)
    with progress(args, ws.shape[0], "expression") as cb:
        frames = render_frames(G, ws, batch_size=args.batch, noise_mode=args.noise_mode, callback=cb)
    strip = save_png(make_grid(frames, cols=len(frames)), args.outdir / "strip.png")
    lat = save_latents(args.outdir / "expression.npz", ws, "w",
                       meta={"lambdas": np.asarray(args.lambdas, dtype=np.float32), "threshold": args.threshold,
                             "normalize": args.normalize})
    if not args.quiet:
        kept = int(keep.sum())
        print(f"expression: kept {kept}/{keep.numel()} channels (threshold {args.threshold:g}); "
              f"lambdas {','.join(f'{v:g}' for v in args.lambdas)} -> {strip}, {lat}")
    return 0
