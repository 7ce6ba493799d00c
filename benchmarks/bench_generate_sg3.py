"""StyleGAN3 generator throughput on this machine: images/s of StyleGAN3-T and -R at 64, 256 and 1024 px.

The shapes are those of NVIDIA's FFHQ models (z = w = 512, 2 mapping layers, 14 layers + ToRGB): at 1024 px
``stylegan3-t/r-ffhq(u)-1024x1024`` (channel_base 32768 / channel_max 512 for T, doubled for R); at 256 px
``stylegan3-t/r-ffhqu-256x256`` (trained with --cbase=16384: 16384 / 512 for T, 32768 / 1024 for R); NVIDIA
published no 64 px FFHQ model, so 64 px takes the 1024 px channel settings. Random weights (speed does not
depend on their values), float32 (NVIDIA's code computes its float16 layers in float32 on the CPU too).

Prints a Markdown table and the machine's load average before and after (other work slows these numbers).
Usage: python benchmarks/bench_generate_sg3.py [--repeats 2] [--batches 1,4] [--configs T64,R64,T256,...]
       [--no-warmup] [--max-seconds 600] [--impl fast|reference] [--threads N]
       python benchmarks/bench_generate_sg3.py --compare [--rounds 1] [--configs ...] [--threads 1]
       (reference and fast filtered leaky ReLU, one pass each back to back per round, so both see the same load)
       (a configuration whose batch-1 pass took longer than --max-seconds skips its larger batches)
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from styleblend.config_sg3 import SG3SynthesisConfig, StyleGAN3Config, stylegan3_r
from styleblend.nn.build import build_generator


def config(kind: str, res: int) -> StyleGAN3Config:
    """NVIDIA's FFHQ shape of StyleGAN3-``kind`` ('T' or 'R') at ``res`` px (see the module docstring)."""
    base = 16384 if res == 256 else 32768
    synthesis = stylegan3_r(channel_base=2 * base) if kind == "R" else SG3SynthesisConfig(channel_base=base)
    return StyleGAN3Config(img_resolution=res, synthesis=synthesis)


CONFIGS = {f"{kind}{res}": (kind, res) for res in (64, 256, 1024) for kind in ("T", "R")}


@torch.no_grad()
def seconds_per_pass(G: torch.nn.Module, batch: int, repeats: int, warmup: bool = True) -> float:
    z = torch.randn(batch, G.z_dim)
    if warmup:
        G(z)  # allocations and first-call overheads (negligible beside a pass of tens of seconds)
    start = time.perf_counter()
    for _ in range(repeats):
        G(z)
    return (time.perf_counter() - start) / repeats


@torch.no_grad()
def compare(names: list[str], rounds: int) -> None:
    """Per configuration and round: one batch-1 pass with the reference filtered leaky ReLU, then one with the
    fast path (same weights and z), with the load average before each pair."""
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, CPUs {os.cpu_count()}\n")
    print("| model | round | load before | reference s/img | fast s/img | speed-up | max abs diff |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in names:
        kind, res = CONFIGS[name]
        torch.manual_seed(0)
        G = build_generator(config(kind, res)).eval()
        z = torch.randn(1, G.z_dim)
        for r in range(rounds):
            load = os.getloadavg()[0]
            seconds, images = [], []
            for impl in ("reference", "fast"):
                G.synthesis.filtered_lrelu_impl = impl
                start = time.perf_counter()
                images.append(G(z))
                seconds.append(time.perf_counter() - start)
            diff = float((images[0] - images[1]).abs().max())
            print(f"| StyleGAN3-{kind} {res} px | {r + 1} | {load:.1f} | {seconds[0]:.1f} | {seconds[1]:.1f} | "
                  f"{seconds[0] / seconds[1]:.1f}x | {diff:.1e} |", flush=True)
        del G
    load = os.getloadavg()
    print(f"\nload average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"any of {','.join(CONFIGS)}")
    parser.add_argument("--no-warmup", action="store_true", help="time the first pass too (for passes of minutes)")
    parser.add_argument("--max-seconds", type=float, default=600.0,
                        help="skip a configuration's larger batches when its batch-1 pass took longer than this")
    parser.add_argument("--impl", default="fast", choices=["fast", "reference"],
                        help="the filtered leaky ReLU: the fast path (the default) or the reference op")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--compare", action="store_true",
                        help="batch 1, reference then fast pass per round; prints seconds and the speed-up")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of --compare")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.compare:
        compare(args.configs.split(","), args.rounds)
        return
    batches = [int(b) for b in args.batches.split(",")]
    load = os.getloadavg()
    print(f"torch {torch.__version__}, filtered_lrelu {args.impl}, threads {torch.get_num_threads()}, "
          f"CPUs {os.cpu_count()}, "
          f"load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print("| model | params | " + " | ".join(f"batch {b} img/s" for b in batches) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in batches) + " |")
    for name in args.configs.split(","):
        kind, res = CONFIGS[name]
        torch.manual_seed(0)
        G = build_generator(config(kind, res)).eval()
        G.synthesis.filtered_lrelu_impl = args.impl
        params = sum(p.numel() for p in G.parameters()) / 1e6
        cells = []
        slow = False
        for b in batches:
            if slow:
                cells.append("skipped")
                continue
            seconds = seconds_per_pass(G, b, args.repeats, warmup=not args.no_warmup)
            cells.append(f"{b / seconds:.3g}")
            slow = seconds > args.max_seconds
        print(f"| StyleGAN3-{kind} {res} px | {params:.1f} M | " + " | ".join(cells) + " |", flush=True)
        del G
    load = os.getloadavg()
    print(f"\nload average after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
