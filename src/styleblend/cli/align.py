"""``styleblend align``: FFHQ-style face crops from a photo (one file per face)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..align.ffhq import MIN_FACE_SIZE
from ..errors import InvalidArgumentError
from .common import int_in_range


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("align", help="crop and align faces as FFHQ did (needs styleblend[align])",
                       description="Detect faces (dlib 68-point landmarks) and write FFHQ-aligned crops. One face "
                                   "-> --out; several -> OUT_0.png, OUT_1.png, ... left to right.")
    p.add_argument("--in", dest="input", required=True, type=Path, help="photo (jpg, png, ...)")
    p.add_argument("--out", required=True, type=Path, help="output PNG")
    p.add_argument("--size", type=int_in_range(8, 4096, "--size"), default=1024,
                   help="side of the aligned image (default 1024, as FFHQ)")
    p.add_argument("--transform-size", type=int_in_range(8, 16384, "--transform-size"), default=None,
                   help="resampling size before the final downscale (default 4 x --size)")
    p.add_argument("--no-padding", action="store_true", help="black borders instead of blurred reflection")
    p.add_argument("--min-face", type=int, default=MIN_FACE_SIZE, metavar="PX",
                   help=f"skip faces narrower than this (default {MIN_FACE_SIZE}: smaller ones align blurred and "
                        "their landmarks are unreliable; 0 accepts every face)")
    p.add_argument("--predictor", default=None, help="dlib shape_predictor_68_face_landmarks.dat (default: found "
                                                   "in face-recognition-models or /usr/share/dlib)")
    p.set_defaults(func=run)


def output_paths(out: Path, count: int) -> list[Path]:
    """--out for one face; OUT_0, OUT_1, ... (same suffix) for several."""
    if count == 1:
        return [out]
    return [out.with_name(f"{out.stem}_{i}{out.suffix or '.png'}") for i in range(count)]


def run(args: argparse.Namespace) -> int:
    from ..align import align_faces, default_detector
    from ..media.images import save_png  # here, so that `align --help` needs no torch

    if args.size < 8:
        raise InvalidArgumentError(f"--size {args.size} must be at least 8")
    detector = default_detector(args.predictor)
    if args.min_face < 0:
        raise InvalidArgumentError(f"--min-face {args.min_face} must be >= 0")
    results = align_faces(args.input, args.size, detector, args.transform_size, not args.no_padding,
                          min_face_size=args.min_face)
    paths = output_paths(args.out, len(results))
    for (img, face), path in zip(results, paths):
        save_png(img, path)
        if not args.quiet:
            print(f"face at {face.box} -> {path}")
    return 0
