"""Benchmark: does the table ``blend --auto`` chose still beat every plain swap on latents it never saw?

``blend --auto`` scores tables on seeds 0..N-1 only. This re-scores the chosen table, the plain swaps and the
two models on held-out seeds (default 1000..1063) with the same critic and structure resolution, and prints
one row per table and whether the chosen one beats each swap on both scores there. Usage::

    python benchmarks/bench_auto_alpha.py --report out.auto.json [--critic runs/bundle/twemoji-072.safetensors] \\
        [--eval 64] [--base ...] [--transfer ...]

(defaults: the bundled pair and its critic snapshot). Prints the command, the load average and the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

from styleblend.blend.auto import AlphaObjective, Candidate, plain_swaps
from styleblend.io import load_checkpoint
from styleblend.models import bundled_path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--report", required=True, help="the <out stem>.auto.json that blend --auto wrote")
    p.add_argument("--base", default=str(bundled_path("base")))
    p.add_argument("--transfer", default=str(bundled_path("transfer")))
    p.add_argument("--critic", default="runs/bundle/twemoji-072.safetensors")
    p.add_argument("--eval", type=int, default=64, help="held-out seeds 1000 .. 1000+N-1")
    args = p.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    with open(args.report) as f:
        report = json.load(f)
    base, transfer = load_checkpoint(args.base), load_checkpoint(args.transfer)
    objective = AlphaObjective(base.g_ema, transfer.g_ema, base.g_config, load_checkpoint(args.critic).discriminator(),
                               list(range(1000, 1000 + args.eval)), report["settings"]["structure_res"])
    resolutions = tuple(report["resolutions"])
    chosen_alphas = tuple(float(report["chosen"]["alphas"][str(r)]) for r in resolutions)
    tables = [("chosen", chosen_alphas), ("base", (0.0,) * len(resolutions)), ("transfer", (1.0,) * len(resolutions)),
              *plain_swaps(resolutions)]
    print(f"command: {' '.join(sys.argv)}")
    print(f"held-out seeds 1000-{999 + args.eval}, structure at {objective.structure_res} px, critic {args.critic}")
    print(f"chosen table {report['table']} (search: realism {report['chosen']['realism']:.3f}, "
          f"distance {report['chosen']['distance']:.2f} on seeds 0-{report['settings']['samples'] - 1})")
    print(f"{'table':>14}  {'realism':>8}  {'distance':>8}  chosen beats it")
    scored = [Candidate(a, *objective.score(a), label) for label, a in tables]
    chosen = scored[0]
    for c in scored:
        mark = "" if c is chosen else ("yes" if chosen.beats(c) else "no")
        print(f"{c.label:>14}  {c.realism:8.3f}  {c.distance:8.2f}  {mark}")
    swaps = [c for c in scored if c.label.startswith("swap")]
    print(f"chosen beats {sum(chosen.beats(s) for s in swaps)} of {len(swaps)} plain swaps on held-out seeds")
    print(f"load average {os.getloadavg()[0]:.2f}, wall {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
