"""Training options as one frozen dataclass, the architecture presets, and their JSON round trip.

Defaults follow StyleGAN2-ADA (Karras et al. 2020, "Training Generative Adversarial Networks with
Limited Data", Appendix C / NVIDIA's ``train.py``): Adam lr 0.0025 with betas (0, 0.99), lazy R1
every 16 minibatches, path-length regularisation every 4 with weight 2, style mixing 0.9, EMA
half-life 10 kimg with a 0.05 ramp-up, ADA target 0.6 adjusted every 4 steps over 500 kimg.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..config import (
    DiscriminatorConfig,
    GeneratorConfig,
    MappingConfig,
    SynthesisConfig,
)
from ..errors import InvalidArgumentError

AUGMENT_MODES = ("ada", "noaug", "fixed")


def _preset_tiny32(res: int, c_dim: int) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """A toy network for tests and benchmarks (a few thousand parameters per block)."""
    g = GeneratorConfig(z_dim=32, w_dim=32, c_dim=c_dim, img_resolution=res,
                        mapping=MappingConfig(num_layers=2),
                        synthesis=SynthesisConfig(channel_base=256, channel_max=32))
    d = DiscriminatorConfig(c_dim=c_dim, img_resolution=res, channel_base=256, channel_max=32,
                            mapping_num_layers=2)
    return g, d


def _preset_emoji64(res: int, c_dim: int) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """The bundled emoji model: G ~0.43 M parameters, a slimmer D (see shared notes)."""
    g = GeneratorConfig(z_dim=128, w_dim=128, c_dim=c_dim, img_resolution=res,
                        mapping=MappingConfig(num_layers=2),
                        synthesis=SynthesisConfig(channel_base=2048, channel_max=64))
    d = DiscriminatorConfig(c_dim=c_dim, img_resolution=res, channel_base=1024, channel_max=64,
                            mapping_num_layers=2)
    return g, d


def _preset_stylegan2(res: int, c_dim: int) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """Config-F sized for ``res`` as NVIDIA's ``paper256``-like auto config (large; GPU only)."""
    base = 16384 if res <= 256 else 32768
    g = GeneratorConfig(z_dim=512, w_dim=512, c_dim=c_dim, img_resolution=res,
                        synthesis=SynthesisConfig(channel_base=base, channel_max=512))
    d = DiscriminatorConfig(c_dim=c_dim, img_resolution=res, channel_base=base, channel_max=512)
    return g, d


#: Architecture presets: name -> builder(img_resolution, c_dim) -> (G config, D config).
PRESETS = {"tiny32": _preset_tiny32, "emoji64": _preset_emoji64, "stylegan2": _preset_stylegan2}


def preset_configs(name: str, img_resolution: int, c_dim: int = 0) -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """Build the G and D architectures of preset ``name`` for images of ``img_resolution``.

    Raises:
        InvalidArgumentError: unknown preset name.
    """
    if name not in PRESETS:
        raise InvalidArgumentError(f"unknown `cfg` {name!r}; choose one of {sorted(PRESETS)}", param="cfg")
    return PRESETS[name](img_resolution, c_dim)


@dataclass(frozen=True)
class TrainOptions:
    """Everything that defines a training run (dumped to ``options.json``).

    Attributes:
        data: path of the training data set (zip or folder readable by ``ImageZipDataset``).
        outdir: run directory; snapshots, logs and the training state go here.
        cfg: architecture preset name (ignored when ``resume`` gives the architecture).
        resolution: expected image resolution; must equal the data set's (0: take the data's).
        batch: total minibatch over all processes.
        batch_gpu: images per forward pass on one process (gradient accumulation when smaller
            than batch / world_size); 0 means batch / world_size. Speed and memory only: the run is
            the same computation for any value (up to float rounding), and bit for bit the same for
            1 or 2 processes with the same value (see ``loop`` and ``distributed.PairwiseSum``).
        kimg: train until this many thousand real images have been shown to D.
        snap: write samples and a snapshot every ``snap`` kimg (0 disables periodic ones).
        tick: log a JSONL line every ``tick`` kimg.
        keep_every: keep every N-th snapshot forever (besides the last ``keep_last``); 0 keeps all.
        keep_last: number of most recent snapshots always kept.
        lr_g / lr_d: Adam learning rates before the lazy-regularisation correction.
        betas: Adam betas before the correction.
        eps: Adam epsilon.
        r1_gamma: R1 weight gamma (penalty gamma/2 * |grad D(x)|^2); 0 disables R1.
        d_reg_interval / g_reg_interval: lazy regularisation intervals (0 disables).
        pl_weight / pl_decay / pl_batch_shrink: path-length regulariser (0 weight disables).
        style_mixing_prob: probability of mixing two latents per minibatch (0 disables).
        ema_kimg: half-life of the generator EMA in kimg.
        ema_rampup: limit the EMA half-life to ``ema_rampup * cur_nimg`` (None disables).
        augment: 'ada' (adaptive p), 'noaug', or 'fixed' (constant p = augment_p).
        augment_p: initial (ada) or constant (fixed) augmentation probability.
        ada_target / ada_interval / ada_kimg: ADA heuristic r_t target, adjustment interval in
            minibatches, and kimg for p to go 0 -> 1.
        mirror: add left-right mirrored copies of the data set.
        seed: seed of every random draw (initial weights, data order, latents, noise).
        resume: checkpoint file to start from (transfer learning); None trains from scratch.
        freeze_d: freeze the first K discriminator layers ("Freeze-D", Mo et al. 2020).
        freeze_mapping: keep the mapping network fixed.
        device: torch device name.
        mbstd_group: minibatch-stddev group size of D: runs of this many consecutive images of
            the batch (the whole batch when smaller); must divide batch_gpu.
        grid: number of images in the reals / fakes grids (G_ema on seeds 0..grid-1).
    """

    data: str
    outdir: str
    cfg: str = "emoji64"
    resolution: int = 0
    batch: int = 32
    batch_gpu: int = 0
    kimg: float = 1000.0
    snap: float = 4.0
    tick: float = 1.0
    keep_every: int = 10
    keep_last: int = 2
    lr_g: float = 0.0025
    lr_d: float = 0.0025
    betas: tuple[float, float] = (0.0, 0.99)
    eps: float = 1e-8
    r1_gamma: float = 0.1
    d_reg_interval: int = 16
    g_reg_interval: int = 4
    pl_weight: float = 2.0
    pl_decay: float = 0.01
    pl_batch_shrink: int = 2
    style_mixing_prob: float = 0.9
    ema_kimg: float = 10.0
    ema_rampup: float | None = 0.05
    augment: str = "ada"
    augment_p: float = 0.0
    ada_target: float = 0.6
    ada_interval: int = 4
    ada_kimg: float = 500.0
    mirror: bool = False
    seed: int = 0
    resume: str | None = None
    freeze_d: int = 0
    freeze_mapping: bool = False
    device: str = "cpu"
    mbstd_group: int = 4
    grid: int = 64

    def __post_init__(self) -> None:
        def check(cond: bool, msg: str) -> None:
            if not cond:
                raise InvalidArgumentError(msg)

        check(self.batch > 0, f"--batch {self.batch} must be positive")
        check(self.batch_gpu >= 0, f"--batch-gpu {self.batch_gpu} must be >= 0")
        check(self.kimg > 0, f"--kimg {self.kimg} must be positive")
        check(self.snap >= 0 and self.tick > 0, f"--snap {self.snap} must be >= 0 and --tick {self.tick} > 0")
        check(self.augment in AUGMENT_MODES, f"--aug {self.augment!r} must be one of {AUGMENT_MODES}")
        check(0 <= self.augment_p <= 1, f"augment p {self.augment_p} must lie in [0, 1]")
        check(self.r1_gamma >= 0, f"--gamma {self.r1_gamma} must be >= 0")
        check(self.lr_g > 0 and self.lr_d > 0, f"learning rates ({self.lr_g}, {self.lr_d}) must be positive")
        check(self.ema_kimg >= 0, f"--ema-kimg {self.ema_kimg} must be >= 0")
        check(self.freeze_d >= 0, f"--freeze-d {self.freeze_d} must be >= 0")
        check(self.pl_batch_shrink >= 1, f"pl_batch_shrink {self.pl_batch_shrink} must be >= 1")
        check(self.cfg in PRESETS, f"unknown --cfg {self.cfg!r}; choose one of {sorted(PRESETS)}")
        check(self.grid >= 1, f"grid size {self.grid} must be >= 1")
        check(0 <= self.seed < 2**32, f"--seed {self.seed} must be in [0, 2**32)")
        check(self.mbstd_group >= 1, f"minibatch-stddev group {self.mbstd_group} must be >= 1")

    def replace(self, **changes: Any) -> TrainOptions:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainOptions:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidArgumentError(f"unknown training option(s) {unknown} in options.json")
        data = dict(data)
        if "betas" in data:
            data["betas"] = tuple(float(b) for b in data["betas"])
        return cls(**data)
