"""What every StyleGAN3 generator tensor is: its layer, group, W+ row and sampling rate.

StyleGAN3 has no resolution blocks; its counterpart for blending by scale is each layer's **sampling
rate** (16, 32, ... img_resolution cycles per image: coarse layers sample slowly and carry structure,
fine ones render detail), so :attr:`ParamInfo.resolution` holds the layer's output sampling rate and
every resolution schedule (swap, linear, sigmoid, table) works on StyleGAN3 by sampling rate. The layer
index is the W+ row (``input`` reads row 0, ``L<i>_...`` row i + 1), which per-layer tables use.

Groups, mapped onto StyleGAN2's so the same overrides mean the same thing:

========  ===========================================================================================
const     the synthesis input: its mixing matrix ``input.weight``, frequencies and phases (StyleGAN2's
          learned constant input)
affine    style affines ``L<i>.affine.*`` and the input's rotation/translation affine ``input.affine.*``
conv      modulated conv weights ``L<i>.weight`` and their input gains ``L<i>.magnitude_ema`` (the gain
          multiplies the weight, so the two travel together)
bias      ``L<i>.bias``
torgb     every tensor of the final ToRGB layer
mapping   ``mapping.fc*`` and ``mapping.embed``; ``w_avg`` its running mean
buffer    fixed low-pass filters and the user transform (always the base's)
========  ===========================================================================================
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, TypeAlias

from ..errors import InvalidArgumentError

if TYPE_CHECKING:
    from ..config_sg3 import StyleGAN3Config

# The fields of naming.ParamInfo and naming.LayerInfo, in order (naming builds the values from them).
ParamFields: TypeAlias = tuple[str, str, str, "int | None", "int | None", tuple[int, ...], "int | None", "int | None"]
LayerFields: TypeAlias = tuple[str, str, "int | None", "int | None", int]

_INPUT = re.compile(r"^synthesis\.input\.(.+)$")
_LAYER = re.compile(r"^synthesis\.(L(\d+)_(\d+)_(\d+))\.(.+)$")
_INPUT_GROUPS = {"weight": "const", "freqs": "const", "phases": "const", "affine.weight": "affine",
                 "affine.bias": "affine", "transform": "buffer"}
_LAYER_GROUPS = {"weight": ("conv", 0), "bias": ("bias", 0), "affine.weight": ("affine", None),
                 "affine.bias": ("affine", None), "magnitude_ema": ("conv", None), "up_filter": ("buffer", None),
                 "down_filter": ("buffer", None)}


def is_sg3_key(key: str) -> bool:
    """True for the synthesis keys of a StyleGAN3 generator (``synthesis.input.*``, ``synthesis.L<i>_<s>_<c>.*``)."""
    return bool(_INPUT.match(key) or _LAYER.match(key))


def sg3_param_info(key: str, cfg: StyleGAN3Config | None = None) -> ParamFields:
    """Classify one StyleGAN3 synthesis key (mapping keys are classified by :func:`~.naming.param_info`).

    Returns the fields of :class:`~.naming.ParamInfo` in order (key, group, layer, resolution, ws_index,
    block_ws_indices, channel_dim, size); ``naming`` builds the value (this module does not import it).

    cfg: a :class:`~styleblend.config_sg3.StyleGAN3Config`; needed for the sampling rate (``resolution``),
        which the key does not say; None leaves it None. With a config, the layer must be one of its.

    Raises:
        InvalidArgumentError: not a StyleGAN3 synthesis tensor, or a layer the config lacks.
    """
    m = _INPUT.match(key)
    if m is not None:
        group = _INPUT_GROUPS.get(m.group(1))
        if group is None:
            raise _unknown(key)
        rate = int(cfg.input_spec.sampling_rate) if cfg is not None else None
        size = cfg.input_spec.size if cfg is not None else None
        channel_dim = 0 if m.group(1) in ("weight", "freqs", "phases") else None
        return (key, group, "input", rate, 0, (0,), channel_dim, size)
    m = _LAYER.match(key)
    if m is None:
        raise _unknown(key)
    name, index, leaf = m.group(1), int(m.group(2)), m.group(5)
    if leaf not in _LAYER_GROUPS:
        raise _unknown(key)
    group, channel_dim = _LAYER_GROUPS[leaf]
    rate = None
    if cfg is not None:
        layers = cfg.layers
        if index >= len(layers) or layers[index].name != name:
            raise InvalidArgumentError(f"'{key}' is not a layer of this StyleGAN3 generator (its layers are "
                                       f"{layers[0].name} .. {layers[-1].name}); the tensor belongs to another "
                                       "architecture")
        rate = layers[index].out_sampling_rate
        if layers[index].is_torgb and group != "buffer":
            group = "torgb"
    return (key, group, name, rate, index + 1, (index + 1,), channel_dim, int(m.group(3)))


def sg3_generator_layers(cfg: StyleGAN3Config) -> list[LayerFields]:
    """The synthesis layers of a StyleGAN3 generator in forward order: ``input`` (kind 'const'), then
    ``L0_...`` .. (kind 'conv') and the ToRGB layer (kind 'torgb'), with sampling rate and W+ row, as the
    fields of :class:`~.naming.LayerInfo` (name, kind, resolution, ws_index, channels)."""
    spec_in = cfg.input_spec
    out: list[LayerFields] = [("input", "const", int(spec_in.sampling_rate), 0, spec_in.channels)]
    out += [(s.name, "torgb" if s.is_torgb else "conv", s.out_sampling_rate, s.ws_index, s.out_channels)
            for s in cfg.layers]
    return out


def _unknown(key: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"'{key}' is not a StyleGAN3 generator tensor (expected 'synthesis.input.<weight|freqs|phases|transform|"
        "affine.*>' or 'synthesis.L<i>_<size>_<channels>.<weight|bias|affine.*|magnitude_ema|up_filter|down_filter>')")
