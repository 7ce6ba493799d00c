"""Branch a training run at its saved state with new training settings: a new run directory that continues the
old one's exact state (networks, Adam moments, ADA, RNG, counters) with the learning rate or regularisers set anew.

    python scripts/branch_run.py runs/base-control runs/base-lr0005 --lr 0.0005
    python scripts/branch_run.py runs/base-lr0005 runs/base-nomix --set pl_weight=0 --set style_mixing_prob=0
    scripts/train_bundled.sh resume-lr0005      # = train --resume-run runs/base-lr0005 --threads 1 --batch-gpu 16

`--resume-run` continues a run exactly, so it cannot change these; a branch can. The Adam groups' learning rates
and betas are set as a new run with the branch's options would set them (the base rate times StyleGAN2's
lazy-regularisation factor c = interval / (interval + 1), betas ** c; c = 1 once a regulariser is switched off).
The source directory is not changed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import torch

# Settings a branch may change: they steer the losses, the optimisers, ADA and when snapshots are written, not
# the shapes of any state.
SETTABLE = {"lr_g": float, "lr_d": float, "pl_weight": float, "style_mixing_prob": float, "r1_gamma": float,
            "ada_kimg": float, "ada_target": float, "ema_kimg": float, "snap": float, "keep_last": int}

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from styleblend.io.atomic import atomic_path  # noqa: E402
from styleblend.io.safe_torch_load import safe_torch_load  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source", type=Path)
    ap.add_argument("dest", type=Path)
    ap.add_argument("--lr", type=float, help="new learning rate of G and D (the options' lr_g, lr_d)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help=f"another option to change; KEY one of {', '.join(SETTABLE)}")
    args = ap.parse_args()
    changes: dict[str, float | int] = {}
    if args.lr is not None:
        changes.update(lr_g=args.lr, lr_d=args.lr)
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or key not in SETTABLE:
            raise SystemExit(f"--set {item!r}: expected KEY=VALUE with KEY one of {', '.join(SETTABLE)}")
        try:
            changes[key] = SETTABLE[key](value)
        except ValueError:
            raise SystemExit(f"--set {item!r}: {value!r} is not a number") from None
    if not changes:
        raise SystemExit("nothing to change: pass --lr and/or --set KEY=VALUE")
    for key in ("lr_g", "lr_d", "ada_target"):
        if key in changes and not 0 < changes[key] < 1:
            raise SystemExit(f"{key} {changes[key]} must be in (0, 1)")
    if not 0 <= changes.get("style_mixing_prob", 0) <= 1 or any(
            changes.get(k, 1) < 0 for k in ("pl_weight", "r1_gamma")) or any(
            changes.get(k, 1) <= 0 for k in ("ada_kimg", "ema_kimg", "snap", "keep_last")):
        raise SystemExit(f"out of range: {changes}")
    if args.dest.exists():
        raise SystemExit(f"{args.dest} exists; choose a new directory")
    state = safe_torch_load(args.source / "training-state.pt")
    options = json.loads((args.source / "options.json").read_text())
    for key, value in changes.items():
        options[key] = state["options"][key] = value
    betas = [float(b) for b in options["betas"]]
    for net, lr_key, interval_key, reg_key in (("opt_G", "lr_g", "g_reg_interval", "pl_weight"),
                                               ("opt_D", "lr_d", "d_reg_interval", "r1_gamma")):
        interval = int(options[interval_key]) if float(options[reg_key]) != 0 else 0
        c = interval / (interval + 1) if interval > 0 else 1.0
        for group in state[net]["param_groups"]:
            group["lr"] = float(options[lr_key]) * c
            group["betas"] = (betas[0] ** c, betas[1] ** c)
    options["outdir"] = state["options"]["outdir"] = str(args.dest)
    args.dest.mkdir(parents=True)
    shutil.copy2(args.source / "log.jsonl", args.dest / "log.jsonl")
    (args.dest / "options.json").write_text(json.dumps(options, indent=2) + "\n")
    with atomic_path(args.dest / "training-state.pt") as tmp:
        torch.save(state, tmp)
    groups = {net: [g["lr"] for g in state[net]["param_groups"]] for net in ("opt_G", "opt_D")}
    print(f"{args.dest}: {state['cur_nimg'] / 1000:.1f} kimg of {args.source}, {changes} (Adam groups: {groups})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
