"""One training step: the phases Gmain, Greg, Dmain, Dreg over one minibatch, then EMA and ADA.

One step processes a minibatch of ``options.batch`` real images (split over processes and, within
a process, into rounds of ``batch_gpu``) through the phases Gmain, Greg (every
``g_reg_interval`` steps), Dmain, Dreg (every ``d_reg_interval``), each followed by its own
optimiser step, as in StyleGAN2-ADA's ``training_loop``.

Every random number of a step is drawn for the whole minibatch from generators seeded by (seed,
step, phase, purpose) (:mod:`.draws`), each pass takes its images' rows, every pass' loss is
weighted by its share of the whole batch and the passes' gradients are added in a fixed tree
order across processes (``distributed.PairwiseSum``). So 1 or 2 processes with the same
``batch_gpu`` give bit-identical runs, another ``batch_gpu`` computes the same sums in another
order (float rounding only), and a resumed run repeats exactly what an uninterrupted one does.
"""

from __future__ import annotations

import torch

from . import distributed as ddp
from .augment import ada_adjust
from .draws import LATENTS, derive_seed, draw_phase, split
from .draws import generator as draw_generator
from .loss import STAT_NAMES, Stats, StyleGAN2Loss
from .networks import set_requires_grad, update_ema
from .progress import StatAverager
from .state import Counters, Phase, Run

__all__ = ["reduce_phase_stats", "run_phase", "train_step"]


def train_step(run: Run, counters: Counters, averager: StatAverager) -> None:
    """Run every phase due at ``counters.step``, update G_ema and ADA's p, advance ``counters``.

    The phases' mean statistics go to ``averager`` (for the tick's log record).
    """
    options = run.options
    real_idx = run.order.take(counters.cur_nimg, options.batch)
    for phase in run.phases:
        if counters.step % phase.interval:
            continue
        means, sums = run_phase(run, phase, counters.step, real_idx)
        if "pl_length" in means:
            run.loss.update_pl_mean(means["pl_length"])
        if "D_real_sign" in means:
            counters.ada_acc[0] += sums["D_real_sign"][0]
            counters.ada_acc[1] += sums["D_real_sign"][1]
        averager.add(means)

    # As StyleGAN2-ADA: the ramp-up uses the images shown before this step.
    update_ema(run.G_ema, run.G, counters.cur_nimg, options.batch, options.ema_kimg, options.ema_rampup)
    counters.cur_nimg += options.batch
    counters.step += 1
    augment = run.augment
    if augment is not None and options.augment == "ada" and counters.step % options.ada_interval == 0:
        signs, count = counters.ada_acc  # already summed over processes
        if count > 0:
            augment.p.fill_(ada_adjust(float(augment.p), signs / count, options.ada_target, options.batch,
                                       options.ada_interval, options.ada_kimg))
        counters.ada_acc = [0.0, 0.0]


def run_phase(run: Run, phase: Phase, step: int, real_idx: torch.Tensor) -> tuple[dict[str, float], Stats]:
    """One phase of step ``step``: this process' passes, the gradient sum over processes, the optimiser step.

    Args:
        run: the run.
        phase: the phase to run.
        step: the step (seeds the phase's draws).
        real_idx: int64 [batch] data set indices of the step's real images (all processes).

    Returns:
        The phase's mean statistics and their (sum, count) over all processes.
    """
    options, dataset, info, device = run.options, run.dataset, run.info, run.device
    # Everything random of this phase, for the whole batch (see .draws).
    z_gen = draw_generator(options.seed, step, phase.index, LATENTS)
    gen_z = torch.randn([options.batch, run.G.z_dim], generator=z_gen)
    gen_c = pl_c = None
    if dataset.c_dim > 0:
        gen_c = dataset.get_batch(torch.randint(len(dataset), [options.batch], generator=z_gen))[1]
        pl_c = dataset.get_batch(torch.randint(len(dataset), [run.pl_batch], generator=z_gen))[1]
    draws = draw_phase(phase.name, run.G, run.augment, seed=options.seed, step=step, phase_idx=phase.index,
                       batch=options.batch, pl_batch=run.pl_batch, style_mixing_prob=options.style_mixing_prob,
                       pl_labels=pl_c, img_channels=run.g_cfg.img_channels)
    fork_devices = [device] if device.type == "cuda" else []
    params = phase.params
    set_requires_grad(params, True)
    grads = ddp.PairwiseSum()  # the passes' gradients, added in a split-independent order
    sums: Stats = dict.fromkeys(STAT_NAMES, (0.0, 0.0))
    batch_gpu = run.batch_gpu
    for r in range(run.rounds):
        for p in params:
            p.grad = None
        k = info.rank * run.rounds + r  # global pass index: the same images for any split
        sl = slice(k * batch_gpu, (k + 1) * batch_gpu)
        real_img, real_c = dataset.get_batch(real_idx[sl])
        with torch.random.fork_rng(devices=fork_devices):
            # Nothing should draw from the global generator; if something does, it still repeats on resume.
            torch.manual_seed(derive_seed(options.seed, 2, step, phase.index, k))
            stats = run.loss.accumulate_gradients(
                phase.name, _to_float(real_img, device), real_c.to(device) if dataset.c_dim else None,
                gen_z[sl].to(device), gen_c[sl].to(device) if gen_c is not None else None,
                gain=phase.interval, draws=draws.rows(sl, split(run.pl_batch, run.passes, k)).to(device),
                total=options.batch, pl_total=run.pl_batch)
        for key, (value, count) in stats.items():
            sums[key] = (sums[key][0] + value, sums[key][1] + count)
        grads.add(ddp.flat_grads(params))
    set_requires_grad(params, False)
    ddp.reduce_gradients(params, info, grads.result())
    phase.opt.step()
    return reduce_phase_stats(sums, run.loss, info, device), sums


def reduce_phase_stats(sums: Stats, loss: StyleGAN2Loss, info: ddp.DistInfo, device: torch.device) -> dict[str, float]:
    """Sum a phase's statistics and G's ws over processes; move w_avg; return the phase's means.

    ``sums`` is replaced in place by the sums over all processes. One all-reduce carries
    everything, so every process gets the same numbers (the same w_avg, path-length mean and ADA
    statistic), whatever its share of the batch.
    """
    w_sum, w_count = loss.pop_w_sum()
    w_dim = loss.G.mapping.w_avg.numel() if hasattr(loss.G.mapping, "w_avg") else 0
    flat = [v for key in STAT_NAMES for v in sums[key]] + [float(w_count)]
    vec = torch.tensor(flat, dtype=torch.float64, device=device)
    if w_dim:
        w_vec = w_sum.to(device) if w_sum is not None else torch.zeros(w_dim, dtype=torch.float64, device=device)
        vec = torch.cat([vec, w_vec])
    vec = ddp.all_reduce_sum_tensor(vec, info)
    n_stats = 2 * len(STAT_NAMES)
    for i, key in enumerate(STAT_NAMES):
        sums[key] = (float(vec[2 * i]), float(vec[2 * i + 1]))
    total_w = float(vec[n_stats])
    if w_dim and total_w > 0:
        loss.update_w_avg((vec[n_stats + 1:] / total_w).to(torch.float32))
    return {key: s / n for key, (s, n) in sums.items() if n}


def _to_float(img: torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 images [N, C, H, W] -> float32 in [-1, 1] on ``device``."""
    return img.to(device=device, dtype=torch.float32) / 127.5 - 1
