"""Benchmark: does the table ``blend --auto`` chose still beat the plain swaps on latents it never saw?

``blend --auto`` scores tables on seeds 0..N-1 (and validates on the next ones). This re-scores the chosen
tables of one or more reports, the plain swaps and the two models on held-out seeds (default 1000..1255)
with the same critic and structure resolution, and prints for each chosen table its scores and, per swap,
the paired margin (mean per-latent gain in realism and distance saved, with one-sided lower bounds at
``--confidence``, over the groups of latents the critic judges together): whether it beats the swap by the
means and beyond chance. Usage::

    python benchmarks/bench_auto_alpha.py --report a.auto.json [b.auto.json ...] [--eval 256] \\
        [--critic runs/bundle/twemoji-072.safetensors] [--base ...] [--transfer ...]

(defaults: the bundled pair and its critic snapshot). Prints the command, the load average and the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

from styleblend.blend.auto import AlphaObjective, plain_swaps
from styleblend.blend.auto_channels import score_channel_latents
from styleblend.blend.auto_stats import margin
from styleblend.io import load_checkpoint
from styleblend.models import bundled_path


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--report", required=True, nargs="+", help="<out stem>.auto.json files that blend --auto wrote")
    p.add_argument("--base", default=str(bundled_path("base")))
    p.add_argument("--transfer", default=str(bundled_path("transfer")))
    p.add_argument("--critic", default="runs/bundle/twemoji-072.safetensors")
    p.add_argument("--eval", type=int, default=256, help="held-out seeds --first .. --first+N-1")
    p.add_argument("--first", type=int, default=1000)
    p.add_argument("--confidence", type=float, default=0.95)
    args = p.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    reports = []
    for path in args.report:
        with open(path) as f:
            reports.append((path, json.load(f)))
    structure_res = {r["settings"]["structure_res"] for _, r in reports}
    if len(structure_res) != 1:
        raise SystemExit(f"the reports score structure at different resolutions {structure_res}")
    base, transfer = load_checkpoint(args.base), load_checkpoint(args.transfer)
    seeds = list(range(args.first, args.first + args.eval))
    objective = AlphaObjective(base.g_ema, transfer.g_ema, base.g_config, load_checkpoint(args.critic).discriminator(),
                               seeds, structure_res.pop())
    resolutions = tuple(reports[0][1]["resolutions"])
    fixed = [("base", (0.0,) * len(resolutions)), ("transfer", (1.0,) * len(resolutions)), *plain_swaps(resolutions)]
    print(f"command: {' '.join(sys.argv)}")
    print(f"held-out seeds {seeds[0]}-{seeds[-1]} ({len(objective.units)} groups of {objective.group} latents the "
          f"critic judges together), structure at {objective.structure_res} px, critic {args.critic}; bounds: "
          f"one-sided {args.confidence:.0%}")
    scores = {label: objective.score_latents(a) for label, a in fixed}
    print("\n| table | realism | distance |\n|---:|---:|---:|")
    for label, (r, d) in scores.items():
        print(f"| {label} | {r.mean():.3f} | {d.mean():.2f} |")
    swaps = [label for label, _ in fixed if label.startswith("swap")]
    for path, report in reports:
        alphas = tuple(float(report["chosen"]["alphas"][str(r)]) for r in resolutions)
        # --auto-family channels: the chosen alpha per output channel (6 decimals in the report).
        channels = tuple((layer, tuple(float(a) for a in values))
                         for layer, values in report["chosen"].get("channels", {}).items()) or None
        r, d = score_channel_latents(objective, alphas, channels)
        val = report.get("validation") or {}
        settings = report["settings"]
        print(f"\n{path}: table {report['table']} ({settings.get('family', 'table')}, {settings['samples']} "
              f"samples, {val.get('samples', 0)} validation, confidence {settings.get('confidence')}, "
              f"{report['evaluations']} tables in {report['elapsed_s']} s); held out: realism {r.mean():.3f}, "
              f"distance {d.mean():.2f}")
        print("| swap | realism gain (low) | distance saved (low) | beats | beyond chance |\n|---:|---:|---:|:-:|:-:|")
        ms = [margin(r, d, *scores[s], objective.units, s, args.confidence) for s in swaps]
        for m in ms:
            print(f"| {m.label} | {m.realism:+.3f} ({m.realism_low:+.3f}) | {m.distance:+.2f} ({m.distance_low:+.2f}) "
                  f"| {'yes' if m.beats else 'no'} | {'yes' if m.confident else 'no'} |")
        print(f"held out: beats {sum(m.beats for m in ms)} of {len(ms)} swaps by the means, "
              f"{sum(m.confident for m in ms)} beyond chance; the report claimed {len(report['beaten_swaps'])} "
              f"by the means and {len(report.get('confident_swaps', []))} beyond chance")
    print(f"\nload average {os.getloadavg()[0]:.2f}, wall {time.time() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
