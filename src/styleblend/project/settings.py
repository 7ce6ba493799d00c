"""The projection's settings: its methods as presets of :class:`ProjectionSettings`, and the names of its
choices (spaces, inits, learning-rate schedules, loss kinds).

The methods are described (with their papers) in :mod:`styleblend.project.projector`. This module imports
no torch, so a command-line parser can list the choices and show each method's defaults without loading it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidArgumentError
from . import schedules

METHODS = ("image2stylegan", "nvidia", "fast", "editable")

#: W+ regulariser weight of the ``editable`` method. Measured on 8 held-out emoji with the bundled base, `fast`
#: 100 steps, pixel loss (docs/projection.md): w_reg 0 / 0.003 / 0.01 / 0.03 -> row spread 0.83 / 0.75 / 0.60 /
#: 0.35 at PSNR 23.2 / 23.2 / 23.1 / 22.5 dB: 0.03 more than halves the spread for 0.6 dB. The weight is
#: relative to the image loss, so a loss of a larger scale (dfeat) is regularised less by the same weight.
DEFAULT_W_REG = 0.03
SPACES = ("w", "w+")
INITS = ("mean", "random")
LR_SCHEDULES = ("constant", "nvidia", "warmup_cosine")
NOISE_INITS = ("random", "model")
#: The loss families :func:`~styleblend.project.losses.resolve_loss` builds.
LOSS_KINDS = ("pixel", "vgg", "dfeat")
#: The projection method that starts from an encoder's prediction (see :mod:`styleblend.project.encoder`).
ENCODER_METHOD = "encoder"
#: refinement steps after the encoder's prediction when none are given ('fast' settings otherwise)
ENCODER_DEFAULT_STEPS = 100
#: the projection :func:`~styleblend.project.toonify.toonify` runs by default (alone, or as the refinement of an
#: encoder's prediction): ``fast`` with the W+ regulariser (see :mod:`styleblend.project.projector`).
TOONIFY_METHOD = "editable"
#: steps of that method when toonify picks it (no encoder): ~2-3 s for a 64 px model on one CPU core.
DEFAULT_FAST_STEPS = 50
#: refinement steps after an encoder's prediction.
DEFAULT_REFINE_STEPS = 50
#: The features' learning rate (x their RMS) when W+ + features are refined together. On the first 5 held-out
#: Noto emoji, 100 steps from the bundled feature head's prediction (docs/projection.md): ~0.08 -> 32.8 dB,
#: ~0.25 -> 33.3 dB (the features then move 1.25 x their RMS), features fixed (0) -> 27.5 dB.
DEFAULT_FEATURE_LR = 0.1


@dataclass(frozen=True)
class ProjectionSettings:
    """Knobs of the projection loop (a method is a preset of these; see :func:`settings_for`).

    space: 'w' (one w shared by all layers) or 'w+' (one w per layer).
    steps: optimisation steps.
    lr, betas, eps: Adam's base learning rate and constants.
    lr_schedule: 'constant', 'nvidia' (ramp-up ``lr_rampup``, cosine ramp-down ``lr_rampdown``, as fractions
        of the run) or 'warmup_cosine' (warm-up ``lr_rampup``, cosine decay to 5 %).
    init: 'mean' (mean mapping output) or 'random' (U[-1, 1] per coordinate, Image2StyleGAN's alternative).
        A caller-given ``init_ws`` to :func:`project` overrides it.
    num_w_samples: z samples averaged for the mean w and its std; 0 uses the model's tracked ``w_avg``
        (and std 1 for the w noise).
    w_noise, w_noise_ramp: NVIDIA's w-noise annealing factor (times std of w) and its ramp length; 0 = off.
    optimize_noise: also optimise the per-layer noise maps (NVIDIA); else they stay fixed ('const').
    noise_reg_weight: weight of :func:`~styleblend.project.losses.noise_regularization` (used only when
        optimize_noise; NVIDIA's 1e5 by default, so turning noise optimisation on for any method keeps the
        maps from absorbing image content).
    unlock_until: coarse-to-fine W+ - per-layer offsets are unlocked progressively until this fraction of
        the run (0 = all layers free from the start). Ignored when :func:`project` gets ``init_ws``.
    noise_init: where optimised noise maps start: 'random' (fresh N(0, 1) maps, NVIDIA's projector) or
        'model' (the model's own stored maps, the ones ``proj.png`` and ``generate`` render with).
    w_reg: weight of the W+ regulariser (:func:`~styleblend.project.wspace.row_spread`: mean distance of
        each row from the mean row - or from ``w_base`` given to :func:`project` - in units of the spread
        of W); 0 = off. :data:`DEFAULT_W_REG` is the measured default of the ``editable`` method.
    feature_lr: learning rate of a feature map optimised with W+ (``init_features`` of :func:`project`, a
        feature head's prediction), in units of the map's RMS; 0 keeps the features fixed. Unused without one.
    """

    method: str = "image2stylegan"
    space: str = "w+"
    steps: int = 5000
    lr: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    lr_schedule: str = "constant"
    lr_rampup: float = 0.05
    lr_rampdown: float = 0.25
    init: str = "mean"
    num_w_samples: int = 10000
    w_noise: float = 0.0
    w_noise_ramp: float = 0.75
    optimize_noise: bool = False
    noise_reg_weight: float = 1e5
    unlock_until: float = 0.0
    noise_init: str = "random"
    w_reg: float = 0.0
    feature_lr: float = DEFAULT_FEATURE_LR

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise InvalidArgumentError(f"space {self.space!r} must be one of {SPACES}")
        if self.steps < 1:
            raise InvalidArgumentError(f"steps={self.steps} must be at least 1")
        if self.init not in INITS:
            raise InvalidArgumentError(f"init {self.init!r} must be one of {INITS} (or pass init_ws)")
        if self.lr_schedule not in LR_SCHEDULES:
            raise InvalidArgumentError(f"lr_schedule {self.lr_schedule!r} must be one of {LR_SCHEDULES}")
        if not self.lr > 0:
            raise InvalidArgumentError(f"lr={self.lr} must be positive")
        if self.noise_init not in NOISE_INITS:
            raise InvalidArgumentError(f"noise_init {self.noise_init!r} must be one of {NOISE_INITS}")
        if not self.w_reg >= 0:
            raise InvalidArgumentError(f"w_reg={self.w_reg} must be >= 0 (0 turns the W+ regulariser off)")
        if not 0 <= self.feature_lr <= 10:
            raise InvalidArgumentError(f"feature_lr={self.feature_lr} must be in [0, 10] (0 keeps the features fixed)")

    def lr_at(self, t: float) -> float:
        if self.lr_schedule == "nvidia":
            return self.lr * schedules.nvidia_lr(t, self.lr_rampdown, self.lr_rampup)
        if self.lr_schedule == "warmup_cosine":
            return self.lr * schedules.warmup_cosine_lr(t, self.lr_rampup)
        return self.lr * schedules.constant_lr(t)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


_PRESETS: dict[str, dict[str, Any]] = {
    "image2stylegan": {"space": "w+", "steps": 5000, "lr": 0.01, "lr_schedule": "constant", "init": "mean"},
    "nvidia": {"space": "w", "steps": 1000, "lr": 0.1, "lr_schedule": "nvidia", "lr_rampup": 0.05,
               "lr_rampdown": 0.25, "init": "mean", "w_noise": 0.05, "w_noise_ramp": 0.75, "optimize_noise": True,
               "noise_reg_weight": 1e5},
    "fast": {"space": "w+", "steps": 300, "lr": 0.1, "lr_schedule": "nvidia", "lr_rampup": 0.02,
             "lr_rampdown": 0.25, "init": "mean", "unlock_until": 0.25},
}
# editable: fast plus the W+ regulariser - what toonify and edits want (a latent that renders well through
# other models, not only the one it was fitted with).
_PRESETS["editable"] = dict(_PRESETS["fast"], w_reg=DEFAULT_W_REG)


def settings_for(method: str, **overrides: Any) -> ProjectionSettings:
    """The published settings of ``method`` (see the module docstring), with explicit overrides.

    ``None`` values in ``overrides`` are ignored, so CLI options left unset keep the method's defaults.
    """
    if method not in _PRESETS:
        raise InvalidArgumentError(f"method {method!r} must be one of {METHODS}")
    values = dict(_PRESETS[method], method=method)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ProjectionSettings(**values)
