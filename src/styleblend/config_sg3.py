"""StyleGAN3 (alias-free) architectures as frozen dataclasses, and the layer design they imply.

Field names and defaults follow the constructor arguments of NVIDIA's ``networks_stylegan3``
(``Generator`` -> ``SynthesisNetwork`` -> ``SynthesisLayer``), so a snapshot's ``_init_kwargs`` map onto
them one to one. :func:`design_layers` turns a config into every layer's sampling rate, cut-off,
transition band, size and channels - the geometric progression of Karras et al. 2021, Sec. 3.2 and
Appendix F.2 - in float64, exactly as NVIDIA's constructor computes them, because the layer sizes,
filters and paddings follow from these numbers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from .config import (
    MAX_FEATURES,
    MAX_IMG_CHANNELS,
    MAX_RESOLUTION,
    GeneratorConfig,
    MappingConfig,
    _check,
    _float,
    _int,
    _known,
    _to_jsonable,
)
from .errors import InvalidArgumentError

if TYPE_CHECKING:
    from typing_extensions import TypeIs

FAMILY = "stylegan3"
MAX_SG3_LAYERS = 64


@dataclass(frozen=True)
class SG3SynthesisConfig:
    """StyleGAN3 synthesis network (defaults: NVIDIA's StyleGAN3-T; -R sets conv_kernel=1,
    use_radial_filters=True and doubles channel_base and channel_max).

    channel_base, channel_max: a layer with cut-off f_c has min(channel_base / 2 / f_c, channel_max) channels.
    num_layers: synthesis layers excluding the Fourier-feature input and the final ToRGB layer.
    num_critical: critically sampled layers at the end (no margin, cut-off at Nyquist).
    first_cutoff, first_stopband, last_stopband_rel: the cut-off/stop-band progression (f_{c,0}, f_{t,0},
        f_{t,N} / f_{c,N}).
    margin_size: extra pixels on each side of the feature maps of the non-final layers.
    output_scale: multiplies the output image.
    num_fp16_res: layers whose sampling rate * 2**num_fp16_res exceeds img_resolution are float16 layers;
        NVIDIA computes them in float16 on CUDA only (float32 on the CPU).
    conv_kernel: 3 for StyleGAN3-T, 1 for -R (the ToRGB layer is always 1x1).
    filter_size: low-pass taps per unit of the up/down-sampling factor.
    lrelu_upsampling: how much higher than the layer's sampling rate the leaky ReLU runs.
    use_radial_filters: radially symmetric down-sampling filters (-R) except in critically sampled layers.
    conv_clamp: clamp of each layer's output; None disables.
    magnitude_ema_beta: decay of each layer's input-magnitude running mean (training only).
    """

    channel_base: int = 32768
    channel_max: int = 512
    num_layers: int = 14
    num_critical: int = 2
    first_cutoff: float = 2.0
    first_stopband: float = 2**2.1
    last_stopband_rel: float = 2**0.3
    margin_size: int = 10
    output_scale: float = 0.25
    num_fp16_res: int = 4
    conv_kernel: int = 3
    filter_size: int = 6
    lrelu_upsampling: int = 2
    use_radial_filters: bool = False
    conv_clamp: float | None = 256
    magnitude_ema_beta: float = 0.999

    def __post_init__(self) -> None:
        _int("synthesis channel_base", self.channel_base, 1, MAX_FEATURES * MAX_RESOLUTION)
        _int("synthesis channel_max", self.channel_max, 1, MAX_FEATURES)
        _int("synthesis num_layers", self.num_layers, 1, MAX_SG3_LAYERS)
        _int("synthesis num_critical", self.num_critical, 0,
             self.num_layers - 1 if isinstance(self.num_layers, int) else 0)
        _float("synthesis first_cutoff", self.first_cutoff, 0.0, MAX_RESOLUTION, open_low=True)
        _float("synthesis first_stopband", self.first_stopband, 0.0, MAX_RESOLUTION, open_low=True)
        _float("synthesis last_stopband_rel", self.last_stopband_rel, 0.0, 64.0, open_low=True)
        _int("synthesis margin_size", self.margin_size, 0, 256)
        _float("synthesis output_scale", self.output_scale, -1e6, 1e6)
        _int("synthesis num_fp16_res", self.num_fp16_res, 0, 64)
        _int("synthesis conv_kernel", self.conv_kernel, 1, 15)
        _check(self.conv_kernel % 2 == 1, f"synthesis conv_kernel={self.conv_kernel} must be odd (3 for -T, 1 for -R)")
        _int("synthesis filter_size", self.filter_size, 1, 64)
        _int("synthesis lrelu_upsampling", self.lrelu_upsampling, 1, 16)
        _check(isinstance(self.use_radial_filters, bool),
               f"synthesis use_radial_filters={self.use_radial_filters!r:.40} must be True or False")
        _float("synthesis conv_clamp", self.conv_clamp, 0.0, 1e30, optional=True, open_low=True)
        _float("synthesis magnitude_ema_beta", self.magnitude_ema_beta, 0.0, 1.0)


@dataclass(frozen=True)
class InputSpec:
    """The Fourier-feature input ``synthesis.input``: channels, size (incl. margin), sampling rate, bandwidth."""

    channels: int
    size: int
    sampling_rate: float
    bandwidth: float


@dataclass(frozen=True)
class LayerSpec:
    """Every design number of one synthesis layer ``L<index>_<out_size>_<out_channels>``.

    Sizes include the margin; sampling rates, cut-offs and half-widths are in cycles per image
    (float64, as NVIDIA computes them). ``padding`` is (x0, x1, y0, y1) of the up-sampled signal
    (negative values crop). W+ row ``index + 1`` drives the layer (row 0 drives the input).
    """

    index: int
    name: str
    is_torgb: bool
    is_critically_sampled: bool
    use_fp16: bool
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    tmp_sampling_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    conv_kernel: int
    up_factor: int
    down_factor: int
    up_taps: int
    down_taps: int
    down_radial: bool
    padding: tuple[int, int, int, int]

    @property
    def ws_index(self) -> int:
        return self.index + 1


@dataclass(frozen=True)
class StyleGAN3Config:
    """A StyleGAN3 generator: z_dim/c_dim/w_dim, output size, mapping (2 layers by default) and synthesis."""

    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    img_resolution: int = 1024
    img_channels: int = 3
    mapping: MappingConfig = field(default_factory=lambda: MappingConfig(num_layers=2, w_avg_beta=0.998))
    synthesis: SG3SynthesisConfig = field(default_factory=SG3SynthesisConfig)

    family = FAMILY  # class attribute, not a field: StyleGAN2's GeneratorConfig has none

    def __post_init__(self) -> None:
        res = self.img_resolution
        _int("img_resolution", res, 4, MAX_RESOLUTION)
        _check(res & (res - 1) == 0, f"img_resolution={res} must be a power of two >= 4 (e.g. 256, 1024)")
        _int("w_dim", self.w_dim, 1, MAX_FEATURES)
        _int("z_dim", self.z_dim, 0, MAX_FEATURES)
        _int("c_dim", self.c_dim, 0, MAX_FEATURES)
        _int("img_channels", self.img_channels, 1, MAX_IMG_CHANNELS)
        _check(self.z_dim > 0, "a StyleGAN3 generator needs z_dim > 0")
        _check(isinstance(self.mapping, MappingConfig) and isinstance(self.synthesis, SG3SynthesisConfig),
               "mapping and synthesis must be MappingConfig and SG3SynthesisConfig")
        _check(self.mapping.w_avg_beta is not None, "a StyleGAN3 mapping network always tracks w_avg (w_avg_beta)")
        s = self.synthesis
        _check(s.first_cutoff <= res / 2 and s.first_stopband > s.first_cutoff,
               f"first_cutoff={s.first_cutoff} must be <= img_resolution/2 and below first_stopband={s.first_stopband}")
        for layer in self.layers:
            _check(layer.in_channels >= 1 and layer.out_channels >= 1,
                   f"layer {layer.name} gets no channels (channel_base={s.channel_base} is too small)")
            _check(layer.up_factor * layer.in_sampling_rate == layer.tmp_sampling_rate
                   and layer.down_factor * layer.out_sampling_rate == layer.tmp_sampling_rate,
                   f"layer {layer.name}: sampling rates {layer.in_sampling_rate} -> {layer.out_sampling_rate} are not "
                   "integer ratios of each other")

    @property
    def num_ws(self) -> int:
        """W+ rows: one for the input, one per layer (num_layers + the ToRGB layer)."""
        return self.synthesis.num_layers + 2

    @property
    def input_spec(self) -> InputSpec:
        return design_layers(self)[0]

    @property
    def layers(self) -> list[LayerSpec]:
        return design_layers(self)[1]

    @property
    def layer_names(self) -> list[str]:
        return [layer.name for layer in self.layers]

    @property
    def block_resolutions(self) -> list[int]:
        """The distinct sampling rates of the input and the layers, coarse to fine: StyleGAN3's counterpart
        of StyleGAN2's block resolutions, the scale axis of blending schedules."""
        return sorted({int(self.input_spec.sampling_rate)} | {spec.out_sampling_rate for spec in self.layers})

    def min_weight_count(self) -> int:
        """A lower bound of the weights this generator has (convolutions and affines), for readers' budgets."""
        count = self.input_spec.channels ** 2
        for layer in self.layers:
            count += layer.out_channels * layer.in_channels * layer.conv_kernel ** 2 + layer.in_channels * self.w_dim
        return count

    def to_dict(self) -> dict[str, Any]:
        return {"family": FAMILY, **_to_jsonable(dataclasses.asdict(self))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StyleGAN3Config:
        data = dict(data)
        family = data.pop("family", FAMILY)
        _check(family == FAMILY, f"family={family!r:.40} is not {FAMILY!r}")
        mapping = MappingConfig(**_known(MappingConfig, data.pop("mapping", {})))
        synthesis = SG3SynthesisConfig(**_known(SG3SynthesisConfig, data.pop("synthesis", {})))
        return cls(mapping=mapping, synthesis=synthesis, **_known(cls, data))


# A generator architecture of either family; code that differs by family asks is_stylegan3.
AnyGeneratorConfig: TypeAlias = GeneratorConfig | StyleGAN3Config


def is_stylegan3(cfg: object) -> TypeIs[StyleGAN3Config]:
    """True for a :class:`StyleGAN3Config` (the one question code asks when families differ)."""
    return isinstance(cfg, StyleGAN3Config)


def generator_config_from_dict(data: dict[str, Any]) -> GeneratorConfig | StyleGAN3Config:
    """A generator config of either family from its ``to_dict()`` (StyleGAN2 dicts carry no 'family')."""
    if isinstance(data, dict) and data.get("family") == FAMILY:
        return StyleGAN3Config.from_dict(data)
    if isinstance(data, dict) and "family" in data:
        data = dict(data)
        family = data.pop("family")
        _check(family == "stylegan2", f"unknown generator family {family!r:.40}; expected 'stylegan2' or '{FAMILY}'")
    return GeneratorConfig.from_dict(data)


_DESIGN_CACHE: dict[StyleGAN3Config, tuple[InputSpec, list[LayerSpec]]] = {}


def design_layers(cfg: StyleGAN3Config) -> tuple[InputSpec, list[LayerSpec]]:
    """The input and per-layer design of ``cfg`` (Karras et al. 2021, Appendix F.2), as NVIDIA computes it.

    Cut-offs f_c and minimum stop-bands f_t grow geometrically from the first layer to the last
    non-critical one and stay at the final values after it; each layer's sampling rate is the
    smallest power of two >= 2 f_t (at most img_resolution); its transition half-width is
    max(f_t, s/2) - f_c; channels shrink as 1 / f_c.
    """
    cached = _DESIGN_CACHE.get(cfg)
    if cached is not None:
        return cached[0], list(cached[1])
    s = cfg.synthesis
    n, res = s.num_layers, cfg.img_resolution
    last_cutoff = res / 2
    last_stopband = last_cutoff * s.last_stopband_rel
    exponents = np.minimum(np.arange(n + 1) / max(n - s.num_critical, 1e-30), 1)
    cutoffs = s.first_cutoff * (last_cutoff / s.first_cutoff) ** exponents
    stopbands = s.first_stopband * (last_stopband / s.first_stopband) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, res))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    if not (np.all(np.isfinite(rates)) and rates.min() >= 1 and np.all(half_widths > 0)):
        raise InvalidArgumentError(
            f"first_cutoff={s.first_cutoff}, first_stopband={s.first_stopband}, "
            f"last_stopband_rel={s.last_stopband_rel} "
            "give layers below one sample per image or no transition band; NVIDIA's defaults are 2, 2**2.1 and 2**0.3")
    sizes = rates + s.margin_size * 2
    sizes[-2:] = res
    channels = np.rint(np.minimum((s.channel_base / 2) / cutoffs, s.channel_max))
    channels[-1] = cfg.img_channels
    spec_in = InputSpec(channels=int(channels[0]), size=int(sizes[0]), sampling_rate=float(rates[0]),
                        bandwidth=float(cutoffs[0]))
    layers = []
    for idx in range(n + 1):
        prev = max(idx - 1, 0)
        is_torgb = idx == n
        critical = idx >= n - s.num_critical
        in_rate, out_rate = int(rates[prev]), int(rates[idx])
        tmp_rate = max(in_rate, out_rate) * (1 if is_torgb else s.lrelu_upsampling)
        kernel = 1 if is_torgb else s.conv_kernel
        up = int(np.rint(tmp_rate / in_rate))
        down = int(np.rint(tmp_rate / out_rate))
        up_taps = s.filter_size * up if up > 1 and not is_torgb else 1
        down_taps = s.filter_size * down if down > 1 and not is_torgb else 1
        in_size, out_size = int(sizes[prev]), int(sizes[idx])
        # Output length before down-sampling, minus the up-sampled input, plus what the filters eat;
        # split so that sample positions follow the symmetric interpretation (Appendix C.3).
        pad_total = (out_size - 1) * down + 1 - (in_size + kernel - 1) * up + up_taps + down_taps - 2
        pad_lo = (pad_total + up) // 2
        pad_hi = pad_total - pad_lo
        out_channels = int(channels[idx])
        layers.append(LayerSpec(
            index=idx, name=f"L{idx}_{out_size}_{out_channels}", is_torgb=is_torgb, is_critically_sampled=critical,
            use_fp16=bool(rates[idx] * 2**s.num_fp16_res > res), in_channels=int(channels[prev]),
            out_channels=out_channels, in_size=in_size, out_size=out_size, in_sampling_rate=in_rate,
            out_sampling_rate=out_rate, tmp_sampling_rate=tmp_rate, in_cutoff=float(cutoffs[prev]),
            out_cutoff=float(cutoffs[idx]), in_half_width=float(half_widths[prev]),
            out_half_width=float(half_widths[idx]), conv_kernel=kernel, up_factor=up, down_factor=down,
            up_taps=up_taps, down_taps=down_taps, down_radial=s.use_radial_filters and not critical,
            padding=(pad_lo, pad_hi, pad_lo, pad_hi)))
    if len(_DESIGN_CACHE) > 64:
        _DESIGN_CACHE.clear()
    _DESIGN_CACHE[cfg] = (spec_in, layers)
    return spec_in, list(layers)


def default_magnitude_ema_beta(batch_size: int) -> float:
    """NVIDIA's training default: half-life of 20k images, 0.5 ** (batch / 20000)."""
    return 0.5 ** (batch_size / 20000)


def stylegan3_r(**kwargs: Any) -> SG3SynthesisConfig:
    """A StyleGAN3-R synthesis config: 1x1 convolutions, radial down-sampling filters, doubled channels."""
    base: dict[str, Any] = dict(conv_kernel=1, use_radial_filters=True, channel_base=65536, channel_max=1024)
    base.update(kwargs)
    return SG3SynthesisConfig(**base)


