"""Benchmark: peak resident memory of whole `styleblend` commands on config-f snapshots in NVIDIA's structure.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/bench_memory.py [--resolution 256 1024] [--workdir DIR]

Writes a random-weight config-f snapshot (G, G_ema and D, as NVIDIA's training writes them;
``nvidia_structure.write_snapshot``) per resolution into ``--workdir`` (reused when present), then runs each
command in a fresh process and prints its peak resident set (the child's ``ru_maxrss``; Linux reports KiB).
Memory does not depend on the machine's load, unlike time. Results: ``docs/benchmarks.md`` ("Peak memory").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def snapshot(workdir: Path, res: int) -> Path:
    path = workdir / f"configf-{res}.pkl"
    if path.exists():
        return path
    import torch
    from nvidia_structure import write_snapshot

    from styleblend.config import DiscriminatorConfig, GeneratorConfig
    from styleblend.nn import Discriminator, Generator

    g_cfg, d_cfg = GeneratorConfig(img_resolution=res), DiscriminatorConfig(img_resolution=res)
    torch.manual_seed(0)
    with torch.no_grad():
        G, D = Generator(g_cfg).eval(), Discriminator(d_cfg).eval()
        write_snapshot(path, G, G, D, g_cfg, d_cfg)
    return path


def peak_mib(args: list[str]) -> tuple[float, float]:
    """(peak RSS in MiB, wall s) of ``python -m styleblend.cli.main ARGS`` in a fresh process."""
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
               PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    start = time.time()
    # A fresh interpreter per command: RUSAGE_CHILDREN is the largest peak of any waited-for child, so run each
    # command under a tiny parent that reports its own child's peak.
    code = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")
    done = subprocess.run([sys.executable, "-c", code, sys.executable, "-m", "styleblend.cli.main", *args, "-q"],
                          env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"styleblend {' '.join(args)} failed: {done.stderr.strip().splitlines()[-1:]}")
    kib = int(done.stdout.strip().splitlines()[-1])
    return kib / 1024, time.time() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "styleblend-bench-memory")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    from PIL import Image

    print(f"command: {' '.join(sys.argv)}")
    print("| model | command | peak RSS (MiB) | wall s |\n| --- | --- | ---: | ---: |")
    for res in args.resolution:
        net = snapshot(args.workdir, res)
        out = args.workdir / f"out-{res}"
        target = args.workdir / f"target-{res}.png"
        Image.new("RGB", (res, res), (128, 96, 64)).save(target)
        runs = {"generate --seeds 0-1 --batch 1": ["generate", "--network", str(net), "--seeds", "0-1", "--batch", "1",
                                                     "--outdir", str(out / "generate")]}
        runs["blend --swap-res 16 (the snapshot with itself)"] = [
            "blend", "--base", str(net), "--transfer", str(net), "--swap-res", "16",
            "--out", str(out / "blend.safetensors"), "--force"]
        if res <= 256:  # a projection step at 1024 px takes minutes here
            runs["project --method fast --loss pixel --steps 2"] = [
                "project", "--network", str(net), "--target", str(target), "--outdir", str(out / "project"),
                "--method", "fast", "--loss", "pixel", "--steps", "2"]
        for label, cmd in runs.items():
            mib, wall = peak_mib(cmd)
            print(f"| {res} px config-f | `{label}` | {mib:.0f} | {wall:.1f} |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.2f}; memory does not depend on it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
