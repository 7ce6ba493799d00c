"""``styleblend dataset``: a folder or zip of images -> a training zip in NVIDIA's dataset_tool layout."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InvalidArgumentError
from .common import int_in_range, progress_bar


def _colour(text: str) -> tuple[int, int, int]:
    parts = text.split(",")
    try:
        rgb = tuple(int(p) for p in parts)
    except ValueError:
        rgb = ()
    if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
        raise argparse.ArgumentTypeError(f"'{text}' is not a colour like 255,255,255")
    return rgb


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("dataset", help="prepare a training zip (centre crop, resize, RGB)",
                       description="Centre-crop, resize and convert images to RGB (alpha composited on --background) "
                                   "into a zip of PNGs + dataset.json that both styleblend and NVIDIA's training read. "
                                   "Unreadable files are skipped and counted.")
    p.add_argument("--source", required=True, type=Path, help="folder (recursive) or .zip of images")
    p.add_argument("--out", required=True, type=Path, help="output .zip")
    p.add_argument("--res", required=True, type=int_in_range(4, 8192, "--res"),
                   help="output resolution (power of two), e.g. 64")
    p.add_argument("--background", type=_colour, default=(255, 255, 255), help="R,G,B behind transparency")
    p.add_argument("--labels", type=Path, help="JSON {relative file name: class index} for conditional training")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..train.dataset_tool import make_dataset  # here, so that `dataset --help` needs no torch

    labels = None
    if args.labels is not None:
        try:
            labels = {str(k): int(v) for k, v in json.loads(args.labels.read_text()).items()}
        except (OSError, ValueError, AttributeError) as exc:
            raise InvalidArgumentError(f"--labels {args.labels}: expected a JSON object of name -> class index "
                                       f"({exc})") from None
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:  # created on first progress, so an early error prints one line only
            bar = progress_bar(args, total=total, desc="dataset", unit="img")
        bar.update(done - bar.n)

    try:
        report = make_dataset(args.source, args.out, args.res, background=args.background, labels=labels,
                              progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if not args.quiet:
        print(f"wrote {report.written} images to {report.out}; skipped {len(report.skipped)}")
        for name in report.skipped[:10]:
            print(f"  skipped {name}: {report.reasons.get(name, '')}")
        if len(report.skipped) > 10:
            print(f"  ... and {len(report.skipped) - 10} more")
    return 0
