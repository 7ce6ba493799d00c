"""``styleblend diff``: per-resolution weight distances between two generators, before blending."""

from __future__ import annotations

import argparse

from ..errors import InvalidArgumentError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("diff", help="compare two generators layer by layer (are they base + fine-tune?)",
                       description="Print the relative weight distance ||A-B|| / ||A|| per resolution (and layer), "
                                   "warn when the models do not look like a base and its fine-tune, and show "
                                   "which resolutions fine-tuning changed most.")
    p.add_argument("a", help="reference model, usually the base")
    p.add_argument("b", help="the other model, usually the transfer")
    p.add_argument("--per-layer", action="store_true", help="also list every layer and parameter group")
    p.add_argument("--which", choices=["g_ema", "g"], default="g_ema", help="generator to compare (default g_ema)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..blend.diff import diff_state_dicts, format_diff  # here, so that `diff --help` needs no torch
    from ..io import load_checkpoint

    a, b = load_checkpoint(args.a), load_checkpoint(args.b)
    states = [getattr(c, args.which) for c in (a, b)]
    if any(s is None for s in states):
        raise InvalidArgumentError(f"--which {args.which}: not every model has that generator; use --which g_ema")
    print(format_diff(diff_state_dicts(states[0], states[1]), per_layer=args.per_layer))
    return 0
