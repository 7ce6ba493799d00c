"""Mixed-precision rendering on the CPU: float32 vs emulated float16 vs native float16, time and fidelity.

A config-f-shaped model with random weights and ``num_fp16_res=4``, ``conv_clamp=256`` (what NVIDIA's ADA
training writes by default), one image per pass, stored noise. Rows: float32 (``--precision float32``),
emulated float16 (``--precision nvidia`` on the CPU) and native float16 (``--precision nvidia-native``, the
reference). The fidelity columns compare each image with the native float16 one: the largest raw difference,
and the uint8 images' largest difference and share of values that differ. Native float16 takes minutes per
256 px image here, so it runs once (``--native-repeats``) and only at the resolutions in ``--native``.

Usage: OMP_NUM_THREADS=1 python benchmarks/bench_fp16.py [--res 64 256] [--native 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import torch

from styleblend.config import GeneratorConfig, SynthesisConfig
from styleblend.media.images import to_uint8
from styleblend.nn import Generator


def model(res: int, seed: int = 0) -> Generator:
    """A config-f-shaped random model at ``res`` px with the 4 finest resolutions in float16."""
    torch.manual_seed(seed)
    cfg = GeneratorConfig(img_resolution=res, synthesis=SynthesisConfig(num_fp16_res=4, conv_clamp=256))
    G = Generator(cfg).eval().requires_grad_(False)
    with torch.no_grad():  # non-zero noise strengths and biases, so every float16 step matters
        for name, p in G.named_parameters():
            if name.endswith(("noise_strength", "bias")):
                p.add_(torch.randn_like(p) * 0.1)
    G.synthesis.mixed_precision = True
    return G


def render(G: Generator, ws: torch.Tensor, mode: str, repeats: int) -> tuple[torch.Tensor, list[float], float]:
    """(image, seconds of each pass, 1-minute load average after) for mode float32 / emulated / native."""
    kwargs = {"float32": dict(mixed_precision=False), "emulated": dict(fp16_path="emulated"),
              "native": dict(fp16_path="float16")}[mode]
    times = []
    with torch.inference_mode():
        for _ in range(repeats):
            start = time.perf_counter()
            img = G.synthesis(ws, **kwargs)
            times.append(time.perf_counter() - start)
    return img, times, os.getloadavg()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--res", type=int, nargs="+", default=[64, 256], help="model resolutions")
    parser.add_argument("--native", type=int, nargs="*", default=[64], help="resolutions that also run native fp16")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of float32 and emulated (median)")
    parser.add_argument("--native-repeats", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="seed of z (and of the weights)")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"load before {os.getloadavg()[0]:.2f}\n")
    print("| model | path | s / image (median) | passes | vs float32 | load after | raw max vs native "
          "| uint8 max / share differing vs native |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for res in args.res:
        G = model(res, args.seed)
        z = torch.from_numpy(np.random.RandomState(args.seed).randn(1, G.z_dim)).float()
        with torch.inference_mode():
            ws = G.mapping(z, None)
        G.synthesis(ws[:, :, :], mixed_precision=False)  # warm-up (allocator, oneDNN primitives)
        modes = ["float32", "emulated"] + (["native"] if res in args.native else [])
        results = {m: render(G, ws, m, args.native_repeats if m == "native" else args.repeats) for m in modes}
        base = statistics.median(results["float32"][1])
        native = results.get("native")
        for m, (img, times, load) in results.items():
            t = statistics.median(times)
            fid = "n/a | n/a"
            if native is not None:
                raw = (img - native[0]).abs().max().item()
                d = np.abs(to_uint8(img).astype(int) - to_uint8(native[0]).astype(int))
                fid = f"{raw:.2e} | {d.max()} / {100 * (d > 0).mean():.3f} %"
            print(f"| {res} px config-f, fp16 >= {G.cfg.fp16_resolutions[0]} px | {m} | {t:.2f} | {len(times)} "
                  f"| {t / base:.2f}x | {load:.2f} | {fid} |", flush=True)


if __name__ == "__main__":
    main()
