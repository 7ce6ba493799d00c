"""The prepared accelerator check (issue 18 item 7): fidelity and speed of styleblend on one device.

Sections, each time-boxed and each reporting its own failure without stopping the others:

1. environment: torch, device name, capability;
2. fidelity: the NVIDIA fixtures (StyleGAN2 64 px, StyleGAN3-T 32 px; tests/fixtures) rendered on the device
   against the raw output and PNGs NVIDIA's own scripts made (raw within 1e-4 is the CPU's standard; PNGs
   within one level on <= 1 % of values), and the CLI's ``generate --device`` against the same PNGs;
3. device vs CPU: a config-f-shaped 256 px model of seeded random weights, float32 and NVIDIA's mixed
   precision (``num_fp16_res=4``: native float16 on an accelerator, emulated on the CPU);
4. speed: generator images/s at 256 and 1024 px, batch 1 / 8 / 32, float32;
5. projection: forward + backward w.r.t. W+ (+ Adam) steps/s at 256 px, the step the issue compares.

``--quick`` shrinks every size so the whole check runs in seconds on a CPU (the test suite runs it that way,
so the script is known to work before an accelerator is ever lent). Prints Markdown; ``--json`` also writes
every number. Usage (benchmarks/gpu_check.sh runs it on a GPU machine):
    PYTHONPATH=src python benchmarks/gpu_check.py --device cuda [--json out.json] [--quick]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _levels(ours: np.ndarray, ref: np.ndarray) -> tuple[int, float]:
    """(max uint8 level difference, share of values that differ)."""
    diff = np.abs(ours.astype(int) - ref.astype(int))
    return int(diff.max()), float((diff > 0).mean())


def section_environment(device: torch.device, quick: bool) -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads()}
    if device.type == "cuda":
        info["name"] = torch.cuda.get_device_name(device)
        info["capability"] = ".".join(map(str, torch.cuda.get_device_capability(device)))
        info["memory_gib"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)
    print("| key | value |\n| --- | --- |")
    for k, v in info.items():
        print(f"| {k} | {v} |")
    return info


def section_fidelity(device: torch.device, quick: bool) -> dict[str, Any]:
    from styleblend.io import load_checkpoint
    from styleblend.latents.mapping import seeds_to_ws
    from styleblend.media.images import to_uint8
    from styleblend.render import render_ws

    out: dict[str, Any] = {}
    print("| fixture | seeds | raw max abs diff | PNG max levels | PNG share differing | within tolerance |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    for name in ("nvidia-g64", "nvidia-sg3t32"):
        folder = FIXTURES / name
        G = load_checkpoint(folder / "network-snapshot.pkl").generator(device)
        seeds = [0, 1, 2, 3]
        with torch.no_grad():
            imgs = render_ws(G, seeds_to_ws(G, seeds), batch_size=4).float().cpu()
        raw = max(float(np.abs(imgs[i:i + 1].numpy() - np.load(folder / "raw" / f"seed{s:04d}_psi1.0.npy")).max())
                  for i, s in enumerate(seeds))
        pngs = to_uint8(imgs)
        worst = [_levels(pngs[i], np.asarray(Image.open(folder / "expected" / "psi1.0" / f"seed{s:04d}.png")))
                 for i, s in enumerate(seeds)]
        level, share = max(w[0] for w in worst), max(w[1] for w in worst)
        ok = raw < 1e-4 and level <= 1 and share <= 0.01
        out[name] = {"raw_max": raw, "png_max_levels": level, "png_share": share, "ok": ok}
        print(f"| {name} | 0-3 | {raw:.2e} | {level} | {share:.4%} | {'yes' if ok else 'NO'} |", flush=True)
    # The command line, end to end, with --device.
    with tempfile.TemporaryDirectory() as tmp:
        folder = FIXTURES / "nvidia-g64"
        cmd = [sys.executable, "-m", "styleblend.cli.main", "generate", "--network",
               str(folder / "network-snapshot.pkl"), "--seeds", "0-3", "--trunc", "1", "--outdir", tmp,
               "--device", str(device)]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        if proc.returncode != 0:
            raise RuntimeError(f"generate --device {device} failed: {proc.stderr.strip()[-500:]}")
        worst = [_levels(np.asarray(Image.open(Path(tmp) / f"seed{s:04d}.png")),
                         np.asarray(Image.open(folder / "expected" / "psi1.0" / f"seed{s:04d}.png")))
                 for s in range(4)]
        level, share = max(w[0] for w in worst), max(w[1] for w in worst)
        ok = level <= 1 and share <= 0.01
        out["cli_generate"] = {"png_max_levels": level, "png_share": share, "ok": ok}
        print(f"| CLI generate --device {device} (nvidia-g64) | 0-3 | - | {level} | {share:.4%} | "
              f"{'yes' if ok else 'NO'} |")
    return out


def _config_f(res: int, fp16: int = 0, quick: bool = False):
    from styleblend.config import GeneratorConfig, MappingConfig, SynthesisConfig

    if quick:  # a small stand-in with the same structure, so the CPU smoke run takes seconds
        return GeneratorConfig(z_dim=32, w_dim=32, img_resolution=min(res, 32), mapping=MappingConfig(num_layers=2),
                               synthesis=SynthesisConfig(channel_base=256, channel_max=32, num_fp16_res=fp16,
                                                         conv_clamp=256 if fp16 else None))
    return GeneratorConfig(img_resolution=res, synthesis=SynthesisConfig(num_fp16_res=fp16,
                                                                         conv_clamp=256 if fp16 else None))


def _random_generator(cfg, seed: int = 0):
    from styleblend.nn.build import build_generator

    torch.manual_seed(seed)
    return build_generator(cfg).eval()


def section_device_vs_cpu(device: torch.device, quick: bool) -> dict[str, Any]:
    from styleblend.latents.mapping import seeds_to_ws
    from styleblend.media.images import to_uint8

    out: dict[str, Any] = {}
    print("| model | precision | raw max abs diff | uint8 max levels | uint8 share differing |")
    print("| --- | --- | ---: | ---: | ---: |")
    for label, fp16 in (("float32", 0), ("nvidia mixed (fp16 at 4 top resolutions)", 4)):
        G = _random_generator(_config_f(256, fp16, quick))
        ws = seeds_to_ws(G, [0, 1])
        with torch.no_grad():
            cpu = G.synthesis(ws, noise_mode="const", mixed_precision=bool(fp16)).float()
            Gd = G.to(device)
            dev = Gd.synthesis(ws.to(device), noise_mode="const", mixed_precision=bool(fp16)).float().cpu()
        raw = float((cpu - dev).abs().max())
        level, share = _levels(to_uint8(dev), to_uint8(cpu))
        out[label] = {"raw_max": raw, "levels": level, "share": share}
        print(f"| {G.img_resolution} px config-f shape | {label} | {raw:.2e} | {level} | {share:.4%} |", flush=True)
    return out


def _rate(step: Callable[[], Any], device: torch.device, items: int, min_s: float) -> float:
    step()  # warm-up (kernels, allocator)
    _sync(device)
    count, start = 0, time.perf_counter()
    while True:
        step()
        count += 1
        _sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_s or count >= 50:
            return items * count / elapsed


def section_speed(device: torch.device, quick: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    batches = (1, 2) if quick else (1, 8, 32)
    print("| model | " + " | ".join(f"batch {b} img/s" for b in batches) + " |")
    print("| --- | " + " | ".join("---:" for _ in batches) + " |")
    for res in (256, 1024):
        G = _random_generator(_config_f(res, 0, quick)).to(device)
        rates = []
        for b in batches:
            z = torch.randn(b, G.z_dim, device=device)
            with torch.inference_mode():
                rates.append(_rate(functools.partial(G, z, noise_mode="const"), device, b, 0.2 if quick else 2.0))
        out[f"{res}"] = dict(zip(map(str, batches), rates))
        print(f"| {G.img_resolution} px config-f shape | " + " | ".join(f"{r:.2f}" for r in rates) + " |", flush=True)
    return out


def section_projection(device: torch.device, quick: bool) -> dict[str, Any]:
    G = _random_generator(_config_f(256, 0, quick)).to(device).requires_grad_(False)
    target = torch.zeros([1, 3, G.img_resolution, G.img_resolution], device=device)
    ws = G.mapping.w_avg.detach().view(1, 1, -1).repeat(1, G.num_ws, 1).clone().requires_grad_(True)
    opt = torch.optim.Adam([ws], lr=0.01)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        img = G.synthesis(ws, noise_mode="const")
        loss = (img - target).square().mean()
        loss.backward()
        opt.step()

    rate = _rate(step, device, 1, 0.2 if quick else 3.0)
    print("| model | steps/s (W+, MSE, Adam) |\n| --- | ---: |")
    print(f"| {G.img_resolution} px config-f shape | {rate:.2f} |")
    return {"steps_per_s": rate}


SECTIONS = {"environment": section_environment, "fidelity": section_fidelity,
            "device vs CPU": section_device_vs_cpu, "speed": section_speed, "projection": section_projection}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run that takes seconds on a CPU")
    p.add_argument("--json", type=Path, default=None, help="also write every number here")
    p.add_argument("--only", default=None, help="comma-separated section names (default: all)")
    args = p.parse_args(argv)
    device = torch.device(args.device)
    wanted = list(SECTIONS) if args.only is None else [s.strip() for s in args.only.split(",")]
    results: dict[str, Any] = {"device": str(device), "quick": args.quick}
    failures = 0
    for name in wanted:
        print(f"\n## {name}\n", flush=True)
        start = time.perf_counter()
        try:
            results[name] = SECTIONS[name](device, args.quick)
        except Exception as exc:  # a failing section must not hide the others' numbers
            failures += 1
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"FAILED: {type(exc).__name__}: {exc}")
            traceback.print_exc(limit=4)
        print(f"\n({name}: {time.perf_counter() - start:.1f} s)", flush=True)
    fidelity = results.get("fidelity", {})
    bad = [k for k, v in fidelity.items() if isinstance(v, dict) and v.get("ok") is False]
    failures += len(bad)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\ngpu_check: {failures} failure(s)" + (f" (fidelity: {', '.join(bad)})" if bad else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
