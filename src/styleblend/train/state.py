"""The state of a training run: what stays fixed during one call of ``train`` and what a step advances.

:class:`Run` holds the objects a step works on (data, networks, optimisers, loss, augmentation,
the phases and how the batch is split over processes and passes); :class:`Counters` holds the
numbers a step advances. :func:`open_run` builds both, fresh or from a saved training state;
:func:`training_state` is what ``training-state.pt`` stores, so that :func:`restore_state` can
continue exactly where a run stopped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..config import DiscriminatorConfig, GeneratorConfig
from ..errors import InvalidArgumentError
from ..nn import Discriminator, Generator
from . import checkpointing as ckpt_io
from . import distributed as ddp
from .augment import AugmentPipe
from .data import ImageZipDataset
from .draws import DataOrder
from .loss import StyleGAN2Loss
from .networks import build_networks, make_adam, mbstd_group, set_requires_grad
from .options import TrainOptions

__all__ = ["Counters", "Phase", "Run", "open_run", "plan_phases", "restore_state", "split_batch", "training_state"]


@dataclass
class Counters:
    """The numbers a step advances (all saved in the training state).

    Attributes:
        step: optimisation steps done (one step = one minibatch through every due phase).
        cur_nimg: real images shown to D so far.
        ada_acc: [sum of sign(D(real)), count] over all processes since ADA's last adjustment.
    """

    step: int = 0
    cur_nimg: int = 0
    ada_acc: list[float] = field(default_factory=lambda: [0.0, 0.0])


@dataclass
class Phase:
    """One phase of a step: a loss term of one network, followed by that network's optimiser step.

    Attributes:
        index: position in the run's list of phases (seeds the phase's draws, so it counts the
            phases a step skips too).
        name: 'Gmain', 'Greg', 'Gboth', 'Dmain', 'Dreg' or 'Dboth'.
        opt, params: the network's optimiser and the parameters it steps.
        interval: the phase runs on steps divisible by this (lazy regularisation).
    """

    index: int
    name: str
    opt: torch.optim.Optimizer
    params: list[torch.nn.Parameter]
    interval: int


def plan_phases(options: TrainOptions) -> list[tuple[str, str, int]]:
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


def split_batch(options: TrainOptions, world: int) -> tuple[int, int]:
    """(batch_gpu, passes per process) of ``options`` on ``world`` processes.

    Raises:
        InvalidArgumentError: the batch does not split into whole passes, or a pass would cut a
            minibatch-stddev group (which would make the result depend on the split).
    """
    if options.batch % world:
        raise InvalidArgumentError(f"`batch` {options.batch} must be divisible by the number of processes ({world})",
                                   param="batch")
    per_rank = options.batch // world
    batch_gpu = options.batch_gpu or per_rank
    if per_rank % batch_gpu:
        raise InvalidArgumentError(f"`batch_gpu` {batch_gpu} must divide the per-process batch {per_rank} "
                                   f"(`batch` {options.batch} over {world} process(es))", param=("batch_gpu", "batch"))
    group = mbstd_group(options)
    if batch_gpu % group:
        raise InvalidArgumentError(
            f"the minibatch-stddev group of {group} images must divide the per-pass batch {batch_gpu} (`batch` "
            f"{options.batch} over {world} process(es), `batch_gpu` {options.batch_gpu or 'default'}); use a "
            f"`batch_gpu` that is a multiple of {group}", param=("batch", "batch_gpu"))
    return batch_gpu, per_rank // batch_gpu


@dataclass
class Run:
    """Everything one call of ``train`` sets up once and every step uses.

    Attributes:
        options, info, device: the run's options, this process' place in the group, its device.
        dataset, order: the training images and their seeded order.
        g_cfg, d_cfg: the architectures; G, G_ema, D: the networks.
        augment: the augmentation pipeline (None for 'noaug'); loss: the StyleGAN2 loss.
        opt_G, opt_D: the optimisers; phases: the step's phases in order.
        batch_gpu, rounds: images per pass and passes per process (``split_batch``).
        pl_batch: images of the path-length batch.
        origin: the NVIDIA pickle a fine-tune started from (main process; see
            ``checkpointing.started_from``), remembered by every snapshot.
        elapsed: training seconds before this call (a resumed run keeps counting).
    """

    options: TrainOptions
    info: ddp.DistInfo
    device: torch.device
    dataset: ImageZipDataset
    order: DataOrder
    g_cfg: GeneratorConfig
    d_cfg: DiscriminatorConfig
    G: Generator
    G_ema: Generator
    D: Discriminator
    augment: AugmentPipe | None
    loss: StyleGAN2Loss
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    phases: list[Phase]
    batch_gpu: int
    rounds: int
    pl_batch: int
    origin: dict[str, str] | None
    elapsed: float

    @property
    def run_dir(self) -> Path:
        return Path(self.options.outdir)

    @property
    def total_nimg(self) -> int:
        """Images of the whole run (``options.kimg``)."""
        return int(round(self.options.kimg * 1000))

    @property
    def passes(self) -> int:
        """The batch is cut into this many passes of ``batch_gpu`` images, over all processes."""
        return self.info.world_size * self.rounds

    def stateful(self) -> dict[str, Any]:
        """The objects whose ``state_dict`` the training state saves, by name."""
        return {"G": self.G, "G_ema": self.G_ema, "D": self.D, "opt_G": self.opt_G, "opt_D": self.opt_D}


def open_run(options: TrainOptions, info: ddp.DistInfo, device: torch.device,
             resume_state: dict[str, Any] | None) -> tuple[Run, Counters]:
    """Open the data, build (or restore) networks, optimisers, loss and augmentation.

    Raises:
        InvalidArgumentError: inconsistent options (batch split, resolution).
        ImageError: unreadable data set.
        CheckpointError, ArchitectureMismatchError: unusable ``options.resume`` file.
    """
    batch_gpu, rounds = split_batch(options, info.world_size)
    dataset = ImageZipDataset(options.data, xflip=options.mirror)
    if options.resolution and options.resolution != dataset.resolution:
        raise InvalidArgumentError(f"`resolution` {options.resolution} differs from the data set's "
                                   f"{dataset.resolution} px; omit `resolution` or rebuild the data set at that size",
                                   param="resolution")
    configs = None
    if resume_state is not None:
        configs = (GeneratorConfig.from_dict(resume_state["g_config"]),
                   DiscriminatorConfig.from_dict(resume_state["d_config"]))
    g_cfg, d_cfg, G, G_ema, D = build_networks(options, dataset.resolution, dataset.c_dim, device, configs)
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
    set_requires_grad(list(G.parameters()) + d_params, False)
    opt_G = make_adam(g_params, options.lr_g, options.betas, options.eps,
                      options.g_reg_interval if options.pl_weight != 0 else 0)
    opt_D = make_adam(d_params, options.lr_d, options.betas, options.eps,
                      options.d_reg_interval if options.r1_gamma != 0 else 0)
    phases = [Phase(i, name, opt_G, g_params, interval) if net == "G" else Phase(i, name, opt_D, d_params, interval)
              for i, (name, net, interval) in enumerate(plan_phases(options))]
    run = Run(options=options, info=info, device=device, dataset=dataset, order=DataOrder(len(dataset), options.seed),
              g_cfg=g_cfg, d_cfg=d_cfg, G=G, G_ema=G_ema, D=D, augment=augment, loss=loss, opt_G=opt_G,
              opt_D=opt_D, phases=phases, batch_gpu=batch_gpu, rounds=rounds,
              pl_batch=max(options.batch // options.pl_batch_shrink, 1), origin=origin,
              elapsed=float(resume_state.get("elapsed", 0.0)) if resume_state else 0.0)
    counters = Counters()
    if resume_state is not None:
        step, cur_nimg, ada_acc = restore_state(resume_state, run.stateful(), loss, augment)
        counters = Counters(step, cur_nimg, ada_acc)
    return run, counters


def restore_state(state: dict[str, Any], nets: dict[str, Any], loss: StyleGAN2Loss,
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


def training_state(run: Run, counters: Counters, elapsed: float) -> dict[str, Any]:
    """What ``training-state.pt`` holds (see :mod:`.checkpointing`): everything :func:`restore_state`
    and ``train(resume_state=...)`` need to continue exactly."""
    return {**{name: obj.state_dict() for name, obj in run.stateful().items()}, "pl_mean": run.loss.pl_mean.clone(),
            "augment_p": run.augment.p.clone() if run.augment is not None else torch.zeros([]),
            "step": counters.step, "cur_nimg": counters.cur_nimg, "ada_acc": list(counters.ada_acc),
            "rng": ckpt_io.rng_state(), "options": run.options.to_dict(), "elapsed": elapsed,
            "g_config": run.g_cfg.to_dict(), "d_config": run.d_cfg.to_dict(), "started_from": run.origin}
