"""``styleblend transform-video``: a StyleGAN3 video of a translation and/or rotation sweep.

Every frame renders the same latents with the input's user transform moved one step further (as NVIDIA's
gen_images.py ``--translate``/``--rotate`` set it for one image), so the video shows what StyleGAN3 was
built for: the image content moves and turns with its input, without texture sticking to the pixel grid.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InvalidArgumentError
from ..media.video import check_video_path, write_video
from .common import (
    MAX_FRAMES,
    PRECISIONS,
    add_generator_args,
    add_truncation,
    check_frames,
    finite_float,
    int_in_range,
    int_list,
    load_network,
    progress,
    resolve_device,
)
from .morph import LATENT_HELP


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("transform-video", help="StyleGAN3: video of a translation and/or rotation sweep",
                       description="Render seeds or latents once per frame while the image moves from the start to "
                                   "the end of --translate and turns from the start to the end of --rotate (a "
                                   "StyleGAN3 model's input transform, as NVIDIA's gen_images.py sets it). Several "
                                   "images share each frame as a grid. Writes .mp4 (imageio-ffmpeg) or .gif.")
    add_generator_args(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--seeds", type=int_list("seeds"), help="seeds to render, e.g. 0-3 (one grid cell each)")
    src.add_argument("--latents", action="append", metavar="LATENT",
                     help=f"latents to render (repeatable; a file gives all its rows): {LATENT_HELP}")
    add_truncation(p)
    p.add_argument("--translate", type=_translate_sweep, default=None, metavar="X,Y[:X,Y]",
                   help="start:end of the translation in image widths, e.g. 0,0:0.25,0 (one X,Y: fixed)")
    p.add_argument("--rotate", type=_rotate_sweep, default=None, metavar="DEG[:DEG]",
                   help="start:end of the rotation in degrees, e.g. 0:360 (one DEG: fixed)")
    p.add_argument("--frames", type=int_in_range(1, MAX_FRAMES, "--frames"), default=60,
                   help="frames from the start to the end (default 60)")
    close = p.add_mutually_exclusive_group()
    close.add_argument("--loop", action="store_true",
                       help="stop one step short of the end, so that a full turn (--rotate 0:360) loops seamlessly")
    close.add_argument("--bounce", action="store_true",
                       help="go to the end and back again (2 x --frames - 2 frames; a loop for any sweep)")
    p.add_argument("--cols", type=int_in_range(1, None, "--cols"), default=None,
                   help="grid columns when several images share a frame (default: a near-square grid)")
    p.add_argument("--out", required=True, type=Path, help="output video: .mp4 (imageio-ffmpeg) or .gif")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--quality", type=int_in_range(0, 10, "--quality"), default=8, help="MP4 quality 0-10 (default 8)")
    p.set_defaults(func=run)


def _pair(text: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"'{text[:40]}' must be two numbers X,Y (e.g. 0.2,-0.1)")
    x, y = (finite_float(part) for part in parts)
    return x, y


def _translate_sweep(text: str) -> tuple[tuple[float, float], tuple[float, float]]:
    ends = text.split(":")
    if len(ends) > 2:
        raise argparse.ArgumentTypeError(f"--translate '{text[:60]}' must be X,Y or X0,Y0:X1,Y1")
    start = _pair(ends[0])
    return start, _pair(ends[-1])


def _rotate_sweep(text: str) -> tuple[float, float]:
    ends = text.split(":")
    if len(ends) > 2:
        raise argparse.ArgumentTypeError(f"--rotate '{text[:60]}' must be DEG or START:END (e.g. 0:360)")
    return finite_float(ends[0]), finite_float(ends[-1])


def run(args: argparse.Namespace) -> int:
    import torch

    from ..latents.files import latent_source
    from ..latents.mapping import seeds_to_ws
    from ..render import iter_transform_frames, transform_sweep

    suffix = check_video_path(args.out, args.fps)  # a missing imageio-ffmpeg or a bad name fails before any loading
    if args.translate is None and args.rotate is None:
        raise InvalidArgumentError("nothing sweeps: give --rotate START:END (e.g. 0:360) and/or --translate "
                                   "X0,Y0:X1,Y1 (e.g. 0,0:0.25,0)")
    steps = transform_sweep(args.frames, args.translate or ((0.0, 0.0), (0.0, 0.0)), args.rotate or (0.0, 0.0),
                            loop=args.loop, bounce=args.bounce)
    ckpt = load_network(args)
    mixed, fp16_path = PRECISIONS[args.precision]
    G = ckpt.generator(resolve_device(args.device), mixed_precision=mixed, fp16_path=fp16_path)
    if args.seeds is not None:
        ws = seeds_to_ws(G, args.seeds, args.trunc, args.trunc_cutoff, args.class_idx)
    else:
        ws = torch.cat([latent_source(spec, G, args.trunc, args.trunc_cutoff, args.class_idx)
                        for spec in args.latents])
    if args.cols is not None and args.cols > ws.shape[0]:
        raise InvalidArgumentError(f"--cols {args.cols} is more than the {ws.shape[0]} images of a frame; give at "
                                   f"most {ws.shape[0]}")
    if suffix == ".gif":  # GIF frames are gathered before writing (MP4 streams them)
        check_frames(len(steps) * ws.shape[0], G, "--frames or the images per frame (or write .mp4)")
    with progress(args, len(steps), "transform-video") as cb:
        frames = iter_transform_frames(G, ws, steps, cols=args.cols, noise_mode=args.noise_mode,
                                       batch_size=args.batch, callback=cb)
        info = write_video(frames, args.out, fps=args.fps, quality=args.quality, expected_frames=len(steps))
    if not args.quiet:
        print(f"wrote {info.path} ({info.num_frames} frames, {info.width}x{info.height}, {info.fps:g} fps, "
              f"{ws.shape[0]} image(s) per frame)")
    return 0

