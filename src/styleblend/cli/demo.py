"""``styleblend demo``: everything at a glance on the bundled emoji pair, offline, in about a minute."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .common import add_threads, int_in_range


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="show blending, mixing, morphing and embedding on the bundled models",
                       description="Writes ./styleblend-demo/ from the bundled emoji models (no download), including a "
                       "3-model blend grid with the bundled third style (or --third).")
    p.add_argument("--outdir", type=Path, default=Path("styleblend-demo"))
    p.add_argument("--base", help="use this checkpoint instead of the bundled base")
    p.add_argument("--transfer", help="use this checkpoint instead of the bundled transfer")
    p.add_argument("--third", help="use this checkpoint (fine-tuned from the same base) for the 3-model grid instead "
                   "of the bundled Fluent 3D style")
    p.add_argument("--steps", type=int_in_range(0, 100_000, "--steps"), default=200,
                   help="embedding steps per image (default 200; 0 skips)")
    add_threads(p, 1, "these 64 px models gain nothing from more, and lose much when a core is busy")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import run_demo  # here, so that `demo --help` needs no torch

    start = time.perf_counter()
    written = run_demo(args.outdir, base=args.base, transfer=args.transfer, embed_steps=args.steps,
                       report=None if args.quiet else print, third=args.third)
    if not args.quiet:
        print(f"\nwrote {len(written)} files to {args.outdir}/ in {time.perf_counter() - start:.0f} s:")
        for path, what in written:
            print(f"  {path.name:<38} {what}")
    return 0
