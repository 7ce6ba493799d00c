"""StyleGAN3's float16 layers on the CPU: the cost of emulating them (``--precision nvidia-cuda``) against float32,
and, on a given snapshot, how far the emulation and float32 are from the true float16 path.

Cost: one image of NVIDIA's FFHQ shape (``ffhqu-256x256`` for T: channel_base 16384, channel_max 512, 14 layers
+ ToRGB, ``num_fp16_res=4``; random weights, seed 0), float32 then emulated, alternating for ``--repeats``
rounds. Fidelity (``--snapshot``): seeds 0-5 at psi 1 through the true float16 path (``fp16_path='float16'``,
CUDA's computation on the CPU; slow) and through the others, compared raw and as uint8.

Prints the load average before and after (other work on the machine slows the times).
Usage: OMP_NUM_THREADS=1 python benchmarks/bench_fp16_sg3.py [--res 256] [--kind T] [--repeats 1]
       [--snapshot ../shared/fixtures/nvidia-sg3t32/network-snapshot.pkl]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from styleblend.config_sg3 import SG3SynthesisConfig, StyleGAN3Config, stylegan3_r
from styleblend.io import Checkpoint, load_checkpoint
from styleblend.latents.mapping import seeds_to_ws
from styleblend.media.images import to_uint8
from styleblend.nn.build import build_generator

PATHS = {"float32": (False, "auto"), "emulated": (True, "emulated"), "native": (True, "float16")}


def config(kind: str, res: int) -> StyleGAN3Config:
    """NVIDIA's FFHQ shape (see benchmarks/bench_generate_sg3.py), with NVIDIA's default num_fp16_res=4."""
    base = 16384 if res == 256 else 32768
    synthesis = stylegan3_r(channel_base=2 * base) if kind == "R" else SG3SynthesisConfig(channel_base=base)
    return StyleGAN3Config(img_resolution=res, synthesis=synthesis)


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


@torch.no_grad()
def cost(kind: str, res: int, repeats: int) -> None:
    torch.manual_seed(0)
    cfg = config(kind, res)
    ckpt = Checkpoint(g_config=cfg, g_ema=build_generator(cfg).state_dict())
    layers = sum(s.use_fp16 for s in cfg.layers)
    print(f"StyleGAN3-{kind} {res} px, {layers} of {len(cfg.layers)} layers float16; threads "
          f"{torch.get_num_threads()}; load before {load()}")
    gens = {name: ckpt.generator(mixed_precision=m, fp16_path=p) for name, (m, p) in PATHS.items() if name != "native"}
    ws = seeds_to_ws(gens["float32"], [0])
    times: dict[str, list[float]] = {name: [] for name in gens}
    for _ in range(repeats):
        for name, G in gens.items():
            start = time.perf_counter()
            G.synthesis(ws)
            times[name].append(time.perf_counter() - start)
            print(f"  {name}: {times[name][-1]:.2f} s (load {load()})", flush=True)
    base = float(np.median(times["float32"]))
    print("| path | s / image (median) | vs float32 |\n| --- | ---: | ---: |")
    for name, t in times.items():
        print(f"| {name} | {np.median(t):.2f} | {np.median(t) / base:.2f}x |")
    print(f"load after {load()}")


@torch.no_grad()
def fidelity(path: str) -> None:
    ckpt = load_checkpoint(path)
    imgs = {}
    for name, (mixed, fp16_path) in PATHS.items():
        G = ckpt.generator(mixed_precision=mixed, fp16_path=fp16_path)
        imgs[name] = G.synthesis(seeds_to_ws(G, list(range(6)), 1.0))
    native = imgs["native"]
    # Layer by layer from the same float16 input: the share of values where the fast float32 sums round differently.
    G = ckpt.generator(mixed_precision=True, fp16_path="float16")
    ws = seeds_to_ws(G, list(range(6)), 1.0)
    x, shares = G.synthesis.input(ws[:, 0]), []
    for i, name in enumerate(G.synthesis.layer_names):
        layer = getattr(G.synthesis, name)
        y = layer(x, ws[:, i + 1], mixed_precision=True)
        if layer.use_fp16:
            emulated = layer(x.float(), ws[:, i + 1], mixed_precision=True, emulate_fp16=True)
            shares.append(float((emulated != y.float()).float().mean()) * 100)
        x = y
    print(f"per float16 layer, emulated vs float16 from the same input: {min(shares):.2f}-{max(shares):.2f} % of "
          f"the values differ ({len(shares)} layers)")
    print(f"{path}: seeds 0-5, psi 1, against the true float16 path\n"
          "| path | raw max | raw mean | values equal | uint8 max | uint8 share differing |\n"
          "| --- | ---: | ---: | ---: | ---: | ---: |")
    for name in ("emulated", "float32"):
        d = (imgs[name] - native).abs()
        levels = np.abs(to_uint8(imgs[name]).astype(int) - to_uint8(native).astype(int))
        print(f"| {name} | {d.max():.3g} | {d.mean():.3g} | {(d == 0).float().mean() * 100:.1f} % | {levels.max()} | "
              f"{(levels > 0).mean() * 100:.2f} % |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", default="T", choices=["T", "R"])
    parser.add_argument("--res", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--snapshot", default=None, help="also compare with true float16 on this snapshot")
    parser.add_argument("--no-cost", action="store_true", help="only the --snapshot comparison")
    args = parser.parse_args()
    if args.snapshot:
        fidelity(args.snapshot)
    if not args.no_cost:
        cost(args.kind, args.res, args.repeats)


if __name__ == "__main__":
    main()
