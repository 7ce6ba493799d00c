"""Benchmark: cost of wider emoji64 generators (issue 15's capacity experiment), one thread, CPU.

Times one training-like pass per width: G (unfused modulated convs, random noise) on 16 latents, the
(unchanged) emoji64 D on its images, and the backward pass of D's summed output, i.e. the G and D work of
one ``--batch-gpu 16`` pass without regularisers and optimiser steps. Median of 5 after one warm-up. Usage::

    PYTHONPATH=src OMP_NUM_THREADS=1 python benchmarks/bench_generator_widths.py

Prints the load average too: on a shared machine only the ratios between widths mean much.
"""

from __future__ import annotations

import dataclasses
import os
import time

import torch

from styleblend.nn import Discriminator, Generator
from styleblend.train.options import preset_configs

WIDTHS = [("emoji64 (base)", 2048, 64), ("4-16 px x2 (channel_max 128)", 2048, 128),
          ("64 px x2 (channel_base 4096)", 4096, 64), ("all x2 (4096 / 128)", 4096, 128)]


def main() -> None:
    torch.set_num_threads(1)
    g0, d0 = preset_configs("emoji64", 64)
    D = Discriminator(d0)
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for name, base, cmax in WIDTHS:
        g = dataclasses.replace(g0, synthesis=dataclasses.replace(g0.synthesis, channel_base=base, channel_max=cmax))
        G = Generator(g).train()
        z = torch.randn(16, g.z_dim)
        times = []
        for _ in range(6):
            t = time.perf_counter()
            D(G(z, None, noise_mode="random", fused_modconv=False)).sum().backward()
            times.append(time.perf_counter() - t)
        median = sorted(times[1:])[2]
        print(f"{name}: G {sum(p.numel() for p in G.parameters()) / 1e6:.2f} M parameters, channels at 4-64 px "
              f"{[g.channels(r) for r in (4, 8, 16, 32, 64)]}, pass of 16: {median * 1000:.0f} ms")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
