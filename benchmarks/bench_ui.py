"""Benchmark: how fast the web UI's service answers a slider move (issue 7: a preview well under 1 s).

Models, first found: the bundled emoji pair; else ``--base/--transfer``; else the latest snapshot of
``runs/base-emoji64`` with a perturbed copy as the transfer; else a random model of the bundled
architecture (``emoji64`` preset: 64 px, z = w = 128, 2 mapping layers, ~0.43 M parameters) and a
perturbed copy. Timing goes through :class:`styleblend.ui.service.BlendSession` (no HTTP), 3 seeds, so
every preview is a 3 x 3 grid (base | transfer | blend):

* cold: the first preview (renders the base and transfer columns too);
* slider move: a new α vector, one resolution moved (the live renderer re-runs the blocks from that resolution
  up for the blend column, :mod:`styleblend.blend.live`; encode PNG);
* repeat: an α vector seen before (the PNG cache);
* revisit: an α vector seen before whose PNG was evicted (rendered again from the first block that differs
  from the last render);
* mix / morph (8 frames) through the blend.

``--live R`` measures instead the live renderer the UI's big-model path uses
(:class:`styleblend.blend.live.LiveBlend`) on a config-f-shaped model of R px (random weights, z = w = 512,
8 mapping layers, channel_base 32768, channel_max 512) and a perturbed copy: for a move of each resolution's
slider, the time until the low-resolution preview of the first seed (its skip image at ``--preview`` px, 64 by
default), until its full-resolution image, and until all seeds are done, with the blocks each move re-ran;
beside it the whole blended generator rendered from scratch for the same move (blend the state dicts, load,
render the seeds).

``--stages R`` measures what the page waits for with such a model, through the service as the page asks
(:meth:`BlendSession.preview_result`: the low-resolution stage, then one more seed at full resolution per
request, each answer a PNG of the whole grid): per slider move, the time until the first image (the first
seed's 64 px skip image in the grid) and until each seed is at full resolution, and the blocks re-run.

Usage::

    python benchmarks/bench_ui.py [--base A --transfer B] [--repeats 20] [--threads N]
    python benchmarks/bench_ui.py --live 1024 [--preview 128] [--seeds 3] [--threads N]
    python benchmarks/bench_ui.py --stages 1024 [--seeds 3] [--threads N] [--sliders 1024,64,4]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))


def _perturbed(ckpt, scale: float = 0.3):
    import torch

    from styleblend.io import Checkpoint

    gen = torch.Generator().manual_seed(1)
    state = {}
    for key, value in ckpt.g_ema.items():
        if key.endswith(("resample_filter", "noise_const")) or not value.is_floating_point():
            state[key] = value.clone()
        else:
            v = value.float()
            spread = v.std() if v.numel() > 1 else v.abs() + 0.1
            state[key] = (v + scale * spread * torch.randn(v.shape, generator=gen)).to(value.dtype)
    return Checkpoint(g_config=ckpt.g_config, g_ema=state)


def load_models(base: str | None, transfer: str | None):
    """(base, transfer, description) following the order in the module docstring."""
    from styleblend.errors import MissingWeightsError
    from styleblend.io import Checkpoint, load_checkpoint

    if base and transfer:
        return load_checkpoint(base), load_checkpoint(transfer), f"{base} + {transfer}"
    try:
        from styleblend.models import bundled_checkpoint

        return bundled_checkpoint("base"), bundled_checkpoint("transfer"), "the bundled emoji pair"
    except (MissingWeightsError, ImportError):
        pass
    snaps = sorted((HERE.parent / "runs" / "base-emoji64").glob("network-snapshot-*.safetensors"))
    if snaps:
        ckpt = load_checkpoint(snaps[-1])
        return ckpt, _perturbed(ckpt), f"{snaps[-1].name} + a perturbed copy (bundled pair not installed)"
    from styleblend.nn import Generator
    from styleblend.train.options import preset_configs

    cfg, _ = preset_configs("emoji64", 64)
    ckpt = Checkpoint(g_config=cfg, g_ema=Generator(cfg).state_dict())
    return ckpt, _perturbed(ckpt), "random emoji64-architecture model + a perturbed copy"


def _time(fn, repeats: int) -> list[float]:
    out = []
    for i in range(repeats):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base")
    parser.add_argument("--transfer")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--live", type=int, default=None, metavar="R",
                        help="measure the live renderer on an R px config-f-shaped model instead")
    parser.add_argument("--preview", type=int, default=64, help="preview resolution for --live (default 64)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per preview for --live (default 3)")
    parser.add_argument("--stages", type=int, default=None, metavar="R",
                        help="measure the page's progressive stages through the service on an R px model")
    parser.add_argument("--sliders", default=None, help="for --stages: the resolutions whose slider moves "
                        "(comma-separated; default all)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.live:
        live_table(args.live, args.preview, args.seeds)
        return
    if args.stages:
        stages_table(args.stages, args.seeds, args.sliders)
        return

    from styleblend.ui.service import BlendSession

    base, transfer, what = load_models(args.base, args.transfer)
    params = sum(v.numel() for k, v in base.g_ema.items() if not k.endswith(("noise_const", "resample_filter")))
    t0 = time.perf_counter()
    session = BlendSession(base, transfer)
    startup = time.perf_counter() - t0
    n_res = len(session.resolutions)
    seeds = "1,3,5"

    def alphas(i: int) -> list[float]:
        # A different vector each call, as a slider being dragged: one resolution moves.
        a = [1.0 if j < n_res // 2 else 0.0 for j in range(n_res)]
        a[i % n_res] = round(((i * 37) % 97) / 97, 4)
        return a

    cold = _time(lambda i: session.preview(alphas(10_000), seeds, 0.7), 1)[0]
    move = _time(lambda i: session.preview(alphas(i), seeds, 0.7), args.repeats)
    repeat = _time(lambda i: session.preview(alphas(i), seeds, 0.7), args.repeats)
    session._pngs.clear()  # drop the PNGs: the "revisit" case
    revisit = _time(lambda i: session.preview(alphas(i), seeds, 0.7), args.repeats)
    mix = _time(lambda i: session.mix(1, 5, "0-3"), 5)
    morph = _time(lambda i: session.morph(1, 5, 8), 5)
    session.close()

    def row(name: str, values: list[float]) -> str:
        med = statistics.median(values) * 1000
        return f"| {name:<34} | {med:9.1f} | {max(values) * 1000:9.1f} | {len(values):3d} |"

    print(f"models: {what}; {base.g_config.img_resolution} px, {params / 1e6:.2f} M G parameters, "
          f"{n_res} resolutions; torch threads {torch.get_num_threads()}; session start {startup:.2f} s")
    print("| case (3 seeds x base/transfer/blend) | median ms |    max ms |   n |")
    print("|------------------------------------|-----------|-----------|-----|")
    print(row("cold first preview", [cold]))
    print(row("slider move (new alphas)", move))
    print(row("repeat (PNG cache)", repeat))
    print(row("revisit (PNG evicted)", revisit))
    print(row("style mixing, through the blend", mix))
    print(row("morph, 8 frames, through the blend", morph))


def live_table(resolution: int, preview: int, n_seeds: int) -> None:
    """Per slider: time to the first seed's preview, its full image and all seeds, live vs from scratch."""
    import os

    import torch

    from styleblend.blend.core import blend_two
    from styleblend.blend.live import LiveBlend
    from styleblend.blend.schedules import Table
    from styleblend.config import GeneratorConfig
    from styleblend.io import Checkpoint
    from styleblend.io.checkpoint import load_state_dict_strict
    from styleblend.nn import Generator

    torch.manual_seed(0)
    cfg = GeneratorConfig(img_resolution=resolution)
    base = Checkpoint(g_config=cfg, g_ema={k: v.clone() for k, v in Generator(cfg).state_dict().items()})
    transfer = _perturbed(base)
    res = list(cfg.block_resolutions)
    preview = min(preview, resolution)
    live = LiveBlend(base.g_ema, transfer.g_ema, cfg)
    seeds = list(range(n_seeds))
    ws = live.latents(seeds, 0.7)
    alphas = [1.0 if r <= 16 else 0.0 for r in res]
    load = [os.getloadavg()[0]]

    def move(alphas: list[float]) -> tuple[float, float, float, int]:
        t0 = time.perf_counter()
        first = live.render(0, ws[:1], alphas, stop_resolution=preview if preview < resolution else None)
        t_preview = time.perf_counter() - t0
        blocks = first.blocks_run
        if not first.final:
            blocks += live.render(0, ws[:1], alphas).blocks_run
        t_first = time.perf_counter() - t0
        for k in range(1, n_seeds):
            blocks += live.render(k, ws[k:k + 1], alphas).blocks_run
        return t_preview, t_first, time.perf_counter() - t0, blocks

    G = Generator(cfg).eval()

    def scratch(alphas: list[float]) -> float:
        t0 = time.perf_counter()
        load_state_dict_strict(G, blend_two(base.g_ema, transfer.g_ema, Table(tuple(zip(res, alphas))), cfg),
                               what="scratch")
        with torch.inference_mode():
            for k in range(n_seeds):
                G.synthesis(ws[k:k + 1], noise_mode="const")
        return time.perf_counter() - t0

    cold = move(alphas)
    print(f"live renderer, {resolution} px config-f-shaped model (random weights) + perturbed copy, {n_seeds} seeds "
          f"rendered one by one, preview at {preview} px; torch threads {torch.get_num_threads()}")
    print("| slider moved | preview of seed 1 s | seed 1 full s | all seeds s | blocks re-run | from scratch s |")
    print("|--------------|---------------------|---------------|-------------|---------------|----------------|")
    print(f"| (first render) | {cold[0]:.2f} | {cold[1]:.2f} | {cold[2]:.2f} | {cold[3]} | - |")
    for i, r in enumerate(res):
        alphas = list(alphas)
        alphas[i] = 0.5 if alphas[i] != 0.5 else 0.25
        t = move(alphas)
        load.append(os.getloadavg()[0])
        print(f"| {r} px | {t[0]:.2f} | {t[1]:.2f} | {t[2]:.2f} | {t[3]} | {scratch(alphas):.2f} |")
    print(f"load average (1 min) during the run: {min(load):.1f}-{max(load):.1f}")


def stages_table(resolution: int, n_seeds: int, sliders: str | None) -> None:
    """Per slider move, through BlendSession.preview_result as the page asks: first image, each seed at full."""
    import os

    import torch

    from styleblend.config import GeneratorConfig
    from styleblend.io import Checkpoint
    from styleblend.nn import Generator
    from styleblend.ui.service import BlendSession

    torch.manual_seed(0)
    cfg = GeneratorConfig(img_resolution=resolution)
    base = Checkpoint(g_config=cfg, g_ema={k: v.clone() for k, v in Generator(cfg).state_dict().items()})
    session = BlendSession(base, _perturbed(base))
    res = session.resolutions
    seeds = ",".join(str(s) for s in range(n_seeds))
    alphas = [1.0 if r <= 16 else 0.0 for r in res]
    load = [os.getloadavg()[0]]

    def move(alphas: list[float]) -> tuple[list[float], int, str]:
        t0 = time.perf_counter()
        times, blocks, rows, stage = [], 0, 0, "low"
        while True:
            _, meta = session.preview_result(alphas, seeds, 0.7, full_rows=rows, stream="bench", seq=0)
            times.append(time.perf_counter() - t0)
            blocks += meta["blocks"]
            stage = meta["stage"]
            if meta["final"]:
                return times, blocks, stage
            rows = meta["full_rows"] + 1

    t0 = time.perf_counter()
    cold = move(alphas)
    print(f"page stages through BlendSession.preview_result: {resolution} px config-f-shaped model (random weights) "
          f"+ perturbed copy, {n_seeds} seeds, low stage {session._low} px; torch threads {torch.get_num_threads()}")
    print(f"first render (base and transfer columns too): {', '.join(f'{t:.2f}' for t in cold[0])} s, "
          f"{time.perf_counter() - t0:.1f} s in all")
    print("| slider moved | first image s | then each seed at full resolution s | blocks re-run |")
    print("|---|---:|---|---:|")
    wanted = [int(r) for r in sliders.split(",")] if sliders else res
    for r in wanted:
        i = res.index(r)
        alphas = list(alphas)
        alphas[i] = 0.5 if alphas[i] != 0.5 else 0.25
        times, blocks, _ = move(alphas)
        load.append(os.getloadavg()[0])
        print(f"| {r} px | {times[0]:.2f} | {', '.join(f'{t:.2f}' for t in times[1:])} | {blocks} |")
    print(f"load average (1 min) during the run: {min(load):.1f}-{max(load):.1f}")
    session.close()


if __name__ == "__main__":
    main()
