"""``styleblend mix``: style-mixing grid as NVIDIA's style_mixing.py builds it."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError
from .common import add_generator_args, add_truncation, int_list, load_generator


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("mix", help="style-mixing grid of row and column seeds",
                       description="Cell (row, col) takes the row seed's ws with --styles taken from the column seed; "
                                   "files {row}-{col}.png, {seed}-{seed}.png for originals, and grid.png.")
    add_generator_args(p)
    p.add_argument("--rows", required=True, type=int_list("row seeds"))
    p.add_argument("--cols", required=True, type=int_list("column seeds"))
    p.add_argument("--styles", type=int_list("styles"), default=None,
                   help="W+ indices copied from the column seed (default 0-6: coarse and middle; for a network "
                        "of 7 or fewer W+ rows, its coarsest ~7/18)")
    add_truncation(p)
    p.add_argument("--outdir", required=True, type=Path)
    p.set_defaults(func=run)


#: Most cells of one mixing grid (rows x columns).
MAX_CELLS = 1024


def run(args: argparse.Namespace) -> int:
    # The library is imported here, so that `mix --help` needs no torch.
    import torch

    from ..latents.crossover import default_mix_styles, mix_styles
    from ..latents.mapping import seeds_to_ws
    from ..media.images import make_grid, save_png, to_uint8
    from ..render import render_ws

    count = len(args.rows) * len(args.cols)
    if count > MAX_CELLS:
        raise InvalidArgumentError(f"{len(args.rows)} rows x {len(args.cols)} columns are {count} images; a grid "
                                   f"holds at most {MAX_CELLS}; give fewer --rows or --cols")
    G = load_generator(args)
    seeds = list(dict.fromkeys(args.rows + args.cols))
    all_ws = seeds_to_ws(G, seeds, args.trunc, args.trunc_cutoff, args.class_idx)
    by_seed = {s: all_ws[i] for i, s in enumerate(seeds)}
    row_ws = torch.stack([by_seed[s] for s in args.rows])
    col_ws = torch.stack([by_seed[s] for s in args.cols])
    styles = default_mix_styles(G.num_ws) if args.styles is None else args.styles
    mixed = mix_styles(row_ws, col_ws, styles)
    originals = to_uint8(render_ws(G, all_ws, noise_mode=args.noise_mode, batch_size=args.batch))
    cells = to_uint8(render_ws(G, mixed.reshape(-1, *mixed.shape[2:]), noise_mode=args.noise_mode,
                               batch_size=args.batch))
    image = {s: originals[i] for i, s in enumerate(seeds)}
    for i, (r, c) in enumerate((r, c) for r in args.rows for c in args.cols):
        save_png(cells[i], args.outdir / f"{r}-{c}.png")
    for s in seeds:
        save_png(image[s], args.outdir / f"{s}-{s}.png")
    # Grid as NVIDIA: top-left blank, column originals on top, row originals on the left.
    blank = np.zeros_like(originals[0])
    tiles = [blank] + [image[c] for c in args.cols]
    for ri, r in enumerate(args.rows):
        tiles.append(image[r])
        tiles.extend(cells[ri * len(args.cols): (ri + 1) * len(args.cols)])
    save_png(make_grid(np.stack(tiles), cols=len(args.cols) + 1), args.outdir / "grid.png")
    if not args.quiet:
        print(f"wrote {len(cells)} mixed images, {len(seeds)} originals and grid.png to {args.outdir}")
    return 0

