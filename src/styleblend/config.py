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

# Limits on what a config may describe: far above every published StyleGAN2 model (1024 px, 512
# features, 8 mapping layers), low enough that no config can ask for absurd memory by itself. Files
# are also held to the weights they actually contain (see ``min_weight_count``).
MAX_RESOLUTION = 4096
MAX_FEATURES = 16384  # z_dim, w_dim, channel_max, hidden mapping widths
MAX_MAPPING_LAYERS = 64
MAX_IMG_CHANNELS = 64
MAX_FILTER_TAPS = 16


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidArgumentError(message)


def _int(name: str, value: object, low: int, high: int, optional: bool = False) -> None:
    """``value`` is an int (not a bool) in [low, high], or None when ``optional``."""
    if value is None and optional:
        return
    _check(isinstance(value, int) and not isinstance(value, bool) and low <= value <= high,
           f"{name}={value!r:.40} must be an integer in [{low}, {high}]" + (" or None" if optional else ""))


def _float(name: str, value: object, low: float, high: float, optional: bool = False,
           open_low: bool = False) -> None:
    """``value`` is a finite real number in [low, high] ((low, high] when ``open_low``), or None when optional."""
    if value is None and optional:
        return
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
          and (value > low if open_low else value >= low) and value <= high)
    _check(ok, f"{name}={value!r:.40} must be a finite number in {'(' if open_low else '['}{low}, {high}]"
           + (" or None" if optional else ""))


def _taps(name: str, taps: object) -> None:
    _check(isinstance(taps, tuple) and 1 <= len(taps) <= MAX_FILTER_TAPS
           and all(isinstance(t, int) and not isinstance(t, bool) and abs(t) <= 2**20 for t in taps)
           and sum(taps) > 0,
           f"{name}={taps!r:.60} must be 1 to {MAX_FILTER_TAPS} integer taps with a positive sum, e.g. (1, 3, 3, 1)")


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

    def __post_init__(self) -> None:
        _int("mapping num_layers", self.num_layers, 1, MAX_MAPPING_LAYERS)
        _int("mapping embed_features", self.embed_features, 1, MAX_FEATURES, optional=True)
        _int("mapping layer_features", self.layer_features, 1, MAX_FEATURES, optional=True)
        _check(self.activation in ACTIVATIONS, f"unknown mapping activation {self.activation!r:.40}")
        _float("mapping lr_multiplier", self.lr_multiplier, 0.0, 1e6, open_low=True)
        _float("mapping w_avg_beta", self.w_avg_beta, 0.0, 1.0, optional=True)


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

    def __post_init__(self) -> None:
        _int("synthesis channel_base", self.channel_base, 1, MAX_FEATURES * MAX_RESOLUTION)
        _int("synthesis channel_max", self.channel_max, 1, MAX_FEATURES)
        _int("synthesis num_fp16_res", self.num_fp16_res, 0, 64)
        _check(self.architecture in ARCHITECTURES,
               f"synthesis architecture {self.architecture!r:.40} must be one of {ARCHITECTURES}")
        _float("synthesis conv_clamp", self.conv_clamp, 0.0, 1e30, optional=True, open_low=True)
        _taps("synthesis resample_filter", self.resample_filter)
        _check(isinstance(self.use_noise, bool), f"synthesis use_noise={self.use_noise!r:.40} must be True or False")
        _check(self.activation in ACTIVATIONS, f"unknown synthesis activation {self.activation!r:.40}")
        _int("synthesis kernel_size", self.kernel_size, 1, 15)
        _check(self.kernel_size % 2 == 1, f"synthesis kernel_size={self.kernel_size} must be odd")


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
        _int("img_resolution", res, 4, MAX_RESOLUTION)
        _check(res & (res - 1) == 0, f"img_resolution={res} must be a power of two >= 4 (e.g. 64, 256, 1024)")
        _int("w_dim", self.w_dim, 1, MAX_FEATURES)
        _int("z_dim", self.z_dim, 0, MAX_FEATURES)
        _int("c_dim", self.c_dim, 0, MAX_FEATURES)
        _int("img_channels", self.img_channels, 1, MAX_IMG_CHANNELS)
        _check(self.z_dim + self.c_dim > 0, "z_dim and c_dim cannot both be 0")
        _check(isinstance(self.mapping, MappingConfig) and isinstance(self.synthesis, SynthesisConfig),
               "mapping and synthesis must be MappingConfig and SynthesisConfig")
        _check(self.synthesis.channel_base >= res,
               f"channel_base={self.synthesis.channel_base} gives the {res}x{res} block no channels "
               f"(channels = min(channel_base // resolution, channel_max)); it must be >= img_resolution")

    def min_weight_count(self) -> int:
        """A lower bound of the number of weights this generator has (mapping layers, convolutions and their affines).

        Readers compare it with the bytes a file really holds before building a network from
        numbers the file states: a file cannot describe a network larger than its own weights.
        """
        k2, w, n = self.synthesis.kernel_size ** 2, self.w_dim, self.mapping.num_layers
        hidden = self.mapping.layer_features or w
        count = self.z_dim * w if n == 1 else self.z_dim * hidden + (n - 2) * hidden ** 2 + hidden * w
        count += self.channels(4) * (self.channels(4) * k2 + w)  # 4x4 conv and its affine
        for res in self.block_resolutions[1:]:
            c_in, c_out = self.channels(res // 2), self.channels(res)
            count += (c_in + c_out) * (c_out * k2 + w)  # conv0 and conv1 with their affines
        return count

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
        _int("discriminator img_resolution", res, 4, MAX_RESOLUTION)
        _check(res & (res - 1) == 0, f"img_resolution={res} must be a power of two >= 4")
        _check(self.architecture in ARCHITECTURES,
               f"discriminator architecture {self.architecture!r:.40} must be one of {ARCHITECTURES}")
        _int("discriminator c_dim", self.c_dim, 0, MAX_FEATURES)
        _int("discriminator img_channels", self.img_channels, 1, MAX_IMG_CHANNELS)
        _int("discriminator channel_base", self.channel_base, res, MAX_FEATURES * MAX_RESOLUTION)
        _int("discriminator channel_max", self.channel_max, 1, MAX_FEATURES)
        _int("discriminator num_fp16_res", self.num_fp16_res, 0, 64)
        _float("discriminator conv_clamp", self.conv_clamp, 0.0, 1e30, optional=True, open_low=True)
        _int("discriminator cmap_dim", self.cmap_dim, 1, MAX_FEATURES, optional=True)
        _int("discriminator mbstd_group_size", self.mbstd_group_size, 1, 2**16, optional=True)
        _int("discriminator mbstd_num_channels", self.mbstd_num_channels, 0, MAX_FEATURES)
        _check(self.activation in ACTIVATIONS, f"unknown discriminator activation {self.activation!r:.40}")
        _taps("discriminator resample_filter", self.resample_filter)
        _int("discriminator mapping_num_layers", self.mapping_num_layers, 0, MAX_MAPPING_LAYERS)

    def min_weight_count(self) -> int:
        """A lower bound of the number of weights this discriminator has (the first conv of each block)."""
        return sum(self.channels(res) ** 2 * 9 for res in self.block_resolutions) + self.channels(4) ** 2 * 9

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
