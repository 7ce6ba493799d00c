"""Generator throughput on this machine: images/s for a 64 px small model and config-f 256/1024 px.

Random weights (speed does not depend on their values). Prints a Markdown table.
Usage: python benchmarks/bench_generate.py [--device cpu] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time

import torch

from styleblend.config import GeneratorConfig, MappingConfig, SynthesisConfig
from styleblend.nn import Generator

CONFIGS = {
    "64 px small (ch<=64, 0.47 M)": GeneratorConfig(z_dim=128, w_dim=128, img_resolution=64,
                                                    mapping=MappingConfig(num_layers=4),
                                                    synthesis=SynthesisConfig(channel_base=2048, channel_max=64)),
    "256 px config-f": GeneratorConfig(img_resolution=256),
    "1024 px config-f": GeneratorConfig(img_resolution=1024),
}


@torch.no_grad()
def images_per_second(G: Generator, batch: int, repeats: int, device: str) -> float:
    z = torch.randn(batch, G.z_dim, device=device)
    G(z)  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        G(z)
    return batch * repeats / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {args.device}\n")
    print("| model | params | batch 1 img/s | batch 4 img/s |")
    print("| --- | ---: | ---: | ---: |")
    for name, cfg in CONFIGS.items():
        G = Generator(cfg).eval().to(args.device)
        params = sum(p.numel() for p in G.parameters()) / 1e6
        rates = [images_per_second(G, b, args.repeats, args.device) for b in (1, 4)]
        print(f"| {name} | {params:.1f} M | {rates[0]:.2f} | {rates[1]:.2f} |", flush=True)


if __name__ == "__main__":
    main()
