"""``styleblend generate``: images from seeds or latent files, NVIDIA generate.py conventions."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import InvalidArgumentError
from ..media.images import make_grid, save_png, to_uint8
from ..render import render_with_seed_noise, render_ws, seeds_to_ws
from .common import (
    add_generator_args,
    add_truncation,
    int_list,
    load_network,
    progress,
    resolve_device,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="render images from seeds or latent files",
                       description="Render images; seed N gives the same image as NVIDIA's generate.py.")
    add_generator_args(p, batch=8, seed_noise=True)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--seeds", type=int_list("seeds"), help="e.g. 0-7,42")
    src.add_argument("--z-file", help=".npy/.npz with rows of z [n, z_dim]")
    src.add_argument("--w-file", help=".npy/.npz with W [n, w_dim] or W+ [n, num_ws, w_dim] (e.g. a projection)")
    add_truncation(p)
    p.add_argument("--outdir", required=True, type=Path)
    p.add_argument("--grid", action="store_true", help="also write grid.png of all images")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.seeds is None and args.z_file is None and args.w_file is None:
        raise InvalidArgumentError("nothing to render: pass --seeds, --z-file or --w-file")
    if args.noise_mode == "seed" and args.seeds is None:
        raise InvalidArgumentError("--noise-mode seed draws the noise from each seed; it needs --seeds")
    ckpt = load_network(args)
    G = ckpt.generator(resolve_device(args.device), mixed_precision=args.precision == "nvidia")
    if args.seeds is not None:
        ws = seeds_to_ws(G, args.seeds, args.trunc, args.trunc_cutoff, args.class_idx)
        names = [f"seed{s:04d}.png" for s in args.seeds]
    else:
        from ..latents.files import load_ws

        path = args.z_file or args.w_file
        ws = load_ws(path, G, truncation_psi=args.trunc, truncation_cutoff=args.trunc_cutoff,
                     class_idx=args.class_idx, kind="z" if args.z_file else "w")
        prefix = "z" if args.z_file else "w"
        names = [f"{prefix}{i:04d}.png" for i in range(ws.shape[0])]
    with progress(args, len(names), "generate") as cb:
        if args.noise_mode == "seed":
            imgs = render_with_seed_noise(G, ws, args.seeds, progress=cb)
        else:
            imgs = render_ws(G, ws, noise_mode=args.noise_mode, batch_size=args.batch, progress=cb)
    arrays = to_uint8(imgs)
    for name, array in zip(names, arrays):
        save_png(array, args.outdir / name)
    written = f"{len(names)} images"
    if args.grid:
        save_png(make_grid(arrays, cols=math.ceil(math.sqrt(len(arrays)))), args.outdir / "grid.png")
        written += " + grid.png"
    if not args.quiet:
        print(f"wrote {written} to {args.outdir}")
    return 0


