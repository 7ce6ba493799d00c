"""The StyleGAN2(-ADA) training loop: phases, optimisers, EMA, ADA, ticks and snapshots.

One step processes a minibatch of ``options.batch`` real images (split over processes and, within
a process, into rounds of ``batch_gpu``) through the phases Gmain, Greg (every
``g_reg_interval`` steps), Dmain, Dreg (every ``d_reg_interval``), each followed by its own
optimiser step, as in StyleGAN2-ADA's ``training_loop``. Lazy regularisation uses Adam with
``lr * c`` and ``betas ** c``, c = interval / (interval + 1) (StyleGAN2 Appendix B).

Every random number of a step is drawn for the whole minibatch from generators seeded by (seed,
step, phase, purpose) (:mod:`.draws`), each pass takes its images' rows, every pass' loss is
weighted by its share of the whole batch and the passes' gradients are added in a fixed tree
order across processes (``distributed.PairwiseSum``). So 1 or 2 processes with the same
``batch_gpu`` give bit-identical runs, another ``batch_gpu`` computes the same sums in another
order (float rounding only), and a resumed run repeats exactly what an uninterrupted one does.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..config import DiscriminatorConfig, GeneratorConfig
from ..errors import ArchitectureMismatchError, InvalidArgumentError
from ..io.atomic import write_bytes_atomic
from ..io.checkpoint import load_state_dict_strict
from ..io.files import load_checkpoint
from ..latents.seeds import z_from_seeds
from ..media.images import make_grid, save_png, to_uint8
from ..nn import Discriminator, Generator
from . import checkpointing as ckpt_io
from . import distributed as ddp
from .augment import AugmentPipe, ada_adjust
from .data import ImageZipDataset
from .draws import LATENTS, derive_seed, draw_phase, split
from .draws import generator as draw_generator
from .loss import STAT_NAMES, StyleGAN2Loss
from .options import TrainOptions, preset_configs
from .progress import ProgressReporter, StatAverager, truncate_log

log = logging.getLogger(__name__)

__all__ = ["DataOrder", "TrainResult", "build_networks", "derive_seed", "render_grid", "train", "update_ema"]


@dataclass
class TrainResult:
    """What a call to :func:`train` did."""

    run_dir: Path
    cur_nimg: int
    step: int
    snapshots: list[Path] = field(default_factory=list)
    finished: bool = False
    rank: int = 0
    #: The run had already reached ``options.kimg`` when this call started: nothing was trained or written.
    already_done: bool = False


class DataOrder:
    """Epoch-wise shuffled order of a data set; position ``k`` of the stream is fixed by the seed."""

    def __init__(self, num_items: int, seed: int) -> None:
        self.num_items, self.seed = num_items, seed
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(derive_seed(self.seed, 0, epoch))
            self._epoch, self._perm = epoch, torch.randperm(self.num_items, generator=g)
        return self._perm

    def take(self, start: int, count: int) -> torch.Tensor:
        """Item indices at stream positions [start, start + count)."""
        out = []
        pos = start
        while pos < start + count:
            epoch, i = divmod(pos, self.num_items)
            n = min(start + count - pos, self.num_items - i)
            out.append(self._permutation(epoch)[i:i + n])
            pos += n
        return torch.cat(out)


def mbstd_group(options: TrainOptions) -> int:
    """D's minibatch-stddev group size: ``options.mbstd_group``, or the whole batch when that is smaller.

    A property of the global batch, so that the groups do not change with the split.
    """
    return min(options.mbstd_group, options.batch)


def build_networks(options: TrainOptions, img_resolution: int, c_dim: int, device: torch.device,
                   configs: tuple[GeneratorConfig, DiscriminatorConfig] | None = None
                   ) -> tuple[GeneratorConfig, DiscriminatorConfig, Generator, Generator, Discriminator]:
    """G, G_ema and D: fresh from the preset, or from ``options.resume`` (transfer learning).

    From a checkpoint, G starts from its 'g' (its 'g_ema' when absent), G_ema from 'g_ema' and D
    from 'd'; a checkpoint without D gets a fresh one (with a warning). ``configs`` (when
    continuing a run) gives the architectures and skips both.

    Raises:
        ArchitectureMismatchError: the checkpoint's resolution or labels differ from the data's.
    """
    source = None
    if configs is not None:
        g_cfg, d_cfg = configs
    elif options.resume:
        source = load_checkpoint(options.resume)
        g_cfg = source.g_config
        if g_cfg.img_resolution != img_resolution or g_cfg.c_dim != c_dim:
            raise ArchitectureMismatchError(
                f"--resume {options.resume} makes {g_cfg.img_resolution} px images with c_dim={g_cfg.c_dim}, but the "
                f"data set has {img_resolution} px and c_dim={c_dim}; resize the data (dataset_tool) to match")
        _, d_cfg = preset_configs(options.cfg, img_resolution, c_dim)
        if source.d is not None and source.d_config is not None:
            d_cfg = source.d_config
    else:
        g_cfg, d_cfg = preset_configs(options.cfg, img_resolution, c_dim)
    d_cfg = dataclasses.replace(d_cfg, mbstd_group_size=mbstd_group(options))
    with torch.random.fork_rng(devices=[]):  # initial weights from the seed, global RNG left alone
        torch.manual_seed(options.seed)
        G = Generator(g_cfg)
        D = Discriminator(d_cfg, freeze_layers=options.freeze_d)
    G_ema = copy.deepcopy(G)
    if source is not None:
        load_state_dict_strict(G, source.g if source.g is not None else source.g_ema, what="G of --resume")
        load_state_dict_strict(G_ema, source.g_ema, what="G_ema of --resume")
        if source.d is not None:
            load_state_dict_strict(D, source.d, what="D of --resume")
        else:
            log.warning("%s has no discriminator; training a fresh one (transfer works best with the source D)",
                        source.describe())
    G.train().to(device)
    D.train().to(device)
    G_ema.eval().requires_grad_(False).to(device)
    return g_cfg, d_cfg, G, G_ema, D


def _adam(params: list[torch.nn.Parameter], lr: float, betas: tuple[float, float], eps: float,
          reg_interval: int) -> torch.optim.Adam:
    """Adam with the lazy-regularisation correction c = interval / (interval + 1) (StyleGAN2 App. B)."""
    c = reg_interval / (reg_interval + 1) if reg_interval > 0 else 1.0
    return torch.optim.Adam(params, lr=lr * c, betas=(betas[0] ** c, betas[1] ** c), eps=eps)


def _set_requires_grad(params: list[torch.nn.Parameter], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


@torch.no_grad()
def update_ema(G_ema: torch.nn.Module, G: torch.nn.Module, cur_nimg: int, batch: int, ema_kimg: float,
               ema_rampup: float | None) -> float:
    """G_ema <- lerp(G, G_ema, beta) with beta = 0.5 ** (batch / ema_nimg); buffers are copied.

    The half-life ema_nimg = ema_kimg * 1000 is limited to ``cur_nimg * ema_rampup`` early on
    (StyleGAN2-ADA), so G_ema tracks G while it changes fast. Returns beta.
    """
    ema_nimg = ema_kimg * 1000
    if ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
    beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)
    return beta


@torch.no_grad()
def render_grid(G: torch.nn.Module, seeds: list[int], c_dim: int, device: torch.device, cols: int | None = None,
                chunk: int = 16) -> np.ndarray:
    """G's images for ``seeds`` (const noise, labels cycling) tiled into a uint8 grid [H, W, C]."""
    images = []
    for i in range(0, len(seeds), chunk):
        part = seeds[i:i + chunk]
        z = z_from_seeds(part, G.z_dim, device=device)
        c = None
        if c_dim > 0:
            c = torch.nn.functional.one_hot(torch.tensor(part, device=device) % c_dim, c_dim).float()
        # The unfused modulated conv is several times faster than the grouped one on CPU.
        images.append(to_uint8(G(z, c, noise_mode="const", fused_modconv=device.type != "cpu")))
    return make_grid(np.concatenate(images), cols=cols or _grid_cols(len(seeds)))


def _grid_cols(count: int) -> int:
    return max(int(np.ceil(np.sqrt(count))), 1)


def _real_grid(dataset: ImageZipDataset, count: int) -> np.ndarray:
    idx = torch.arange(min(count, len(dataset.names)))
    imgs, _ = dataset.get_batch(idx)
    return make_grid(imgs.permute(0, 2, 3, 1).numpy(), cols=_grid_cols(count))


def _to_float(img: torch.Tensor, device: torch.device) -> torch.Tensor:
    return img.to(device=device, dtype=torch.float32) / 127.5 - 1


def train(options: TrainOptions, *, resume_state: dict[str, Any] | None = None, max_steps: int | None = None,
          show_progress: bool = True, callback: Callable[[dict[str, Any]], None] | None = None,
          dist_info: ddp.DistInfo | None = None) -> TrainResult:
    """Train G and D on ``options.data`` until ``options.kimg`` thousand images; write into ``options.outdir``.

    Args:
        options: the run's options (see :class:`TrainOptions`).
        resume_state: a state from :func:`checkpointing.load_training_state` of this run directory;
            training continues exactly where it was saved.
        max_steps: stop after this many steps of this call (writing a snapshot and the state), for
            tests and time-boxed jobs; None runs to ``options.kimg``.
        show_progress: draw a tqdm bar on stderr (main process only).
        callback: called with every tick's log record (main process only).
        dist_info: the process group (None: read torchrun's environment).

    Returns:
        The run directory, images shown, steps done and snapshots written.

    Raises:
        InvalidArgumentError: inconsistent options (batch split, resolution).
        ImageError: unreadable data set.
        CheckpointError, ArchitectureMismatchError: unusable --resume file.
    """
    device = torch.device(options.device)
    with ddp.process_group(device, dist_info) as info:
        return _train(options, info, device, resume_state, max_steps, show_progress, callback)


def _train(options: TrainOptions, info: ddp.DistInfo, device: torch.device, resume_state: dict[str, Any] | None,
           max_steps: int | None, show_progress: bool, callback: Callable[[dict[str, Any]], None] | None
           ) -> TrainResult:
    run_dir = Path(options.outdir)
    world = info.world_size
    total_nimg = int(round(options.kimg * 1000))
    if resume_state is not None and int(resume_state["cur_nimg"]) >= total_nimg:
        log.info("%s is at %.3f kimg, which reaches --kimg %g: nothing to train", run_dir,
                 int(resume_state["cur_nimg"]) / 1000, options.kimg)
        return TrainResult(run_dir=run_dir, cur_nimg=int(resume_state["cur_nimg"]), step=int(resume_state["step"]),
                           finished=True, rank=info.rank, already_done=True)
    batch_gpu, rounds = split_batch(options, world)

    dataset = ImageZipDataset(options.data, xflip=options.mirror)
    if options.resolution and options.resolution != dataset.resolution:
        raise InvalidArgumentError(f"--res {options.resolution} differs from the data set's {dataset.resolution} px; "
                                   "omit --res or rebuild the data set at that size")
    configs = None
    if resume_state is not None:
        configs = (GeneratorConfig.from_dict(resume_state["g_config"]),
                   DiscriminatorConfig.from_dict(resume_state["d_config"]))
    g_cfg, d_cfg, G, G_ema, D = build_networks(options, dataset.resolution, dataset.c_dim, device, configs)
    # The NVIDIA pickle a fine-tune started from, remembered by every snapshot (convert --to nvidia-pkl uses it).
    origin = None
    if info.is_main:
        origin = resume_state.get("started_from") if resume_state is not None else ckpt_io.started_from(options.resume)
    ddp.broadcast_module(G, info)
    ddp.broadcast_module(G_ema, info)
    ddp.broadcast_module(D, info)

    augment = AugmentPipe(p=options.augment_p).to(device) if options.augment != "noaug" else None
    loss = StyleGAN2Loss(G, D, augment=augment, r1_gamma=options.r1_gamma,
                         style_mixing_prob=options.style_mixing_prob, pl_weight=options.pl_weight,
                         pl_decay=options.pl_decay, pl_batch_shrink=options.pl_batch_shrink,
                         mbstd_group=d_cfg.mbstd_group_size if d_cfg.mbstd_num_channels > 0 else None)
    g_params = [p for n, p in G.named_parameters() if not (options.freeze_mapping and n.startswith("mapping."))]
    d_params = list(D.parameters())
    _set_requires_grad(list(G.parameters()) + d_params, False)
    opt_G = _adam(g_params, options.lr_g, options.betas, options.eps,
                  options.g_reg_interval if options.pl_weight != 0 else 0)
    opt_D = _adam(d_params, options.lr_d, options.betas, options.eps,
                  options.d_reg_interval if options.r1_gamma != 0 else 0)
    phases = _phases(options)

    nets = {"G": G, "G_ema": G_ema, "D": D, "opt_G": opt_G, "opt_D": opt_D}
    step, cur_nimg, ada_acc = 0, 0, [0.0, 0.0]
    if resume_state is not None:
        step, cur_nimg, ada_acc = _restore_state(resume_state, nets, loss, augment)
        log.info("resumed %s at step %d (%.1f kimg)", run_dir, step, cur_nimg / 1000)

    order = DataOrder(len(dataset), options.seed)
    pl_batch = max(options.batch // options.pl_batch_shrink, 1)
    passes = world * rounds  # the batch is cut into this many passes of batch_gpu images
    report = ProgressReporter(run_dir / "log.jsonl" if info.is_main else None, options.kimg, cur_nimg / 1000,
                              show_bar=show_progress and info.is_main,
                              elapsed=float(resume_state.get("elapsed", 0.0)) if resume_state else 0.0)
    if info.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        # Records past the resumed step (or any, on a fresh start) come from an interrupted attempt.
        dropped = truncate_log(run_dir / "log.jsonl", step)
        if dropped:
            log.info("dropped %d log.jsonl record(s) written after step %d", dropped, step)
        write_bytes_atomic(run_dir / "options.json", json.dumps(options.to_dict(), indent=2).encode())
        if resume_state is None:
            save_png(_real_grid(dataset, options.grid), run_dir / "reals.png")
            save_png(render_grid(G_ema, list(range(options.grid)), dataset.c_dim, device),
                     run_dir / f"fakes{0:06d}.png")

    result = TrainResult(run_dir=run_dir, cur_nimg=cur_nimg, step=step, rank=info.rank)
    averager = StatAverager()
    tick_start_nimg, tick_start_time = cur_nimg, time.time()
    next_tick = _next_multiple(cur_nimg, options.tick * 1000)
    next_snap = _next_multiple(cur_nimg, options.snap * 1000) if options.snap > 0 else float("inf")
    steps_this_call = 0
    kimg_per_hour: float | None = None
    fork_devices = [device] if device.type == "cuda" else []
    try:
        while cur_nimg < total_nimg:
            real_idx = order.take(cur_nimg, options.batch)
            for phase_idx, (phase, module, opt, params, interval) in enumerate(
                    _bind(phases, G, D, opt_G, opt_D, g_params, d_params)):
                if step % interval:
                    continue
                # Everything random of this phase, for the whole batch (see .draws).
                z_gen = draw_generator(options.seed, step, phase_idx, LATENTS)
                gen_z = torch.randn([options.batch, G.z_dim], generator=z_gen)
                gen_c = pl_c = None
                if dataset.c_dim > 0:
                    gen_c = dataset.get_batch(torch.randint(len(dataset), [options.batch], generator=z_gen))[1]
                    pl_c = dataset.get_batch(torch.randint(len(dataset), [pl_batch], generator=z_gen))[1]
                draws = draw_phase(phase, G, augment, seed=options.seed, step=step, phase_idx=phase_idx,
                                   batch=options.batch, pl_batch=pl_batch,
                                   style_mixing_prob=options.style_mixing_prob, pl_labels=pl_c,
                                   img_channels=g_cfg.img_channels)
                _set_requires_grad(params, True)
                grads = ddp.PairwiseSum()  # the passes' gradients, added in a split-independent order
                sums = dict.fromkeys(STAT_NAMES, (0.0, 0.0))
                for r in range(rounds):
                    for p in params:
                        p.grad = None
                    k = info.rank * rounds + r  # global pass index: the same images for any split
                    sl = slice(k * batch_gpu, (k + 1) * batch_gpu)
                    real_img, real_c = dataset.get_batch(real_idx[sl])
                    with torch.random.fork_rng(devices=fork_devices):
                        # Nothing should draw from the global generator; if something does, it
                        # still repeats on resume.
                        torch.manual_seed(derive_seed(options.seed, 2, step, phase_idx, k))
                        stats = loss.accumulate_gradients(
                            phase, _to_float(real_img, device), real_c.to(device) if dataset.c_dim else None,
                            gen_z[sl].to(device), gen_c[sl].to(device) if gen_c is not None else None,
                            gain=interval, draws=draws.rows(sl, split(pl_batch, passes, k)).to(device),
                            total=options.batch, pl_total=pl_batch)
                    for key, (value, count) in stats.items():
                        sums[key] = (sums[key][0] + value, sums[key][1] + count)
                    grads.add(ddp.flat_grads(params))
                _set_requires_grad(params, False)
                ddp.reduce_gradients(params, info, grads.result())
                opt.step()
                means = _reduce_phase_stats(sums, loss, info, device)
                if "pl_length" in means:
                    loss.update_pl_mean(means["pl_length"])
                if "D_real_sign" in means:
                    ada_acc[0] += sums["D_real_sign"][0]
                    ada_acc[1] += sums["D_real_sign"][1]
                averager.add(means)

            # As StyleGAN2-ADA: the ramp-up uses the images shown before this step.
            update_ema(G_ema, G, cur_nimg, options.batch, options.ema_kimg, options.ema_rampup)
            cur_nimg += options.batch
            step += 1
            steps_this_call += 1
            if augment is not None and options.augment == "ada" and step % options.ada_interval == 0:
                signs, count = ada_acc  # already summed over processes
                if count > 0:
                    augment.p.fill_(ada_adjust(float(augment.p), signs / count, options.ada_target, options.batch,
                                               options.ada_interval, options.ada_kimg))
                ada_acc = [0.0, 0.0]

            done = cur_nimg >= total_nimg
            stop = done or (max_steps is not None and steps_this_call >= max_steps)
            postfix = {"p": f"{float(augment.p) if augment is not None else 0:.3f}"}
            if kimg_per_hour is not None:  # tqdm prints slow rates with two decimals only
                postfix["kimg/h"] = f"{kimg_per_hour:.1f}"
            report.update(cur_nimg / 1000, postfix)
            if cur_nimg >= next_tick or stop:
                now = time.time()
                tick_means = averager.means()  # 'D_real_sign' is E[sign(D(x))], ADA's r_t
                record = {"kimg": round(cur_nimg / 1000, 3), "step": step,
                          **{k: round(v, 5) for k, v in tick_means.items()},
                          "augment_p": round(float(augment.p), 5) if augment is not None else 0.0,
                          "pl_mean": round(float(loss.pl_mean), 5),
                          "kimg_per_s": round((cur_nimg - tick_start_nimg) / 1000 / max(now - tick_start_time, 1e-9), 5)}
                kimg_per_hour = record["kimg_per_s"] * 3600
                if info.is_main:
                    report.log(record)
                    if callback is not None:
                        callback(record)
                averager.reset()
                tick_start_nimg, tick_start_time = cur_nimg, now
                next_tick = _next_multiple(cur_nimg, options.tick * 1000)
            if cur_nimg >= next_snap or stop:
                for name, net in (("G", G), ("D", D), ("G_ema", G_ema)):
                    ddp.check_consistency(net, info, name)
                if info.is_main:
                    path = _write_snapshot(run_dir, options, g_cfg, d_cfg, G, G_ema, D, dataset.c_dim, device,
                                           cur_nimg, step, augment, started_from=origin)
                    ckpt_io.save_training_state(run_dir, {
                        **{name: obj.state_dict() for name, obj in nets.items()}, "pl_mean": loss.pl_mean.clone(),
                        "augment_p": augment.p.clone() if augment is not None else torch.zeros([]),
                        "step": step, "cur_nimg": cur_nimg, "ada_acc": list(ada_acc),
                        "rng": ckpt_io.rng_state(), "options": options.to_dict(), "elapsed": report.elapsed,
                        "g_config": g_cfg.to_dict(), "d_config": d_cfg.to_dict(), "started_from": origin})
                    ckpt_io.prune_snapshots(run_dir, options.keep_last, options.keep_every, options.snap)
                    result.snapshots.append(path)
                    report.write(f"kimg {cur_nimg / 1000:.1f}: wrote {path.name}")
                ddp.barrier(info)
                next_snap = _next_multiple(cur_nimg, options.snap * 1000) if options.snap > 0 else float("inf")
            if stop:
                break
    finally:
        report.close()
    result.cur_nimg, result.step, result.finished = cur_nimg, step, cur_nimg >= total_nimg
    return result


def split_batch(options: TrainOptions, world: int) -> tuple[int, int]:
    """(batch_gpu, passes per process) of ``options`` on ``world`` processes.

    Raises:
        InvalidArgumentError: the batch does not split into whole passes, or a pass would cut a
            minibatch-stddev group (which would make the result depend on the split).
    """
    if options.batch % world:
        raise InvalidArgumentError(f"--batch {options.batch} must be divisible by the number of processes ({world})")
    per_rank = options.batch // world
    batch_gpu = options.batch_gpu or per_rank
    if per_rank % batch_gpu:
        raise InvalidArgumentError(f"--batch-gpu {batch_gpu} must divide the per-process batch {per_rank} "
                                   f"(--batch {options.batch} over {world} process(es))")
    group = mbstd_group(options)
    if batch_gpu % group:
        raise InvalidArgumentError(
            f"the minibatch-stddev group of {group} images must divide the per-pass batch {batch_gpu} (--batch "
            f"{options.batch} over {world} process(es), --batch-gpu {options.batch_gpu or 'default'}); use a "
            f"--batch-gpu that is a multiple of {group}")
    return batch_gpu, per_rank // batch_gpu


def _reduce_phase_stats(sums: dict[str, tuple[float, float]], loss: StyleGAN2Loss, info: ddp.DistInfo,
                        device: torch.device) -> dict[str, float]:
    """Sum a phase's statistics and G's ws over processes; move w_avg; return the phase's means.

    One all-reduce carries everything, so every process gets the same numbers (the same w_avg,
    path-length mean and ADA statistic), whatever its share of the batch.
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


def _restore_state(state: dict[str, Any], nets: dict[str, Any], loss: StyleGAN2Loss,
                   augment: AugmentPipe | None) -> tuple[int, int, list[float]]:
    """Load what the training state saved into networks, optimisers, loss, ADA and the RNGs.

    Returns (step, cur_nimg, ADA sign accumulator).
    """
    for name, obj in nets.items():
        obj.load_state_dict(state[name])
    loss.pl_mean.copy_(state["pl_mean"])
    if augment is not None:
        augment.p.copy_(state["augment_p"])
    ckpt_io.set_rng_state(state["rng"])
    return int(state["step"]), int(state["cur_nimg"]), [float(v) for v in state["ada_acc"]]


def _write_snapshot(run_dir: Path, options: TrainOptions, g_cfg: GeneratorConfig, d_cfg: DiscriminatorConfig,
                    G: Generator, G_ema: Generator, D: Discriminator, c_dim: int, device: torch.device,
                    cur_nimg: int, step: int, augment: AugmentPipe | None,
                    started_from: dict[str, str] | None = None) -> Path:
    label = ckpt_io.snapshot_label(cur_nimg)
    save_png(render_grid(G_ema, list(range(options.grid)), c_dim, device), run_dir / f"fakes{label}.png")
    meta = {"kimg": cur_nimg / 1000, "step": step, "augment_p": float(augment.p) if augment is not None else 0.0,
            "training_options": options.to_dict()}
    if started_from is not None:
        meta["started_from"] = started_from
    return ckpt_io.save_snapshot(ckpt_io.snapshot_path(run_dir, cur_nimg / 1000), g_cfg, d_cfg, G, G_ema, D, meta)


def _next_multiple(nimg: int, every: float) -> float:
    """The first multiple of ``every`` images strictly after ``nimg``."""
    if every <= 0:
        return float("inf")
    return (int(nimg // every) + 1) * every


def _phases(options: TrainOptions) -> list[tuple[str, str, int]]:
    """(phase, network, interval) in StyleGAN2-ADA's order; lazy phases get their own step."""
    out = []
    for net, reg_interval, reg_on in (("G", options.g_reg_interval, options.pl_weight != 0),
                                      ("D", options.d_reg_interval, options.r1_gamma != 0)):
        if not reg_on:
            out.append((f"{net}main", net, 1))
        elif reg_interval > 0:
            out += [(f"{net}main", net, 1), (f"{net}reg", net, reg_interval)]
        else:
            out.append((f"{net}both", net, 1))
    return out


def _bind(phases: list[tuple[str, str, int]], G: Generator, D: Discriminator, opt_G: torch.optim.Optimizer,
          opt_D: torch.optim.Optimizer, g_params: list, d_params: list) -> list[tuple]:
    return [(name, G if net == "G" else D, opt_G if net == "G" else opt_D, g_params if net == "G" else d_params,
             interval) for name, net, interval in phases]
