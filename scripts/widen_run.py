#!/usr/bin/env python3
"""Start a new run whose generator is a function-preserving widening of another run's state.

Usage:
    python scripts/widen_run.py SRC_RUN DST_RUN --channel-base 2048 --channel-max 128 [--seed 0]
        [--snap KIMG] [--keep-every N]

Reads SRC_RUN/training-state.pt, widens G and G_ema (styleblend.train.widen: the wider G renders what the
old one rendered; its Adam moments are carried over), and writes DST_RUN/training-state.pt, options.json
and the source's log.jsonl cut back to the state, so that `styleblend train --resume-run DST_RUN`
continues from the same image count, D, ADA and RNG states. --snap / --keep-every change only when
snapshots are written and kept. SRC_RUN is only read.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from styleblend.train.checkpointing import STATE_NAME, load_training_state, save_training_state  # noqa: E402
from styleblend.train.progress import truncate_log  # noqa: E402
from styleblend.train.widen import widen_training_state  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", type=Path)
    p.add_argument("dst", type=Path)
    p.add_argument("--channel-base", type=int, required=True)
    p.add_argument("--channel-max", type=int, required=True)
    p.add_argument("--seed", type=int, default=0, help="seed of the new channels' initial values (default: 0)")
    p.add_argument("--snap", type=float, default=None, help="snapshot every N kimg (default: the source's)")
    p.add_argument("--keep-every", type=int, default=None, help="keep every N-th snapshot (0: all)")
    args = p.parse_args()
    if (args.dst / STATE_NAME).exists():
        p.error(f"{args.dst / STATE_NAME} exists; choose a new DST_RUN")
    state = load_training_state(args.src)
    wide = widen_training_state(state, args.channel_base, args.channel_max, seed=args.seed, outdir=str(args.dst))
    for key, value in (("snap", args.snap), ("keep_every", args.keep_every)):
        if value is not None:
            wide["options"] = {**wide["options"], key: value}
    wide.pop("version")
    args.dst.mkdir(parents=True, exist_ok=True)
    if (args.src / "log.jsonl").is_file():
        shutil.copyfile(args.src / "log.jsonl", args.dst / "log.jsonl")
        truncate_log(args.dst / "log.jsonl", int(wide["step"]))
    (args.dst / "options.json").write_text(json.dumps(wide["options"], indent=2), encoding="utf-8")
    save_training_state(args.dst, wide)
    print(f"{args.dst}: G widened to channel_base {args.channel_base} / channel_max {args.channel_max} at "
          f"{wide['cur_nimg'] / 1000:g} kimg; continue with --resume-run {args.dst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
