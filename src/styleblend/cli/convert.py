"""``styleblend convert``: between native, rosinality and (into an existing) NVIDIA pickle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..io.registry import format_names, get_format
from .common import check_outputs


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "convert", help="convert a checkpoint to another format",
        description="Convert a checkpoint, saying what the target format cannot hold (one warning each). "
                    "'nvidia-pkl' output puts the tensors into a copy of an existing NVIDIA pickle and never "
                    "writes code: the network's own pickle, --template, or the pickle its training run "
                    "started from ('train --resume x.pkl' snapshots remember it).")
    p.add_argument("--network", required=True, help="the checkpoint to convert (any supported format)")
    p.add_argument("--to", required=True, choices=format_names(writable=True))
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--template", type=Path, default=None,
                   help="nvidia-pkl only: the NVIDIA pickle of the same architecture to write into, e.g. the one "
                        "a fine-tune started from (default: the one its snapshot remembers)")
    p.add_argument("--fp16", action="store_true", help="native only: store weights as float16 (half the size)")
    p.add_argument("--force", action="store_true", help="allow --out to replace an input file")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch  # here, so that `convert --help` needs no torch

    from ..io import load_checkpoint
    from ..io.conversion import convert_checkpoint, find_template

    check_outputs([args.out], [i for i in (args.network, args.template) if i is not None], force=args.force)
    ckpt = load_checkpoint(args.network)
    template = find_template(ckpt, args.template) if get_format(args.to).into_existing else args.template
    if template is not None:  # e.g. the pickle a snapshot remembers
        check_outputs([args.out], [template], force=args.force)
    done = convert_checkpoint(ckpt, args.out, args.to, template=template,
                              dtype=torch.float16 if args.fp16 else None)
    if not args.quiet:
        into = f", into the structure of {done.template}" if done.template is not None else ""
        print(f"wrote {done.path} ({done.fmt}{into}; networks: {', '.join(done.networks)})")
        for item in done.dropped:
            print(f"warning: not converted: {item}", file=sys.stderr)
        for item in done.kept:
            print(f"warning: kept {item}", file=sys.stderr)
    return 0
