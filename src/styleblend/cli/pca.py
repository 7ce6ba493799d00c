"""``styleblend pca``: GANSpace-style principal directions of W - fit, list, and apply as edits."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidArgumentError
from .common import (
    MAX_SAMPLES,
    add_generator_args,
    add_truncation,
    float_list,
    int_in_range,
    load_generator,
    progress,
)
from .morph import LATENT_HELP

if TYPE_CHECKING:
    import torch


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("pca", help="principal directions of W (GANSpace): fit, list, apply as edits",
                       description="Fit a PCA of sampled w (or load one with --pca), print the components with "
                                   "their variance, write pca.npz, and with --edit render each latent moved along "
                                   "--component by each --strengths (in standard deviations) on --layers.")
    add_generator_args(p, batch=8)
    p.add_argument("--pca", type=Path, default=None, help="load this pca.npz instead of fitting")
    p.add_argument("--samples", type=int_in_range(2, MAX_SAMPLES, "--samples"), default=20000,
                   help="w samples to fit on (default 20000)")
    p.add_argument("--components", type=int_in_range(1, 4096, "--components"), default=32,
                   help="components to keep (default 32)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--list", type=int_in_range(0, 4096, "--list"), default=10, metavar="N",
                   help="print the first N components (default 10)")
    p.add_argument("--edit", action="append", default=[], metavar="LATENT", help=f"latent(s) to edit: {LATENT_HELP}")
    p.add_argument("--component", type=int, action="append", default=None, help="component index (repeatable)")
    p.add_argument("--strengths", type=float_list("strengths"), default=[-2.0, -1.0, 0.0, 1.0, 2.0],
                   help="steps in standard deviations (default -2,-1,0,1,2; write --strengths=-1,0,1 "
                        "when the list starts with a minus)")
    p.add_argument("--layers", default=None, metavar="RANGE", help="W+ layers to edit (default all)")
    add_truncation(p)
    p.add_argument("--outdir", required=True, type=Path)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The library is imported here, so that `pca --help` needs no torch.
    import torch

    from ..latents.crossover import format_layers, parse_layers
    from ..latents.files import latent_source, load_pca, save_latents, save_pca
    from ..latents.mapping import class_vector
    from ..latents.pca import apply_component, fit_pca, sample_w
    from ..media.images import make_grid, save_png
    from ..render import render_frames

    G = load_generator(args)
    written = []
    if args.pca is not None:
        pca = load_pca(args.pca, w_dim=G.w_dim)
    else:
        if args.samples < 2:
            raise InvalidArgumentError(f"--samples {args.samples} must be >= 2")
        if G.c_dim > 0 and args.class_idx is None:
            raise InvalidArgumentError("this network is conditional; pass --class to sample w for one class")
        def mapping(z: torch.Tensor) -> torch.Tensor:
            return G.mapping(z, class_vector(G.c_dim, args.class_idx, z.shape[0], z.device))

        w = sample_w(mapping, G.z_dim, args.samples, seed=args.seed, device=next(G.parameters()).device)
        pca = fit_pca(w, min(args.components, args.samples, G.w_dim))
        written.append(save_pca(args.outdir / "pca.npz", pca, meta={"network": str(args.network),
                                                                     "seed": args.seed}))
    if not args.quiet:
        cum = np.cumsum(pca.explained_ratio.numpy())
        print(f"PCA of W: {pca.num_samples} samples, {pca.num_components} components")
        print(f"{'comp':>5} {'stdev':>9} {'explained':>10} {'cumulative':>11}")
        for k in range(min(args.list, pca.num_components)):
            print(f"{k:>5} {float(pca.stdev[k]):>9.4f} {100 * float(pca.explained_ratio[k]):>9.2f}% "
                  f"{100 * cum[k]:>10.2f}%")
    if args.edit:
        components = args.component if args.component is not None else [0]
        layers = None if args.layers is None else parse_layers(args.layers, G.num_ws)
        ws = torch.cat([latent_source(s, G, args.trunc, args.trunc_cutoff, args.class_idx) for s in args.edit])
        for k in components:
            edited = torch.stack([apply_component(ws, pca, k, s, layers) for s in args.strengths], dim=1)
            flat = edited.reshape(-1, G.num_ws, G.w_dim)  # row = latent, column = strength
            with progress(args, flat.shape[0], f"pca component {k}") as cb:
                frames = render_frames(G, flat, batch_size=args.batch, noise_mode=args.noise_mode, callback=cb)
            written.append(save_png(make_grid(frames, cols=len(args.strengths)), args.outdir / f"component{k}.png"))
            written.append(save_latents(args.outdir / f"component{k}.npz", flat, "w", meta={
                "component": k, "strengths": np.asarray(args.strengths, dtype=np.float32),
                "layers": format_layers(layers) if layers is not None else "all"}))
    if not args.quiet and written:
        print("wrote " + ", ".join(str(p) for p in written))
    return 0
