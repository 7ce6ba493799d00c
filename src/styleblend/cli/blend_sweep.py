"""``styleblend blend-sweep``: an α sweep of a two-model blend as a GIF, an MP4 or a zip of named PNGs.

The same files as the web UI's "Export an α sweep": the swap resolution through the model's resolutions, or
one resolution's α from 0 to 1 in N frames with the others from ``--table``. The work is
:func:`styleblend.blend.sweep.iter_sweep` and :func:`~styleblend.blend.sweep.save_sweep`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_device, int_list, psi_arg, resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("blend-sweep", help="an α sweep of a blend (swap resolution or one slider) as GIF/MP4/zip",
                       description="Render a blend of --base and --transfer frame by frame while one choice moves: "
                                   "the swap resolution (default) or, with --slider R, the α at R from 0 to 1.")
    p.add_argument("--base", required=True, help="base model")
    p.add_argument("--transfer", required=True, help="transfer model (fine-tuned from the base)")
    p.add_argument("--out", type=Path, required=True,
                   help="sweep.gif, sweep.mp4 (needs imageio-ffmpeg) or sweep.zip (one PNG per seed and frame, "
                        "and sweep.json)")
    p.add_argument("--slider", type=int, default=None, metavar="R",
                   help="sweep the α at resolution R from 0 to 1 (default: sweep the swap resolution)")
    p.add_argument("--frames", type=int, default=9, help="frames of a --slider sweep (default 9)")
    p.add_argument("--table", default="*:0", metavar="TABLE",
                   help="α of the other resolutions in a --slider sweep, e.g. 4:1,8:1,*:0 (default all 0)")
    p.add_argument("--flip", action="store_true", help="swap sweep: structure from the base, rendering from the "
                                                       "transfer")
    p.add_argument("--seeds", type=int_list("seeds"), default=[1], help="seeds side by side (default 1; at most 8)")
    p.add_argument("--trunc", type=psi_arg("--trunc"), default=0.7, metavar="PSI", help="truncation psi (default 0.7)")
    p.add_argument("--mapping", choices=("base", "transfer", "blend"), default="base",
                   help="the blend's mapping network and w_avg (default base)")
    p.add_argument("--fps", type=float, default=4.0, help="frames per second of a GIF or MP4 (default 4)")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The library is imported here, so that `blend-sweep --help` needs no torch.
    from ..blend.schedules import parse_table
    from ..blend.sweep import check_sweep_path, iter_sweep, save_sweep, slider_frames, swap_frames, sweep_config
    from ..io import load_checkpoint
    from ..nn.naming import param_info

    check_sweep_path(args.out, args.fps)  # a bad suffix, or MP4 without imageio-ffmpeg, before any loading
    device = resolve_device(args.device)
    base, transfer = load_checkpoint(args.base), load_checkpoint(args.transfer)
    resolutions = list(sweep_config(base.g_config).block_resolutions)
    if args.slider is None:
        frames = swap_frames(resolutions, flip=args.flip, up_to=transfer.g_config.img_resolution)
    else:
        table = parse_table(args.table)
        table.validate(base.g_config)
        alphas = [table.alpha(param_info(f"synthesis.b{r}.conv1.weight")) for r in resolutions]
        frames = slider_frames(resolutions, alphas, args.slider, args.frames)
    images = iter_sweep(base.g_ema, transfer.g_ema, base.g_config, frames, args.seeds, args.trunc, args.mapping,
                        device=device)
    out = save_sweep(images, frames, args.seeds, args.out, fps=args.fps,
                     manifest={"truncation_psi": args.trunc, "mapping": args.mapping,
                               "base": str(args.base), "transfer": str(args.transfer)})
    print(f"wrote {out.path} ({out.num_frames} frames: {frames[0].label} .. {frames[-1].label}, "
          f"seeds {', '.join(map(str, args.seeds))})")
    return 0
