"""Up-sampling paths side by side: NVIDIA's transposed convolution vs the polyphase form (issue 18, item 2).

Two Markdown tables for a config-f-shaped model (random weights; time does not depend on their values):
1. each up-sampling layer's ``conv2d_resample`` (3x3, up 2, FIR [1, 3, 3, 1]) alone, batch 1;
2. the whole synthesis network per ``upsample_path`` ('transpose', 'polyphase', 'auto'), batch ``--batch``.
Runs alternate between paths, after one warm-up each; the median is printed, as process CPU time (what this
process computed: steadier than wall time on a shared machine) and wall time. The load average is printed too.

Usage::

    python benchmarks/bench_upsample.py [--resolution 256] [--batch 1] [--repeats 3] [--threads 1] [--layers-only]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import torch  # noqa: E402

from styleblend.config import GeneratorConfig  # noqa: E402
from styleblend.nn import Generator  # noqa: E402
from styleblend.ops.conv2d_resample import conv2d_resample  # noqa: E402
from styleblend.ops.upfirdn2d import setup_filter  # noqa: E402


def timed(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median (CPU s, wall s) per function, the functions interleaved so that load changes hit all alike."""
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    wall: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        fn()  # warm-up
    for _ in range(repeats):
        for k, fn in fns.items():
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            cpu[k].append(time.process_time() - c0)
            wall[k].append(time.perf_counter() - w0)
    return {k: (statistics.median(cpu[k]), statistics.median(wall[k])) for k in fns}


def layer_table(G: Generator, repeats: int) -> str:
    f = setup_filter([1, 3, 3, 1])
    out = ["| layer | in -> out channels, input px | transpose ms (CPU / wall) | polyphase ms (CPU / wall) | "
           "CPU ratio |", "|---|---|---|---|---|"]
    for res in G.synthesis.block_resolutions[1:]:
        conv0 = getattr(G.synthesis, f"b{res}").conv0
        o, i = conv0.weight.shape[:2]
        x = torch.randn(1, i, res // 2, res // 2)
        w = conv0.weight / (9 * i) ** 0.5
        with torch.inference_mode():
            t = timed({p: (lambda p=p, x=x, w=w: conv2d_resample(x, w, f, up=2, padding=1, flip_weight=False,
                                                                 polyphase=(p == "polyphase")))
                       for p in ("transpose", "polyphase")}, repeats)
        (tc, tw), (pc, pw) = t["transpose"], t["polyphase"]
        out.append(f"| b{res}.conv0 | {i} -> {o}, {res // 2} | {1000 * tc:.0f} / {1000 * tw:.0f} | "
                   f"{1000 * pc:.0f} / {1000 * pw:.0f} | {pc / tc:.2f} |")
    return "\n".join(out)


def network_table(G: Generator, batch: int, repeats: int) -> str:
    ws = G.mapping(torch.randn(batch, G.z_dim))
    paths = ("transpose", "polyphase", "auto")
    with torch.inference_mode():
        t = timed({p: (lambda p=p: G.synthesis(ws, upsample_path=p)) for p in paths}, repeats)
    out = ["| upsample_path | s / image CPU | s / image wall | CPU vs transpose |", "|---|---|---|---|"]
    for p in paths:
        c, w = t[p]
        out.append(f"| {p} | {c / batch:.2f} | {w / batch:.2f} | {c / t['transpose'][0]:.2f} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--layers-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(img_resolution=args.resolution)).eval().requires_grad_(False)
    load0 = os.getloadavg()[0]
    layers = layer_table(G, args.repeats)
    net = "" if args.layers_only else network_table(G, args.batch, args.repeats)
    print(f"config-f {args.resolution} px, batch {args.batch}, median of {args.repeats}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s); load average {load0:.1f}-{os.getloadavg()[0]:.1f}\n")
    print(layers)
    if net:
        print()
        print(net)


if __name__ == "__main__":
    main()
