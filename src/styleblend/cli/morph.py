"""``styleblend morph``: interpolate between two latents -> frames, a strip, GIF and/or MP4.

Also hosts the latent helpers the other latent-editing commands share (crossover, expression,
pca, interp-video); the general argument helpers are in :mod:`styleblend.cli.common`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidArgumentError
from ..latents.limits import EASINGS, LAYER_ORDERS

if TYPE_CHECKING:
    from ..types import Generator
from .common import (
    MAX_FRAMES,
    add_generator_args,
    add_truncation,
    check_frames,
    int_in_range,
    load_generator,
    progress,
)

if TYPE_CHECKING:
    import torch

LATENT_HELP = "seed ('42', 'seed:42'), z-file ('z:z.npy'), w-file ('w:w.npy') or a projection .npz"


# --------------------------------------------------------------------------- helpers shared by latent commands


def one_latent(ws: torch.Tensor, spec: str) -> torch.Tensor:
    """Check that a spec gave exactly one latent."""
    if ws.shape[0] != 1:
        raise InvalidArgumentError(f"'{spec}' gives {ws.shape[0]} latents where one is needed; pick one seed or row")
    return ws


def add_path_args(p: argparse.ArgumentParser) -> None:
    """Options of the path between keyframes (space, easing, per-layer schedule, psi schedule, smoothing)."""
    p.add_argument("--space", choices=["w", "z"], default="w",
                   help="interpolate W/W+ codes linearly (w, default) or z spherically (z; seeds and z-files only)")
    p.add_argument("--easing", choices=EASINGS, default="linear", help="time easing between keyframes")
    p.add_argument("--layer-order", choices=LAYER_ORDERS, default="uniform",
                   help="per-layer schedule: move coarse (or fine) styles first (W space only)")
    p.add_argument("--spread", type=float, default=0.5,
                   help="how staggered the per-layer windows are, in [0, 1) (default 0.5)")
    add_truncation(p)
    p.add_argument("--trunc-mid", type=float, default=None, metavar="PSI",
                   help="truncation psi in the middle of each transition (the ends keep --trunc)")
    p.add_argument("--smooth", type=float, default=0.0, metavar="SIGMA",
                   help="gentle Gaussian filter of the path over time, sigma in frames (default 0: off)")
    p.add_argument("--pca", type=Path, default=None, metavar="FILE",
                   help="interpolate inside a PCA subspace of W (pca.npz from `styleblend pca`)")
    p.add_argument("--pca-components", type=int, default=None, metavar="K",
                   help="subspace size for --pca (default: all components in the file)")


def keyframes(G: Generator, specs: list[str], space: str, class_idx: int | None) -> torch.Tensor:
    """z [K, z_dim] (space z) or untruncated ws [K, num_ws, w_dim] (space w) from specs, in order."""
    import torch

    from ..latents.files import latent_source, latent_source_z

    if space == "z":
        return torch.cat([latent_source_z(s, G) for s in specs])
    return torch.cat([latent_source(s, G, class_idx=class_idx) for s in specs])


def path_from_args(G: Generator, keys: torch.Tensor, args: argparse.Namespace, frames_per_segment: int,
                   closed: bool) -> torch.Tensor:
    from ..latents.files import load_pca
    from ..latents.paths import build_path

    pca = load_pca(args.pca, G.w_dim) if args.pca is not None else None
    return build_path(G, keys, space=args.space, frames_per_segment=frames_per_segment, closed=closed,
                      easing=args.easing, layer_order=args.layer_order, spread=args.spread, psi=args.trunc,
                      psi_middle=args.trunc_mid, truncation_cutoff=args.trunc_cutoff, smooth_sigma=args.smooth,
                      class_idx=args.class_idx, pca=pca, pca_components=args.pca_components)


# --------------------------------------------------------------------------- the command


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("morph", help="interpolate between two latents (frames, strip, GIF, MP4)",
                       description="Morph from one latent to another (Image2StyleGAN 4.1): lerp in W/W+ or slerp "
                                   "in Z, with optional per-layer and truncation schedules and smoothing. Writes "
                                   "strip.png always, and frames/, morph.gif, morph.mp4 and path.npz on request.")
    add_generator_args(p)
    p.add_argument("--from", dest="src", required=True, metavar="LATENT", help=LATENT_HELP)
    p.add_argument("--to", dest="dst", required=True, metavar="LATENT", help=LATENT_HELP)
    p.add_argument("--via", action="append", default=[], metavar="LATENT",
                   help="intermediate keyframe (repeatable); --steps then counts frames per transition + 1")
    p.add_argument("--steps", type=int_in_range(2, MAX_FRAMES, "--steps"), default=16,
                   help="frames from --from to --to including both (default 16)")
    add_path_args(p)
    p.add_argument("--outdir", required=True, type=Path)
    p.add_argument("--strip", type=int_in_range(0, 64, "--strip"), default=8, metavar="N",
                   help="frames in strip.png (default 8; 0: no strip)")
    p.add_argument("--frames", action="store_true", help="write every frame as frames/frame0000.png")
    p.add_argument("--gif", action="store_true", help="write morph.gif")
    p.add_argument("--mp4", action="store_true", help="write morph.mp4 (needs imageio-ffmpeg)")
    p.add_argument("--fps", type=float, default=24.0)
    p.add_argument("--save-latents", action="store_true", help="write the path's ws to path.npz")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The library is imported here, so that `morph --help` needs no torch.
    from ..latents.files import save_latents
    from ..latents.paths import strip_indices
    from ..media.images import make_grid, save_png
    from ..media.video import check_video_path, write_video
    from ..render import render_frames

    if args.steps < 2:
        raise InvalidArgumentError(f"--steps {args.steps} must be >= 2 (the two endpoints)")
    if args.gif:
        check_video_path("morph.gif", args.fps)
    if args.mp4:
        check_video_path("morph.mp4", args.fps)
    G = load_generator(args)
    specs = [args.src, *args.via, args.dst]
    check_frames((args.steps - 1) * (len(specs) - 1) + 1, G, "--steps or the number of --via keyframes")
    keys = keyframes(G, specs, args.space, args.class_idx)
    if keys.shape[0] != len(specs):
        raise InvalidArgumentError(
            f"--from/--via/--to must each name one latent, but they gave {keys.shape[0]} for {len(specs)} keyframes")
    ws = path_from_args(G, keys, args, frames_per_segment=args.steps - 1, closed=False)
    with progress(args, ws.shape[0], "morph") as cb:
        frames = render_frames(G, ws, batch_size=args.batch, noise_mode=args.noise_mode, callback=cb)
    written = []
    if args.strip > 0:
        idx = strip_indices(len(frames), args.strip)
        written.append(save_png(make_grid(frames[idx], cols=len(idx)), args.outdir / "strip.png"))
    if args.frames:
        for i, frame in enumerate(frames):
            save_png(frame, args.outdir / "frames" / f"frame{i:04d}.png")
        written.append(args.outdir / "frames" / f"frame0000-{len(frames) - 1:04d}.png")
    for flag, name in ((args.gif, "morph.gif"), (args.mp4, "morph.mp4")):
        if flag:
            written.append(write_video(frames, args.outdir / name, fps=args.fps,
                                       expected_frames=len(frames)).path)
    if args.save_latents:
        written.append(save_latents(args.outdir / "path.npz", ws, "w",
                                    meta={"space": args.space, "keyframes": np.asarray(specs)}))
    if not args.quiet:
        print(f"morph of {len(frames)} frames: " + ", ".join(str(p) for p in written))
    return 0
