"""Channel-dependent α: chosen feature channels of chosen layers come from the other model.

Pinkney & Adler (2020, Sec. 5) propose letting α depend on the channel as well as the resolution. A
:class:`ChannelMask` gives α per *output* channel of a layer. It applies along the output-channel
dimension of the tensors that produce those channels (``ParamInfo.channel_dim``):

* conv0/conv1 weights [out, in, k, k] and biases [out]: dim 0;
* the 4x4 const [C, 4, 4]: dim 0 (its channels are the block's first feature maps);
* resnet skip weights [out, in, 1, 1]: dim 0;
* toRGB weights [img_channels, in, 1, 1] and biases: dim 0, i.e. a toRGB mask is over colour channels.

Tensors of a masked layer without an output-channel dimension keep the layer's scalar α from the
schedule: the noise strength (one scalar for all channels), the stored noise image, and the affine
layer. The affine's outputs are styles for the conv's *input* channels, which after modulation and
demodulation feed every output channel, so no output-channel mask can apply to them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config_sg3 import AnyGeneratorConfig
from ..errors import InvalidArgumentError
from ..latents.seeds import parse_int_list
from ..nn.naming import ParamInfo, generator_layers


@dataclass(frozen=True)
class ChannelMask:
    """α per output channel of one layer or of every feature layer of one block.

    Attributes:
        layer: a layer name (``'b32.conv1'``, ``'b4.const'``, ``'b64.torgb'``) or a block (``'b32'``:
            its const/conv0/conv1/skip, not its toRGB, which has colour channels).
        channels: the channel indices set to ``alpha`` (others keep the schedule's α); None means
            ``alpha`` is a full vector with one α per channel.
        alpha: one α in [0, 1] for ``channels``, or the full per-channel vector when channels is None.
    """

    layer: str
    channels: tuple[int, ...] | None
    alpha: float | tuple[float, ...]

    def __post_init__(self) -> None:
        values = self.alpha if isinstance(self.alpha, tuple) else (self.alpha,)
        if (self.channels is None) != isinstance(self.alpha, tuple):
            raise InvalidArgumentError("a channel mask needs either channel indices with one alpha, "
                                       "or no indices with one alpha per channel")
        bad = [a for a in values if not 0.0 <= float(a) <= 1.0]
        if bad:
            raise InvalidArgumentError(f"channel alphas {bad[:3]} for '{self.layer}' must be in [0, 1]")

    def matches(self, param: ParamInfo) -> bool:
        if param.channel_dim is None:
            return False
        if self.layer == param.layer:
            return True
        # A block selector covers the feature layers, never toRGB (whose channels are colours).
        return self.layer == param.layer.split(".")[0] and not param.layer.endswith(".torgb")

    def spec(self) -> str:
        if self.channels is None:
            return f"{self.layer}=<{len(self.alpha)} values>"  # type: ignore[arg-type]
        return f"{self.layer}:{_ranges(self.channels)}={float(self.alpha):g}"  # type: ignore[arg-type]


def channel_alpha(param: ParamInfo, alpha: float, num_channels: int,
                  masks: Sequence[ChannelMask]) -> float | torch.Tensor:
    """α for one tensor: the scalar ``alpha``, or a float64 vector [num_channels] when a mask applies.

    Masks are applied in order, so a later mask overrides an earlier one on shared channels.

    Raises:
        InvalidArgumentError: a channel index or vector length does not fit the layer's channel count.
    """
    matching = [m for m in masks if m.matches(param)]
    if not matching:
        return alpha
    vec = torch.full([num_channels], float(alpha), dtype=torch.float64)
    for mask in matching:
        if mask.channels is None:
            if len(mask.alpha) != num_channels:  # type: ignore[arg-type]
                raise InvalidArgumentError(
                    f"the channel mask for '{mask.layer}' has {len(mask.alpha)} values but "  # type: ignore[arg-type]
                    f"'{param.key}' has {num_channels} output channels")
            vec = torch.tensor(mask.alpha, dtype=torch.float64)
        else:
            out_of_range = [c for c in mask.channels if c >= num_channels]
            if out_of_range:
                raise InvalidArgumentError(
                    f"channel {out_of_range[0]} of '{mask.layer}' is out of range: '{param.key}' has channels "
                    f"0..{num_channels - 1}")
            vec[list(mask.channels)] = float(mask.alpha)  # type: ignore[arg-type]
    return vec


def check_masks(masks: Sequence[ChannelMask], cfg: AnyGeneratorConfig) -> None:
    """Raise InvalidArgumentError for a mask naming a layer or block the architecture lacks."""
    layers = [layer for layer in generator_layers(cfg) if layer.kind != "mapping"]
    names = {layer.name for layer in layers} | {f"b{r}" for r in cfg.block_resolutions}
    for mask in masks:
        if mask.layer not in names:
            raise InvalidArgumentError(f"channel mask layer '{mask.layer}' is not in this model; use a block such as "
                                       f"b{cfg.block_resolutions[-1]} or a layer such as "
                                       f"b{cfg.block_resolutions[-1]}.conv1")


def parse_channel_mask(text: str) -> ChannelMask:
    """Parse ``LAYER:RANGES[=ALPHA]`` (e.g. ``b32.conv1:0-63`` or ``b16:0-7,12=0.5``; alpha defaults to 1).

    For a mask file use :func:`read_channel_mask` (``LAYER=FILE.npy`` on the command line).
    """
    layer, sep, rest = text.strip().partition(":")
    if not sep or not rest.strip():
        raise InvalidArgumentError(f"channel mask '{text}' must look like LAYER:CHANNELS[=ALPHA], e.g. b32.conv1:0-63 "
                                   "or LAYER=mask.npy")
    ranges, _, value = rest.partition("=")
    try:
        alpha = float(value) if value.strip() else 1.0
    except ValueError:
        raise InvalidArgumentError(f"channel mask alpha '{value}' is not a number in [0, 1]") from None
    channels = tuple(sorted(set(parse_int_list(ranges, "channels"))))
    return ChannelMask(_layer_name(layer), channels, alpha)


def read_channel_mask(layer: str, path: str | Path) -> ChannelMask:
    """Read a 1-D ``.npy`` file of per-channel α (floats in [0, 1] or booleans) for ``layer``."""
    try:
        data = np.load(Path(path), allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"cannot read channel mask file {path}: {exc}") from None
    if data.ndim != 1:
        raise InvalidArgumentError(f"channel mask file {path} has shape {data.shape}; expected one value per "
                                   "channel (a 1-D array)")
    return ChannelMask(_layer_name(layer), None, tuple(float(x) for x in data.astype(np.float64)))


def _layer_name(text: str) -> str:
    name = text.strip().removeprefix("synthesis.")
    if name.isdigit():  # '32' means the block b32
        name = f"b{name}"
    if name == "input" or re.fullmatch(r"L\d+_\d+_\d+", name):  # a StyleGAN3 layer
        return name
    if not name.startswith("b") or not name[1:].split(".")[0].isdigit():
        raise InvalidArgumentError(f"'{text}' is not a synthesis layer; write e.g. b32.conv1, b4.const or b32")
    return name


def _ranges(channels: Sequence[int]) -> str:
    out: list[str] = []
    start: int | None = None
    prev: int | None = None
    for c in [*channels, None]:
        if start is not None and prev is not None and (c is None or c != prev + 1):  # prev is set with start
            out.append(f"{start}" if start == prev else f"{start}-{prev}")
            start = None
        if c is not None and start is None:
            start = c
        prev = c
    return ",".join(out)
