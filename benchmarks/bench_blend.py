"""Benchmark: blend two 1024 px config-f generators read from files and write the result.

Models: GeneratorConfig defaults (z = w = 512, 8 mapping layers, channel_base 32768, channel_max 512,
1024 px, 'skip') with random weights; the transfer is a perturbed copy. Each file holds G, G_ema and
D like a training snapshot. Two cases:

* native: safetensors in and out;
* nvidia-pkl: snapshots with NVIDIA's pickle structure (written by ``nvidia_structure.py``, no NVIDIA
  code) in, NVIDIA pickle out (the base pickle with tensors replaced).

Each case runs in a fresh subprocess that reports wall times (load, blend, input hashing, write) and
its peak resident memory (``VmHWM``), also relative to the process after imports and to one input
file's size. Usage::

    python benchmarks/bench_blend.py [--workdir /tmp/bench-blend] [--keep]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
sys.path.insert(0, str(HERE))


def _rss_mb() -> float:
    """Peak resident memory of this process in MiB.

    Linux's ``ru_maxrss`` survives ``execve`` (a child would report its parent's peak), so read the
    per-address-space high-water mark ``VmHWM`` when /proc exists.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux; a fallback elsewhere


def make_models(workdir: Path) -> dict[str, tuple[Path, Path]]:
    """Write base and transfer in both formats (reused when present)."""
    import torch
    from nvidia_structure import write_snapshot

    from styleblend.config import DiscriminatorConfig, GeneratorConfig
    from styleblend.io import Checkpoint, save_checkpoint
    from styleblend.nn import Discriminator, Generator

    files = {"native": (workdir / "base.safetensors", workdir / "transfer.safetensors"),
             "nvidia-pkl": (workdir / "base.pkl", workdir / "transfer.pkl")}
    if all(p.exists() for pair in files.values() for p in pair):
        return files
    g_cfg, d_cfg = GeneratorConfig(), DiscriminatorConfig()
    torch.manual_seed(0)
    with torch.no_grad():
        G, D = Generator(g_cfg).eval(), Discriminator(d_cfg).eval()
        for role in ("base", "transfer"):
            if role == "transfer":  # a 'fine-tune': every weight moved a little
                for module in (G, D):
                    for p in module.parameters():
                        p.add_(0.05 * torch.randn_like(p))
            write_snapshot(workdir / f"{role}.pkl", G, G, D, g_cfg, d_cfg)
            g_ema = {k: v.clone() for k, v in G.state_dict().items()}
            g = {k: v.clone() for k, v in G.state_dict().items()}
            save_checkpoint(Checkpoint(g_config=g_cfg, g_ema=g_ema, g=g, d_config=d_cfg, d=D.state_dict()),
                            workdir / f"{role}.safetensors")
    return files


def child(base: str, transfer: str, out: str) -> None:
    """One measured blend; prints a JSON line."""
    from styleblend.blend import Swap, blend_checkpoints, save_blend
    from styleblend.io import load_checkpoint
    from styleblend.io.digest import file_sha256

    rss_start = _rss_mb()
    t0 = time.perf_counter()
    b, t = load_checkpoint(base), load_checkpoint(transfer).generators_only()
    t1 = time.perf_counter()
    ckpt, recipe = blend_checkpoints(b, [t], Swap(16), hash_inputs=False)
    t2 = time.perf_counter()
    for record, path in zip(recipe.inputs, (base, transfer)):
        record["sha256"] = file_sha256(path)
    t3 = time.perf_counter()
    save_blend(ckpt, recipe, out)
    t4 = time.perf_counter()
    g_ema_mb = sum(v.numel() * v.element_size() for v in b.g_ema.values()) / 2**20
    print(json.dumps({"load": t1 - t0, "blend": t2 - t1, "hash": t3 - t2, "write": t4 - t3, "total": t4 - t0,
                      "rss_start": rss_start, "rss_peak": _rss_mb(), "g_ema_mb": g_ema_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None, help="where the model files go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the model files")
    parser.add_argument("--child", nargs=3, metavar=("BASE", "TRANSFER", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-blend-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        t0 = time.perf_counter()
        files = make_models(workdir)
        print(f"models ready in {workdir} ({time.perf_counter() - t0:.1f} s)")
        rows = []
        for fmt, (base, transfer) in files.items():
            out = workdir / f"blend{base.suffix}"
            proc = subprocess.run([sys.executable, __file__, "--child", str(base), str(transfer), str(out)],
                                  capture_output=True, text=True, check=True)
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r["fmt"], r["file_mb"] = fmt, base.stat().st_size / 2**20
            rows.append(r)
            out.unlink(missing_ok=True)
        header = (f"{'format':<11} {'file MB':>8} {'load s':>7} {'blend s':>8} {'hash s':>7} {'write s':>8} "
                  f"{'total s':>8} {'peak RSS MB':>12} {'over start':>11} {'x file':>7}")
        print(header)
        print("-" * len(header))
        for r in rows:
            over = r["rss_peak"] - r["rss_start"]
            print(f"{r['fmt']:<11} {r['file_mb']:8.0f} {r['load']:7.2f} {r['blend']:8.2f} {r['hash']:7.2f} "
                  f"{r['write']:8.2f} {r['total']:8.2f} {r['rss_peak']:12.0f} {over:11.0f} {over / r['file_mb']:7.2f}")
        print(f"(G_ema alone: {rows[0]['g_ema_mb']:.0f} MB float32; each file holds G, G_ema and D)")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
