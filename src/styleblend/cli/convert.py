"""``styleblend convert``: between native, rosinality and (into an existing) NVIDIA pickle."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..io import load_checkpoint, save_checkpoint
from ..io.formats import native


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a checkpoint to another format",
                       description="Convert a checkpoint. 'nvidia-pkl' output is only possible from an NVIDIA "
                                   "pickle (its tensors are replaced in a copy of it); it never writes code.")
    p.add_argument("--network", required=True)
    p.add_argument("--to", required=True, choices=["native", "rosinality", "nvidia-pkl"])
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--fp16", action="store_true", help="native only: store weights as float16 (half the size)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    ckpt = load_checkpoint(args.network)
    if args.to == "native" and args.fp16:
        native.write(ckpt, args.out, dtype=torch.float16)
    else:
        save_checkpoint(ckpt, args.out, args.to)
    kept = [n for n in ("g_ema", "g", "d") if getattr(ckpt, n) is not None]
    if not args.quiet:
        print(f"wrote {args.out} ({args.to}; networks: {', '.join(kept)})")
        for note in ckpt.meta.get("dropped") or []:
            print(f"note: not converted: {note}")
    return 0
