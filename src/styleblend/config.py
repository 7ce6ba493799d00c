"""Architectures as frozen dataclasses, with a JSON round trip.

Field names and defaults follow the constructor arguments of NVIDIA's StyleGAN2-ADA
networks, so that a pickle's ``_init_kwargs`` map onto them one to one.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .errors import InvalidArgumentError

ARCHITECTURES = ("orig", "skip", "resnet")
ACTIVATIONS = ("linear", "relu", "lrelu", "tanh", "sigmoid", "elu", "selu", "softplus", "swish")


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidArgumentError(message)


@dataclass(frozen=True)
class MappingConfig:
    """Mapping network z (+ class) -> w.

    num_layers: number of fully connected layers (NVIDIA default 8; small models use 2-4).
    embed_features: width of the class embedding; None means w_dim (0 when c_dim == 0).
    layer_features: width of the hidden layers; None means w_dim.
    lr_multiplier: equalised-learning-rate multiplier of every layer (0.01 in StyleGAN2).
    w_avg_beta: decay of the running mean of w used for truncation; None disables tracking.
    """

    num_layers: int = 8
    embed_features: int | None = None
    layer_features: int | None = None
    activation: str = "lrelu"
    lr_multiplier: float = 0.01
    w_avg_beta: float | None = 0.995


@dataclass(frozen=True)
class SynthesisConfig:
    """Synthesis network ws -> image.

    channel_base, channel_max: a block at resolution r has min(channel_base // r, channel_max)
        channels (config-f: 32768 and 512).
    num_fp16_res: how many of the highest resolutions NVIDIA's code runs in float16; styleblend
        does too when asked for NVIDIA's mixed precision (see ``SynthesisNetwork.forward``), else float32.
    architecture: 'orig', 'skip' (the StyleGAN2 generator default) or 'resnet'.
    conv_clamp: clamp of every conv output; None disables clamping.
    resample_filter: 1-D FIR taps used for up-sampling; [1, 3, 3, 1] in StyleGAN2.
    use_noise: whether synthesis layers have per-pixel noise inputs.
    """

    channel_base: int = 32768
    channel_max: int = 512
    num_fp16_res: int = 0
    architecture: str = "skip"
    conv_clamp: float | None = None
    resample_filter: tuple[int, ...] = (1, 3, 3, 1)
    use_noise: bool = True
    activation: str = "lrelu"
    kernel_size: int = 3


@dataclass(frozen=True)
class GeneratorConfig:
    """A StyleGAN2 generator: z_dim/c_dim/w_dim, output size and the two sub-networks."""

    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    img_resolution: int = 1024
    img_channels: int = 3
    mapping: MappingConfig = field(default_factory=MappingConfig)
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)

    def __post_init__(self) -> None:
        res = self.img_resolution
        _check(res >= 4 and res & (res - 1) == 0,
               f"img_resolution={res} must be a power of two >= 4 (e.g. 64, 256, 1024)")
        _check(self.w_dim > 0, f"w_dim={self.w_dim} must be positive")
        _check(self.z_dim >= 0 and self.c_dim >= 0, f"z_dim={self.z_dim} and c_dim={self.c_dim} must be >= 0")
        _check(self.z_dim + self.c_dim > 0, "z_dim and c_dim cannot both be 0")
        _check(self.synthesis.architecture in ARCHITECTURES,
               f"synthesis architecture {self.synthesis.architecture!r} must be one of {ARCHITECTURES}")
        _check(self.mapping.activation in ACTIVATIONS, f"unknown activation {self.mapping.activation!r}")
        _check(self.synthesis.activation in ACTIVATIONS, f"unknown activation {self.synthesis.activation!r}")
        _check(self.mapping.num_layers >= 1, f"mapping num_layers={self.mapping.num_layers} must be >= 1")

    @property
    def block_resolutions(self) -> list[int]:
        """Resolutions of the synthesis blocks, coarse to fine: [4, 8, ..., img_resolution]."""
        return [2**i for i in range(2, int(math.log2(self.img_resolution)) + 1)]

    @property
    def fp16_resolutions(self) -> list[int]:
        """Synthesis blocks NVIDIA runs in float16: the ``num_fp16_res`` finest, never below 8x8."""
        if self.synthesis.num_fp16_res <= 0:
            return []
        lowest = max(2 ** (int(math.log2(self.img_resolution)) + 1 - self.synthesis.num_fp16_res), 8)
        return [r for r in self.block_resolutions if r >= lowest]

    def channels(self, res: int) -> int:
        """Feature channels of the synthesis block at resolution ``res``."""
        return min(self.synthesis.channel_base // res, self.synthesis.channel_max)

    @property
    def num_ws(self) -> int:
        """Number of w vectors the synthesis consumes (2 per block, 1 for the 4x4 block, +1 toRGB)."""
        return 2 * len(self.block_resolutions)

    def ws_indices(self, res: int) -> list[int]:
        """W+ indices read by the block at ``res`` (its convs, then its toRGB).

        The toRGB of a block shares its index with the next block's first conv, as in NVIDIA's
        ``SynthesisNetwork.forward``.
        """
        first = 0 if res == 4 else 2 * int(math.log2(res)) - 5
        num_conv = 1 if res == 4 else 2
        return list(range(first, first + num_conv + 1))

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GeneratorConfig:
        data = dict(data)
        mapping = MappingConfig(**_known(MappingConfig, data.pop("mapping", {})))
        synth = dict(_known(SynthesisConfig, data.pop("synthesis", {})))
        if "resample_filter" in synth:
            synth["resample_filter"] = tuple(int(t) for t in synth["resample_filter"])
        return cls(mapping=mapping, synthesis=SynthesisConfig(**synth), **_known(cls, data))


@dataclass(frozen=True)
class DiscriminatorConfig:
    """A StyleGAN2 discriminator (architecture 'resnet' by default, as NVIDIA's).

    mbstd_group_size / mbstd_num_channels: minibatch standard deviation layer.
    cmap_dim: projection dimension for class conditioning; None means channels at 4x4.
    mapping_num_layers: layers of the class-embedding mapping (only used when c_dim > 0).
    """

    c_dim: int = 0
    img_resolution: int = 1024
    img_channels: int = 3
    architecture: str = "resnet"
    channel_base: int = 32768
    channel_max: int = 512
    num_fp16_res: int = 0
    conv_clamp: float | None = None
    cmap_dim: int | None = None
    mbstd_group_size: int | None = 4
    mbstd_num_channels: int = 1
    activation: str = "lrelu"
    resample_filter: tuple[int, ...] = (1, 3, 3, 1)
    mapping_num_layers: int = 8

    def __post_init__(self) -> None:
        res = self.img_resolution
        _check(res >= 4 and res & (res - 1) == 0, f"img_resolution={res} must be a power of two >= 4")
        _check(self.architecture in ARCHITECTURES,
               f"discriminator architecture {self.architecture!r} must be one of {ARCHITECTURES}")

    @property
    def block_resolutions(self) -> list[int]:
        """Resolutions of the discriminator blocks, fine to coarse, excluding the 4x4 epilogue."""
        return [2**i for i in range(int(math.log2(self.img_resolution)), 2, -1)]

    def channels(self, res: int) -> int:
        return min(self.channel_base // res, self.channel_max)

    def to_dict(self) -> dict[str, Any]:
        return _to_jsonable(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DiscriminatorConfig:
        data = dict(_known(cls, data))
        if "resample_filter" in data:
            data["resample_filter"] = tuple(int(t) for t in data["resample_filter"])
        return cls(**data)


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InvalidArgumentError(f"unknown {cls.__name__} field(s) {unknown}; expected a subset of {sorted(names)}")
    return data


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_jsonable(v) for v in value]
    return value
