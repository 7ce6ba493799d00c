"""Train an :class:`~styleblend.project.encoder.Encoder` on a generator's own samples (no data set needed).

Each step draws z -> w with the frozen generator (style mixing between two w at a random row, and small
per-row perturbations, so the targets cover W+ near W), renders the targets without gradients, and
trains the encoder on

    latent_weight * ||E(x) - ws||^2 / var(w)                 (latent loss, per coordinate)
  + recon_weight  * sum_k MSE(down_k(G(E(x))), down_k(x))    (reconstruction through the frozen G; k < scales)
  + offset_reg    * ||offsets||^2 / var(w)                    (e4e's delta regularisation: stay near W)

plus, with unlabelled real images (``images``), ``real_weight`` times the reconstruction and offset terms
on a minibatch of them (there is no latent truth for a photo) - the synthetic-to-real gap is where pure
synthetic training falls short.

Every random draw of a step derives from (seed, step), never from a running generator, so a resumed run
repeats the uninterrupted one bit for bit, and processes of a torchrun job (each takes its slice of the
batch; their gradients are summed with :mod:`styleblend.train.distributed`) do what one process does with the
whole batch. The run writes, beside ``out``: ``<stem>.state.pt`` (encoder, optimiser, step, RNG, options;
read with ``weights_only=True``) and ``<stem>.log.jsonl`` (one line per tick).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import CheckpointError, InvalidArgumentError
from ..io.atomic import atomic_path
from ..io.digest import file_sha256
from ..io.safe_torch_load import safe_torch_load
from ..train import checkpointing as ckpt_io
from ..train import distributed as ddp
from ..train.loop import DataOrder, derive_seed
from ..train.progress import ProgressReporter, StatAverager
from .encoder import Encoder, EncoderConfig, load_encoder, make_iterative, save_encoder

log = logging.getLogger(__name__)

STATE_VERSION = 1
NOISE_MODES = ("const", "random")


@dataclass(frozen=True)
class EncoderTrainOptions:
    """Options of one encoder training run (stored in its state, so a resume needs none of them).

    network: the generator checkpoint (any format styleblend reads).
    out: the encoder file to write (float16 safetensors unless ``store_float32``); state and log go beside it.
    images: optional folder of unlabelled real images for the reconstruction-only term.
    kimg: train until this many thousand synthetic images.
    batch: synthetic images per step (all processes together); real_batch: real ones (0: batch // 2).
    lr, betas: Adam.
    latent_weight, recon_weight, recon_scales: the latent loss, the pixel loss and its number of scales
        (1: full resolution only; 2 adds the image at half size, ...).
    offset_reg: weight of the offsets' squared norm (relative to var(w)).
    real_weight: weight of the real-image terms.
    mix_prob: probability of style mixing a target (second w from a random row on).
    perturb_prob, perturb: probability and size (times the std of w) of independent per-row Gaussian
        perturbations of a target's ws.
    noise_mode: the generator's noise inputs when rendering targets: 'const' (the stored maps, what
        projection renders with) or 'random'.
    snap, tick: write the encoder and the state every ``snap`` kimg (0: only at the end); log every ``tick``.
    w_samples: z samples for the mean and std of w.
    iterations: 1 trains a one-shot encoder; K > 1 an iterative (ReStyle) one: each step runs k passes
        (k uniform in 1..K, drawn per step), the first k - 1 without gradients, and trains the last; files
        record K as the number of passes ``encode`` makes.
    ema_kimg: half-life (thousand images) of an exponential moving average of the encoder's weights, which
        the written file holds (as StyleGAN's G_ema: the average of a noisy constant-rate run predicts
        better than its last step); 0 writes the trained weights themselves. May change on a resume.
    init_encoder: start from this encoder file (a one-shot one is made iterative with
        :func:`~styleblend.project.encoder.make_iterative` when ``iterations`` > 1) instead of random weights.
    """

    network: str
    out: str
    images: str | None = None
    kimg: float = 100.0
    batch: int = 16
    real_batch: int = 0
    lr: float = 0.001
    betas: tuple[float, float] = (0.9, 0.99)
    latent_weight: float = 1.0
    recon_weight: float = 1.0
    recon_scales: int = 2
    offset_reg: float = 0.05
    real_weight: float = 1.0
    mix_prob: float = 0.5
    perturb_prob: float = 0.5
    perturb: float = 0.1
    noise_mode: str = "const"
    snap: float = 5.0
    tick: float = 1.0
    seed: int = 0
    w_samples: int = 10000
    input_resolution: int | None = None
    store_float32: bool = False
    device: str = "cpu"
    iterations: int = 1
    init_encoder: str | None = None
    ema_kimg: float = 0.0

    def __post_init__(self) -> None:
        if self.batch < 1 or self.real_batch < 0:
            raise InvalidArgumentError(f"batch={self.batch} must be >= 1 and real_batch={self.real_batch} >= 0")
        if not self.kimg > 0:
            raise InvalidArgumentError(f"kimg={self.kimg} must be positive")
        if not self.lr > 0:
            raise InvalidArgumentError(f"lr={self.lr} must be positive")
        if self.recon_scales < 1:
            raise InvalidArgumentError(f"recon_scales={self.recon_scales} must be >= 1")
        for name in ("latent_weight", "recon_weight", "offset_reg", "real_weight", "perturb", "snap", "tick",
                     "ema_kimg"):
            if getattr(self, name) < 0:
                raise InvalidArgumentError(f"{name}={getattr(self, name)} must be >= 0")
        for name in ("mix_prob", "perturb_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise InvalidArgumentError(f"{name}={getattr(self, name)} must be in [0, 1]")
        if self.noise_mode not in NOISE_MODES:
            raise InvalidArgumentError(f"noise_mode {self.noise_mode!r} must be one of {NOISE_MODES}")
        if not 1 <= self.iterations <= 16:
            raise InvalidArgumentError(f"iterations={self.iterations} must be in [1, 16]")
        if self.w_samples < 100:
            raise InvalidArgumentError(f"w_samples={self.w_samples} must be >= 100")

    @property
    def real_per_step(self) -> int:
        return (self.real_batch or max(1, self.batch // 2)) if self.images else 0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderTrainOptions:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values)

    def replace(self, **changes: Any) -> EncoderTrainOptions:
        return dataclasses.replace(self, **changes)


def state_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".state.pt")


def log_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".log.jsonl")


def load_encoder_state(out: str | Path) -> dict[str, Any]:
    """The training state saved beside ``out``.

    Raises:
        CheckpointError: missing, unreadable or of another version.
    """
    path = state_path(out)
    if not path.is_file():
        raise CheckpointError(f"no training state '{path}' beside {out}; --resume continues a run that "
                              "'styleblend encoder train' wrote to this --out")
    state = safe_torch_load(path)  # the restricted reader: sizes checked, one-line errors
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise CheckpointError(f"{path}: encoder training state of an unknown version")
    return state


@dataclass
class EncoderTrainResult:
    out: Path
    step: int
    cur_nimg: int
    finished: bool
    last_stats: dict[str, float]
    rank: int = 0


@torch.no_grad()
def w_statistics(G: torch.nn.Module, count: int, seed: int, device: torch.device) -> tuple[torch.Tensor, float]:
    """Mean w [w_dim] and the per-coordinate std of w (scalar) over ``count`` draws (classes uniform)."""
    gen = torch.Generator().manual_seed(derive_seed(seed, 0))
    ws = []
    for start in range(0, count, 1000):
        n = min(1000, count - start)
        z = torch.randn([n, G.z_dim], generator=gen).to(device)
        c = _classes(G, n, gen, device)
        ws.append(G.mapping(z, c)[:, 0].double())
    w = torch.cat(ws)
    mean = w.mean(dim=0)
    return mean.float(), float((w - mean).square().mean().sqrt())


def _classes(G: torch.nn.Module, n: int, gen: torch.Generator, device: torch.device) -> torch.Tensor | None:
    c_dim = int(getattr(G, "c_dim", 0) or 0)
    if not c_dim:
        return None
    return F.one_hot(torch.randint(c_dim, [n], generator=gen), c_dim).float().to(device)


@torch.no_grad()
def sample_ws(G: torch.nn.Module, options: EncoderTrainOptions, step: int, w_std: float,
              device: torch.device) -> torch.Tensor:
    """The step's target latents [batch, num_ws, w_dim]: w, style-mixed W+, per-row perturbations."""
    gen = torch.Generator().manual_seed(derive_seed(options.seed, 1, step))
    n, num_ws = options.batch, G.num_ws
    z = torch.randn([n, G.z_dim], generator=gen)
    z2 = torch.randn([n, G.z_dim], generator=gen)
    c = _classes(G, n, gen, device)
    mix = torch.rand([n], generator=gen) < options.mix_prob
    cutoff = torch.randint(1, max(num_ws, 2), [n], generator=gen)
    perturb = (torch.rand([n], generator=gen) < options.perturb_prob).float()
    noise = torch.randn([n, num_ws, G.w_dim], generator=gen)
    ws = G.mapping(z.to(device), c)
    ws2 = G.mapping(z2.to(device), c)
    take2 = (mix[:, None] & (torch.arange(num_ws)[None] >= cutoff[:, None])).to(device)
    ws = torch.where(take2[:, :, None], ws2, ws)
    return ws + (options.perturb * w_std * perturb.view(n, 1, 1) * noise).to(device)


def recon_loss(img: torch.Tensor, target: torch.Tensor, scales: int) -> torch.Tensor:
    """Pixel MSE at full size plus at 1/2, 1/4, ... (``scales`` sizes in all, averaged)."""
    total = F.mse_loss(img, target)
    for _ in range(scales - 1):
        if img.shape[-1] < 8:
            break
        img, target = F.avg_pool2d(img, 2), F.avg_pool2d(target, 2)
        total = total + F.mse_loss(img, target)
    return total / scales


class _RealImages:
    """Unlabelled images of a folder at the generator's size, decoded on demand (cached while small)."""

    def __init__(self, folder: str, resolution: int, channels: int) -> None:
        from ..media.load import list_images

        self.files = list_images(folder)
        if not self.files:
            raise InvalidArgumentError(f"--images '{folder}' holds no images (.png, .jpg, .webp, ...)")
        self.resolution, self.channels = resolution, channels
        self.cache: dict[int, torch.Tensor] | None = {} if len(self.files) * resolution ** 2 * channels <= 2 ** 28 else None

    def get(self, indices: torch.Tensor) -> torch.Tensor:
        from ..media.load import load_image

        out = []
        for i in indices.tolist():
            img = self.cache.get(i) if self.cache is not None else None
            if img is None:
                a = load_image(self.files[i], resolution=self.resolution, channels=self.channels)
                img = torch.from_numpy(a).permute(2, 0, 1).contiguous()
                if self.cache is not None:
                    self.cache[i] = img
            out.append(img)
        return torch.stack(out).float() / 127.5 - 1


def train_encoder(options: EncoderTrainOptions, *, resume_state: dict[str, Any] | None = None,
                  max_steps: int | None = None, show_progress: bool = True,
                  callback: Callable[[dict[str, Any]], None] | None = None,
                  dist_info: ddp.DistInfo | None = None) -> EncoderTrainResult:
    """Train (or continue training) an encoder for ``options.network``; write ``options.out``.

    Args:
        resume_state: from :func:`load_encoder_state`; training continues exactly where it was saved.
        max_steps: stop after this many steps of this call (writing the encoder and the state).
        show_progress: tqdm bar on stderr (main process only).
        callback: called with every tick's log record (main process only).
        dist_info: the process group (None: torchrun's environment, if any).

    Raises:
        InvalidArgumentError: batch not divisible by the processes, no images in ``images``.
        CheckpointError: unreadable network, or a resumed state for another network.
    """
    device = torch.device(options.device)
    with ddp.process_group(device, dist_info) as info:
        return _train(options, info, device, resume_state, max_steps, show_progress, callback)


def _train(options: EncoderTrainOptions, info: ddp.DistInfo, device: torch.device,
           resume_state: dict[str, Any] | None, max_steps: int | None, show_progress: bool,
           callback: Callable[[dict[str, Any]], None] | None) -> EncoderTrainResult:
    from ..io import load_checkpoint

    world = info.world_size
    real_n = options.real_per_step
    for name, n in (("batch", options.batch), ("real batch", real_n)):
        if n % world:
            raise InvalidArgumentError(f"{name} {n} must be divisible by the number of processes ({world})")
    per_rank, real_per_rank = options.batch // world, real_n // world
    network_sha = file_sha256(options.network)
    G = load_checkpoint(options.network).generator(device)
    fused = device.type != "cpu"  # the unfused modulated conv is faster on CPUs, the grouped one on GPUs

    start = None
    if resume_state is not None:
        if resume_state.get("network_sha256") != network_sha:
            raise CheckpointError(f"the state beside {options.out} was trained for another network than "
                                  f"{options.network} (content differs); use the same --network or a new --out")
        cfg = EncoderConfig.from_dict(resume_state["config"])
    elif options.init_encoder:
        start = load_encoder(options.init_encoder)
        if options.iterations > 1 and not start.cfg.iterative:
            start = make_iterative(start, options.iterations)
        cfg = dataclasses.replace(start.cfg, iterations=options.iterations) if start.cfg.iterative else start.cfg
    else:
        cfg = dataclasses.replace(EncoderConfig.for_generator(G, options.input_resolution),
                                  iterative=options.iterations > 1, iterations=options.iterations)
    with torch.random.fork_rng(devices=[]):  # initial weights from the seed, global RNG left alone
        torch.manual_seed(options.seed)
        E = Encoder(cfg)
    if start is not None:
        E.load_state_dict(start.state_dict())
    E.check_generator(G)
    E.train().to(device)
    opt = torch.optim.Adam(E.parameters(), lr=options.lr, betas=options.betas)
    step, cur_nimg, elapsed = 0, 0, 0.0
    if resume_state is not None:
        E.load_state_dict(resume_state["encoder"])
        opt.load_state_dict(resume_state["optimizer"])
        step, cur_nimg = int(resume_state["step"]), int(resume_state["cur_nimg"])
        elapsed = float(resume_state.get("elapsed", 0.0))
        ckpt_io.set_rng_state(resume_state["rng"])
        log.info("resumed %s at step %d (%.1f kimg)", options.out, step, cur_nimg / 1000)
    elif start is None:
        w_avg, w_std = w_statistics(G, options.w_samples, options.seed, device)
        E.w_avg.copy_(w_avg)
        E.w_std.fill_(w_std)
    ddp.broadcast_module(E, info)
    E_ema = None
    if options.ema_kimg > 0:
        # Every process averages the same (reduced) updates, so the averages agree without communication.
        E_ema = copy.deepcopy(E).eval().requires_grad_(False)
        if resume_state is not None and resume_state.get("encoder_ema") is not None:
            E_ema.load_state_dict(resume_state["encoder_ema"])
    ema_beta = 0.5 ** (options.batch / (options.ema_kimg * 1000)) if options.ema_kimg > 0 else 0.0
    w_var = float(E.w_std) ** 2
    reals = _RealImages(options.images, G.img_resolution, G.img_channels) if options.images else None
    order = DataOrder(len(reals.files), options.seed) if reals is not None else None

    total_nimg = int(round(options.kimg * 1000))
    report = ProgressReporter(log_path(options.out) if info.is_main else None, options.kimg, cur_nimg / 1000,
                              show_bar=show_progress and info.is_main, elapsed=elapsed)
    averager = StatAverager()
    last: dict[str, float] = {}
    tick_nimg, tick_time = cur_nimg, time.time()
    next_tick = _next_multiple(cur_nimg, options.tick * 1000)
    next_snap = _next_multiple(cur_nimg, options.snap * 1000)
    steps_this_call = 0
    fork_devices = [device] if device.type == "cuda" else []
    params = list(E.parameters())
    try:
        while cur_nimg < total_nimg:
            ws_all = sample_ws(G, options, step, float(E.w_std), device)
            ws = ws_all[info.rank * per_rank:(info.rank + 1) * per_rank]
            with torch.no_grad(), torch.random.fork_rng(devices=fork_devices):
                torch.manual_seed(derive_seed(options.seed, 2, step, info.rank))
                target = G.synthesis(ws, noise_mode=options.noise_mode, fused_modconv=fused)
            passes = _passes(options, step)
            with torch.no_grad():
                start_recon = (G.synthesis(E.start_ws(1), noise_mode="const", fused_modconv=fused)
                               if cfg.iterative else None)
            pred, offsets = _predict(E, G, target, passes, start_recon, fused)
            stats: dict[str, float] = {"passes": float(passes)} if cfg.iterative else {}
            loss_lat = (pred - ws).square().mean() / w_var
            loss_reg = offsets.square().mean() / w_var
            loss = options.latent_weight * loss_lat + options.offset_reg * loss_reg
            if options.recon_weight > 0:
                loss_rec = recon_loss(G.synthesis(pred, noise_mode="const", fused_modconv=fused), target,
                                      options.recon_scales)
                loss = loss + options.recon_weight * loss_rec
                stats["recon"] = float(loss_rec.detach())
            if reals is not None and real_per_rank > 0 and options.real_weight > 0:
                idx = order.take(step * real_n, real_n)[info.rank * real_per_rank:(info.rank + 1) * real_per_rank]
                real = reals.get(idx).to(device)
                rpred, roff = _predict(E, G, real, passes, start_recon, fused)
                rec = recon_loss(G.synthesis(rpred, noise_mode="const", fused_modconv=fused), real,
                                 options.recon_scales)
                loss = loss + options.real_weight * (rec + options.offset_reg * roff.square().mean() / w_var)
                stats["real_recon"] = float(rec.detach())
            stats.update(latent=float(loss_lat.detach()), offset=float(loss_reg.detach()), loss=float(loss.detach()))
            opt.zero_grad(set_to_none=True)
            # Each process' loss is the mean over its equal share of the batch; reduce_gradients sums the
            # processes' gradients, so weighting by the share gives the whole minibatch's mean.
            (loss / world).backward()
            ddp.reduce_gradients(params, info)
            opt.step()
            if E_ema is not None:
                _update_average(E_ema, E, ema_beta)
            averager.add(stats)
            cur_nimg += options.batch
            step += 1
            steps_this_call += 1
            done = cur_nimg >= total_nimg
            stop = done or (max_steps is not None and steps_this_call >= max_steps)
            report.update(cur_nimg / 1000, {"loss": f"{stats['loss']:.4f}"})
            if cur_nimg >= next_tick or stop:
                now = time.time()
                last = {k: round(v, 6) for k, v in averager.means().items()}
                record = {"kimg": round(cur_nimg / 1000, 3), "step": step, **last,
                          "img_per_s": round((cur_nimg - tick_nimg) / max(now - tick_time, 1e-9), 3)}
                if info.is_main:
                    report.log(record)
                    if callback is not None:
                        callback(record)
                averager.reset()
                tick_nimg, tick_time = cur_nimg, now
                next_tick = _next_multiple(cur_nimg, options.tick * 1000)
            if cur_nimg >= next_snap or stop:
                ddp.check_consistency(E, info, "encoder")
                if info.is_main:
                    meta = {"network": str(options.network), "network_sha256": network_sha, "step": step,
                            "kimg": cur_nimg / 1000, "training_options": options.to_dict(), "last_stats": last}
                    meta["weights"] = f"moving average, half-life {options.ema_kimg} kimg" if E_ema else "last step"
                    save_encoder(options.out, E_ema if E_ema is not None else E, meta,
                                 dtype=None if options.store_float32 else torch.float16)
                    with atomic_path(state_path(options.out)) as tmp:
                        torch.save({"version": STATE_VERSION, "encoder": E.state_dict(),
                                    "encoder_ema": None if E_ema is None else E_ema.state_dict(),
                                    "optimizer": opt.state_dict(),
                                    "step": step, "cur_nimg": cur_nimg, "rng": ckpt_io.rng_state(),
                                    "options": options.to_dict(), "config": cfg.to_dict(),
                                    "network_sha256": network_sha, "elapsed": report.elapsed}, tmp)
                    report.write(f"kimg {cur_nimg / 1000:.2f}: wrote {options.out}")
                ddp.barrier(info)
                next_snap = _next_multiple(cur_nimg, options.snap * 1000)
            if stop:
                break
    finally:
        report.close()
    return EncoderTrainResult(out=Path(options.out), step=step, cur_nimg=cur_nimg, finished=cur_nimg >= total_nimg,
                              last_stats=last, rank=info.rank)


@torch.no_grad()
def _update_average(average: Encoder, current: Encoder, beta: float) -> None:
    """average <- beta * average + (1 - beta) * current for parameters; buffers copied (w_avg, w_std)."""
    for a, c in zip(average.parameters(), current.parameters()):
        a.lerp_(c, 1 - beta)
    for a, c in zip(average.buffers(), current.buffers()):
        a.copy_(c)


def _passes(options: EncoderTrainOptions, step: int) -> int:
    """How many passes step ``step`` of an iterative run makes (uniform in 1..iterations, from the seed)."""
    if options.iterations <= 1:
        return 1
    gen = torch.Generator().manual_seed(derive_seed(options.seed, 3, step))
    return int(torch.randint(1, options.iterations + 1, [1], generator=gen))


def _predict(E: Encoder, G: torch.nn.Module, img: torch.Tensor, passes: int, start_recon: torch.Tensor | None,
             fused: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(ws, offsets) the encoder predicts for ``img`` after ``passes`` passes; only the last has gradients.

    ``offsets`` are the rows' summed offsets from the base w (what the regulariser pulls toward zero)."""
    if not E.cfg.iterative:
        w_base, offsets = E.encode_parts(img)
        return w_base.unsqueeze(1) + offsets, offsets
    n = img.shape[0]
    base = E.w_avg.view(1, -1).expand(n, -1)
    offsets = torch.zeros([n, E.num_ws, E.w_dim], device=img.device)
    recon = start_recon
    for i in range(passes):
        if i > 0:
            with torch.no_grad():
                recon = G.synthesis(base.unsqueeze(1) + offsets, noise_mode="const", fused_modconv=fused)
        with torch.set_grad_enabled(i == passes - 1):
            d_base, d_offsets = E.encode_parts(img, recon)
        base, offsets = base.detach() + d_base, offsets.detach() + d_offsets
    return base.unsqueeze(1) + offsets, offsets


def _next_multiple(nimg: int, every: float) -> float:
    if every <= 0:
        return float("inf")
    return (int(nimg // every) + 1) * every


__all__ = ["EncoderTrainOptions", "EncoderTrainResult", "load_encoder_state", "log_path", "recon_loss",
           "sample_ws", "state_path", "train_encoder", "w_statistics"]
