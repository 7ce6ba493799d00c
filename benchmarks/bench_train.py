"""Training speed: kimg/s of the StyleGAN2-ADA phases for the tiny32 and emoji64 presets.

Each phase (Gmain, Dmain, Greg = path length, Dreg = R1) is timed on random data with its
optimiser step, and the amortised step time is Gmain + Dmain + Greg / g_reg_interval +
Dreg / d_reg_interval, i.e. what the training loop spends per minibatch (without snapshots).
"ada" runs the augmentation at p = 0.5 (at p = 0 ADA is the identity and costs nothing).

    PYTHONPATH=src python3 benchmarks/bench_train.py [--reps 2] [--threads 1] [--configs tiny32,emoji64]

Do not run it next to a training job except as a short smoke run (--reps 1 --configs tiny32).
"""

from __future__ import annotations

import argparse
import time

import torch

from styleblend.nn import Discriminator, Generator
from styleblend.train.augment import AugmentPipe
from styleblend.train.loss import StyleGAN2Loss
from styleblend.train.options import TrainOptions, preset_configs

RESOLUTION = {"tiny32": 32, "emoji64": 64}


def time_phases(cfg: str, batch: int, aug: bool, reps: int) -> dict[str, float]:
    """Median seconds of each phase (forward, backward, optimiser step) for one minibatch."""
    res = RESOLUTION[cfg]
    g_cfg, d_cfg = preset_configs(cfg, res)
    torch.manual_seed(0)
    G, D = Generator(g_cfg).train(), Discriminator(d_cfg).train()
    pipe = AugmentPipe(p=0.5) if aug else None
    loss = StyleGAN2Loss(G, D, augment=pipe, r1_gamma=0.1)
    opt_G = torch.optim.Adam(G.parameters(), lr=0.002, betas=(0.0, 0.99))
    opt_D = torch.optim.Adam(D.parameters(), lr=0.002, betas=(0.0, 0.99))
    real = torch.rand(batch, 3, res, res) * 2 - 1
    times: dict[str, float] = {}
    for phase in ("Gmain", "Dmain", "Greg", "Dreg"):
        net, other, opt = (G, D, opt_G) if phase[0] == "G" else (D, G, opt_D)
        other.requires_grad_(False)
        net.requires_grad_(True)
        samples = []
        for rep in range(reps + 1):  # the first repetition warms up and is not counted
            z = torch.randn(batch, g_cfg.z_dim)
            start = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss.accumulate_gradients(phase, real, None, z, None, gain=1.0)
            opt.step()
            if rep:
                samples.append(time.perf_counter() - start)
        times[phase] = sorted(samples)[len(samples) // 2]
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="tiny32,emoji64")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--reps", type=int, default=2, help="timed repetitions per phase (median)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    defaults = TrainOptions(data="", outdir="")
    g_int, d_int = defaults.g_reg_interval, defaults.d_reg_interval
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"median of {args.reps} reps; step = Gmain + Dmain + Greg/{g_int} + Dreg/{d_int}")
    header = f"| {'config':8} | {'aug':9} | {'Gmain s':>7} | {'Dmain s':>7} | {'Greg s':>7} | {'Dreg s':>7} " \
             f"| {'s/step':>7} | {'kimg/s':>7} | {'kimg/h':>7} |"
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")
    for cfg in args.configs.split(","):
        for aug in (False, True):
            t = time_phases(cfg, args.batch, aug, args.reps)
            step = t["Gmain"] + t["Dmain"] + t["Greg"] / g_int + t["Dreg"] / d_int
            kimg_s = args.batch / 1000 / step
            print(f"| {cfg:8} | {'ada p=0.5' if aug else 'noaug':9} | {t['Gmain']:7.3f} | {t['Dmain']:7.3f} "
                  f"| {t['Greg']:7.3f} | {t['Dreg']:7.3f} | {step:7.3f} | {kimg_s:7.4f} | {kimg_s * 3600:7.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
