"""Where a StyleGAN2 generator's CPU time goes: per operator and per synthesis block (issue 18, "profile first").

A config-f-shaped model (random weights; time does not depend on their values) renders ``--images`` images one
batch at a time under ``torch.profiler`` (CPU activities, operator self time) after one warm-up pass; a
second pass with forward hooks on every synthesis block times each resolution. Prints two Markdown tables:
the top operators by self CPU time (with their share and call count per image) and the time per block.

Usage::

    python benchmarks/profile_generator.py [--resolution 256] [--batch 1] [--images 4] [--threads 1]
        [--precision float32|nvidia] [--fp16-res 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from styleblend.config import GeneratorConfig, SynthesisConfig  # noqa: E402
from styleblend.nn import Generator  # noqa: E402


def operator_table(G: Generator, z: torch.Tensor, images: int, mixed: bool) -> str:
    batch = z.shape[0]
    passes = max(1, images // batch)
    with torch.inference_mode():
        G(z, None, mixed_precision=mixed) if _takes_mixed(G) else G(z, None)  # warm-up
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(passes):
                G(z, None, mixed_precision=mixed) if _takes_mixed(G) else G(z, None)
    rows = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in rows)
    rows.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    n = passes * batch
    out = ["| operator | self CPU ms / image | share | calls / image |", "|---|---|---|---|"]
    for e in rows[:15]:
        ms, share = e.self_cpu_time_total / 1000 / n, 100 * e.self_cpu_time_total / total
        out.append(f"| `{e.key}` | {ms:.1f} | {share:.1f} % | {e.count / n:.0f} |")
    rest = total - sum(e.self_cpu_time_total for e in rows[:15])
    out.append(f"| (all other operators) | {rest / 1000 / n:.1f} | {100 * rest / total:.1f} % | |")
    out.append(f"| **total** | {total / 1000 / n:.1f} | 100 % | |")
    return "\n".join(out)


def _takes_mixed(G: Generator) -> bool:
    return "mixed_precision" in G.forward.__code__.co_varnames


def block_table(G: Generator, z: torch.Tensor, images: int, mixed: bool) -> str:
    times: dict[int, float] = defaultdict(float)
    starts: dict[int, float] = {}
    handles = []
    for res in G.synthesis.block_resolutions:
        block = getattr(G.synthesis, f"b{res}")
        handles.append(block.register_forward_pre_hook(lambda m, a, r=res: starts.__setitem__(r, time.perf_counter())))
        handles.append(block.register_forward_hook(
            lambda m, a, o, r=res: times.__setitem__(r, times[r] + time.perf_counter() - starts[r])))
    batch = z.shape[0]
    passes = max(1, images // batch)
    t0 = time.perf_counter()
    with torch.inference_mode():
        for _ in range(passes):
            G(z, None, mixed_precision=mixed) if _takes_mixed(G) else G(z, None)
    whole = time.perf_counter() - t0
    for h in handles:
        h.remove()
    n = passes * batch
    cfg = G.synthesis
    out = ["| block | channels | ms / image | share |", "|---|---|---|---|"]
    for res in cfg.block_resolutions:
        block = getattr(cfg, f"b{res}")
        ch = block.conv1.weight.shape[0]
        out.append(f"| {res} px | {ch} | {1000 * times[res] / n:.1f} | {100 * times[res] / whole:.1f} % |")
    rest = whole - sum(times.values())
    out.append(f"| mapping and the rest | | {1000 * rest / n:.1f} | {100 * rest / whole:.1f} % |")
    out.append(f"| **whole generator** | | {1000 * whole / n:.1f} | 100 % |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fp16-res", type=int, default=0, help="num_fp16_res of the model (default 0)")
    parser.add_argument("--precision", choices=["float32", "nvidia"], default="float32")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = GeneratorConfig(img_resolution=args.resolution, synthesis=SynthesisConfig(num_fp16_res=args.fp16_res))
    G = Generator(cfg).eval().requires_grad_(False)
    z = torch.randn(args.batch, cfg.z_dim)
    mixed = args.precision == "nvidia"
    load0 = os.getloadavg()[0]
    ops = operator_table(G, z, args.images, mixed)
    blocks = block_table(G, z, args.images, mixed)
    print(f"config-f {args.resolution} px, batch {args.batch}, {args.images} images, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), precision {args.precision}, num_fp16_res {args.fp16_res}; "
          f"load average {load0:.1f}-{os.getloadavg()[0]:.1f}")
    print()
    print(ops)
    print()
    print(blocks)


if __name__ == "__main__":
    main()
