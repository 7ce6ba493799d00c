"""``styleblend interp-video``: a looping interpolation video through many seeds or latents."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InvalidArgumentError
from .common import MAX_FRAMES, add_generator_args, int_in_range, int_list, load_generator, progress
from .morph import LATENT_HELP, add_path_args, keyframes, path_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("interp-video", help="looping interpolation video through seeds or latents",
                       description="Visit every keyframe in turn and return to the first (a seamless loop; "
                                   "--open stops at the last). Frames are rendered in batches and streamed to "
                                   "the video (.mp4 or .gif).")
    add_generator_args(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--seeds", type=int_list("seeds"), help="keyframe seeds, e.g. 0-7")
    src.add_argument("--latents", action="append", metavar="LATENT",
                     help=f"keyframes (repeatable; a file gives all its rows): {LATENT_HELP}")
    p.add_argument("--frames-per-key", type=int_in_range(1, MAX_FRAMES, "--frames-per-key"), default=30,
                   help="frames per transition (default 30)")
    p.add_argument("--open", action="store_true", help="do not return to the first keyframe")
    add_path_args(p)
    p.add_argument("--out", required=True, type=Path, help="output video: .mp4 (imageio-ffmpeg) or .gif")
    p.add_argument("--fps", type=float, default=30.0)
    p.add_argument("--quality", type=int_in_range(0, 10, "--quality"), default=8, help="MP4 quality 0-10 (default 8)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The library is imported here, so that `video --help` needs no torch.
    from ..media.video import check_video_path, write_video
    from ..render import iter_frames

    check_video_path(args.out, args.fps)
    if args.frames_per_key < 1:
        raise InvalidArgumentError(f"--frames-per-key {args.frames_per_key} must be >= 1")
    G = load_generator(args)
    if args.seeds is not None:
        keys = keyframes(G, [f"seed:{s}" for s in args.seeds], args.space, args.class_idx)
    else:
        keys = keyframes(G, args.latents, args.space, args.class_idx)  # a file contributes all its rows
    if keys.shape[0] < 2:
        raise InvalidArgumentError(f"a video needs at least 2 keyframes, got {keys.shape[0]}; add seeds or latents")
    ws = path_from_args(G, keys, args, frames_per_segment=args.frames_per_key, closed=not args.open)
    with progress(args, ws.shape[0], "interp-video") as cb:
        info = write_video(iter_frames(G, ws, batch_size=args.batch, noise_mode=args.noise_mode, callback=cb),
                           args.out, fps=args.fps, quality=args.quality, expected_frames=ws.shape[0])
    if not args.quiet:
        print(f"wrote {info.path} ({info.num_frames} frames, {info.width}x{info.height}, {info.fps:g} fps, "
              f"{keys.shape[0]} keyframes, {'open' if args.open else 'loop'})")
    return 0
