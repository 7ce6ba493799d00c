"""Branch a training run at its saved state with a new learning rate: a new run directory that continues the
old one's exact state (networks, Adam moments, ADA, RNG, counters) with G's and D's learning rates set anew.

    python scripts/branch_run.py runs/base-control runs/base-lr0005 --lr 0.0005
    scripts/train_bundled.sh resume-lr0005      # = train --resume-run runs/base-lr0005 --threads 1 --batch-gpu 16

`--resume-run` continues a run exactly, so it cannot change the learning rate; a branch can. The Adam groups'
learning rates (the base rate times StyleGAN2's lazy-regularisation factor) are scaled by new / old, so the
factor is kept. The source directory is not changed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from styleblend.io.atomic import atomic_path  # noqa: E402
from styleblend.io.safe_torch_load import safe_torch_load  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("dest", type=Path)
    ap.add_argument("--lr", type=float, required=True, help="new learning rate of G and D (the options' lr_g, lr_d)")
    args = ap.parse_args()
    if not 0 < args.lr < 1:
        raise SystemExit(f"--lr {args.lr} must be in (0, 1)")
    if args.dest.exists():
        raise SystemExit(f"{args.dest} exists; choose a new directory")
    state = safe_torch_load(args.source / "training-state.pt")
    options = json.loads((args.source / "options.json").read_text())
    for net, key in (("opt_G", "lr_g"), ("opt_D", "lr_d")):
        factor = args.lr / float(options[key])
        for group in state[net]["param_groups"]:
            group["lr"] *= factor
        options[key] = state["options"][key] = args.lr
    options["outdir"] = state["options"]["outdir"] = str(args.dest)
    args.dest.mkdir(parents=True)
    shutil.copy2(args.source / "log.jsonl", args.dest / "log.jsonl")
    (args.dest / "options.json").write_text(json.dumps(options, indent=2) + "\n")
    with atomic_path(args.dest / "training-state.pt") as tmp:
        torch.save(state, tmp)
    groups = {net: [g["lr"] for g in state[net]["param_groups"]] for net in ("opt_G", "opt_D")}
    print(f"{args.dest}: {state['cur_nimg'] / 1000:.1f} kimg of {args.source}, lr {args.lr} (Adam groups: {groups})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
