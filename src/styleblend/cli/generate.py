"""``styleblend generate``: images from seeds or latent files, NVIDIA generate.py conventions."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError
from .common import (
    PRECISIONS,
    add_generator_args,
    add_truncation,
    finite_float,
    int_list,
    load_network,
    progress,
    render_generator,
    resolve_device,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="render images from seeds or latent files",
                       description="Render images; seed N gives the same image as NVIDIA's generate.py.")
    add_generator_args(p, seed_noise=True)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--seeds", type=int_list("seeds"), help="e.g. 0-7,42")
    src.add_argument("--z-file", help=".npy/.npz with rows of z [n, z_dim]")
    src.add_argument("--w-file", help=".npy/.npz with W [n, w_dim] or W+ [n, num_ws, w_dim] (e.g. a projection)")
    add_truncation(p)
    p.add_argument("--translate", type=_translate, default=None, metavar="X,Y",
                   help="StyleGAN3 only: move the image by X,Y image widths, as NVIDIA's gen_images.py (e.g. 0.2,-0.1)")
    p.add_argument("--rotate", type=finite_float, default=None, metavar="DEG",
                   help="StyleGAN3 only: rotate the image by DEG degrees, as NVIDIA's gen_images.py")
    p.add_argument("--outdir", required=True, type=Path)
    p.add_argument("--grid", action="store_true", help="also write grid.png of all images")
    p.set_defaults(func=run)


def _translate(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"--translate {text!r} must be two numbers X,Y (e.g. 0.2,-0.1)")
    x, y = (finite_float(p) for p in parts)
    return x, y


#: Most images --grid puts into one grid.png (a larger grid is a huge image nobody can view).
MAX_GRID = 1024


def run(args: argparse.Namespace) -> int:
    # The library is imported here, so that `generate --help` needs no torch.
    from ..latents.mapping import seeds_to_ws
    from ..media.images import make_grid, save_png, to_uint8
    from ..render import render_with_seed_noise, render_ws, set_user_transform

    if args.seeds is None and args.z_file is None and args.w_file is None:
        raise InvalidArgumentError("nothing to render: pass --seeds, --z-file or --w-file")
    if args.noise_mode == "seed" and args.seeds is None:
        raise InvalidArgumentError("--noise-mode seed draws the noise from each seed; it needs --seeds")
    if args.grid and args.seeds is not None and len(args.seeds) > MAX_GRID:
        raise InvalidArgumentError(f"--grid takes at most {MAX_GRID} images, but {len(args.seeds)} seeds were given; "
                                   "drop --grid or render fewer seeds")
    mixed, fp16_path = PRECISIONS[args.precision]
    G = render_generator(load_network(args), resolve_device(args.device), mixed, fp16_path)
    # gen_images.py writes its --translate/--rotate matrix (the identity by default) into every StyleGAN3 model
    # before rendering, so a transform stored in the file never shows; StyleGAN2 models refuse the options.
    if args.translate is not None or args.rotate is not None or hasattr(G.synthesis, "set_transform"):
        set_user_transform(G, args.translate or (0.0, 0.0), args.rotate or 0.0)
    if args.seeds is not None:
        total, names = len(args.seeds), [f"seed{s:04d}.png" for s in args.seeds]

        def ws_of(start: int, stop: int):
            return seeds_to_ws(G, args.seeds[start:stop], args.trunc, args.trunc_cutoff, args.class_idx)
    else:
        from ..latents.files import load_ws

        path = args.z_file or args.w_file
        all_ws = load_ws(path, G, truncation_psi=args.trunc, truncation_cutoff=args.trunc_cutoff,
                         class_idx=args.class_idx, kind="z" if args.z_file else "w")
        prefix = "z" if args.z_file else "w"
        total, names = all_ws.shape[0], [f"{prefix}{i:04d}.png" for i in range(all_ws.shape[0])]
        if args.grid and total > MAX_GRID:
            raise InvalidArgumentError(f"--grid takes at most {MAX_GRID} images, but '{path}' holds {total}; "
                                       "drop --grid")

        def ws_of(start: int, stop: int):
            return all_ws[start:stop]
    # Render and write one batch at a time: memory stays that of one batch, however many seeds.
    kept = []
    with progress(args, total, "generate") as cb:
        for start in range(0, total, args.batch):
            stop = min(start + args.batch, total)
            ws = ws_of(start, stop)
            if args.noise_mode == "seed":
                imgs = render_with_seed_noise(G, ws, args.seeds[start:stop])
            else:
                imgs = render_ws(G, ws, noise_mode=args.noise_mode, batch_size=args.batch)
            arrays = to_uint8(imgs)
            for name, array in zip(names[start:stop], arrays):
                save_png(array, args.outdir / name)
            if args.grid:
                kept.append(arrays)
            cb(stop, total)
    written = f"{total} images"
    if args.grid:
        arrays = np.concatenate(kept)
        save_png(make_grid(arrays, cols=math.ceil(math.sqrt(len(arrays)))), args.outdir / "grid.png")
        written += " + grid.png"
    if not args.quiet:
        print(f"wrote {written} to {args.outdir}")
    return 0
