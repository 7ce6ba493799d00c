"""What every generator tensor is: its block resolution, layer, parameter group and W+ index.

Canonical keys follow NVIDIA's module tree, so a key alone says where a tensor lives:
``synthesis.b16.conv0.affine.weight`` is the style (affine) layer of the first conv of the 16x16
block. Blending (α per resolution/layer/group), ``styleblend diff`` and the UI all read this table,
so it is the single place that knows the naming rules.

Groups (what users tune separately when blending, Pinkney & Adler 2020):

======== =====================================================================================
const    the learned 4x4 input ``synthesis.b4.const``
conv     modulated conv weights of ``conv0``/``conv1``, and the 1x1 ``skip`` conv of 'resnet'
affine   the affine (style) layers ``convN.affine.*`` that map w to per-input-channel styles
bias     the biases of ``conv0``/``conv1``
noise    per-layer noise strengths and the stored noise images ``noise_const``
torgb    every tensor of a ``torgb`` layer (weight, bias and its affine)
mapping  the mapping network ``mapping.fc*`` (and ``mapping.embed`` for class labels)
w_avg    the running mean of w used for truncation
buffer   fixed resampling filters ``resample_filter`` (identical in every compatible model)
======== =====================================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..config_sg3 import AnyGeneratorConfig, is_stylegan3
from ..errors import InvalidArgumentError
from .naming_sg3 import is_sg3_key, sg3_generator_layers, sg3_param_info

GROUPS = ("const", "conv", "affine", "bias", "noise", "torgb", "mapping", "w_avg", "buffer")

_SYNTH = re.compile(r"^synthesis\.b(\d+)\.(.+)$")
_LAYER = re.compile(r"^(conv0|conv1|torgb|skip)\.(.+)$")


@dataclass(frozen=True)
class ParamInfo:
    """Where one generator tensor belongs.

    Attributes:
        key: the canonical state-dict key.
        group: one of :data:`GROUPS`.
        layer: the layer it belongs to without the ``synthesis.`` prefix: ``'b4.const'``,
            ``'b8.conv0'`` (also for that conv's affine, noise and filter), ``'b8.torgb'``,
            ``'b8.skip'``, ``'b8'`` for the block's own resampling filter, ``'mapping.fc0'``,
            ``'mapping.embed'`` or ``'mapping.w_avg'``.
        resolution: the block resolution (4 .. img_resolution); None for the mapping network and w_avg.
        ws_index: the W+ index the layer reads (as in :meth:`GeneratorConfig.ws_indices`: b4.conv1 -> 0,
            b4.torgb -> 1, b8.conv0 -> 1, b8.conv1 -> 2, b8.torgb -> 3, ...); None for tensors of no
            single layer that reads w (const, skip, block filters, mapping).
        block_ws_indices: every W+ index the block reads (empty for the mapping network).
        channel_dim: the dimension indexing the layer's *output* channels (0 for conv/torgb/skip weights
            and biases and for const's feature maps), None when the tensor has no such dimension (noise,
            affine layers, filters, mapping). Affine outputs are styles of the conv's *input* channels,
            so they deliberately have no output-channel dimension here.
        size: StyleGAN3 only: the layer's output size with margin (``resolution`` is its sampling rate).
    """

    key: str
    group: str
    layer: str
    resolution: int | None
    ws_index: int | None
    block_ws_indices: tuple[int, ...]
    channel_dim: int | None
    # StyleGAN3: the layer's output size in pixels including its margin (the ``36`` of ``L3_36_48``); None
    # for StyleGAN2 (whose block resolution is its size) and for tensors of no synthesis layer.
    size: int | None = None

    @property
    def anchor_ws_index(self) -> int | None:
        """The W+ index a per-index table uses: its own, else the block's first (const -> 0, skip -> conv0's)."""
        if self.ws_index is not None:
            return self.ws_index
        return self.block_ws_indices[0] if self.block_ws_indices else None


@dataclass(frozen=True)
class LayerInfo:
    """One layer of the generator, for tables and UIs.

    kind: 'const', 'conv', 'torgb', 'skip' (synthesis) or 'mapping'.
    channels: output channels (image channels for torgb, w/hidden width for the mapping).
    """

    name: str
    kind: str
    resolution: int | None
    ws_index: int | None
    channels: int


def is_generator_key(key: str) -> bool:
    """True for keys of a generator state dict (``synthesis.*`` or ``mapping.*``)."""
    return key.startswith(("synthesis.", "mapping."))


def _block_ws_indices(res: int) -> tuple[int, ...]:
    # The same arithmetic as GeneratorConfig.ws_indices, which does not depend on the rest of the config.
    first = 0 if res == 4 else 2 * (res.bit_length() - 1) - 5
    return tuple(range(first, first + (2 if res == 4 else 3)))


def param_info(key: str, cfg: AnyGeneratorConfig | None = None) -> ParamInfo:
    """Classify one generator state-dict key.

    Args:
        key: e.g. ``'synthesis.b16.conv0.affine.weight'`` or ``'mapping.fc0.bias'``.
        cfg: when given, the resolution must be one of ``cfg.block_resolutions``.

    Raises:
        InvalidArgumentError: the key is not a StyleGAN2 generator tensor (e.g. a discriminator key).
    """
    if key == "mapping.w_avg":
        return ParamInfo(key, "w_avg", "mapping.w_avg", None, None, (), None)
    if is_sg3_key(key) or (is_stylegan3(cfg) and key.startswith("synthesis.")):
        if cfg is not None and not is_stylegan3(cfg):
            raise InvalidArgumentError(f"'{key}' is a StyleGAN3 tensor but the generator is a StyleGAN2 one; the "
                                       "tensor belongs to another architecture")
        return ParamInfo(*sg3_param_info(key, cfg))
    if key.startswith("mapping."):
        parts = key.split(".")
        if len(parts) == 3 and (re.fullmatch(r"fc\d+", parts[1]) or parts[1] == "embed") \
                and parts[2] in ("weight", "bias"):
            return ParamInfo(key, "mapping", f"mapping.{parts[1]}", None, None, (), None)
        raise _unknown(key)
    m = _SYNTH.match(key)
    if m is None:
        raise _unknown(key)
    res, rest = int(m.group(1)), m.group(2)
    if res < 4 or res & (res - 1):
        raise _unknown(key)
    if cfg is not None and res not in cfg.block_resolutions:
        raise InvalidArgumentError(f"'{key}' is a {res}x{res} block, but this generator has blocks "
                                   f"{cfg.block_resolutions}; the tensor belongs to another architecture")
    block = f"b{res}"
    block_ws = _block_ws_indices(res)
    if rest == "const":
        return ParamInfo(key, "const", f"{block}.const", res, None, block_ws, 0)
    if rest == "resample_filter":
        return ParamInfo(key, "buffer", block, res, None, block_ws, None)
    lm = _LAYER.match(rest)
    if lm is None:
        raise _unknown(key)
    name, leaf = lm.group(1), lm.group(2)
    layer = f"{block}.{name}"
    if name == "skip":
        group = {"weight": "conv", "resample_filter": "buffer"}.get(leaf)
        if group is None:
            raise _unknown(key)
        return ParamInfo(key, group, layer, res, None, block_ws, 0 if group == "conv" else None)
    if name == "torgb":
        ws_index = block_ws[-1]
        if leaf in ("weight", "bias"):
            return ParamInfo(key, "torgb", layer, res, ws_index, block_ws, 0)
        if leaf in ("affine.weight", "affine.bias"):
            return ParamInfo(key, "torgb", layer, res, ws_index, block_ws, None)
        raise _unknown(key)
    # conv0 / conv1: the 4x4 block has only conv1, which reads index 0.
    if res == 4 and name == "conv0":
        raise _unknown(key)
    ws_index = block_ws[0] if (name == "conv0" or res == 4) else block_ws[1]
    groups = {"weight": ("conv", 0), "bias": ("bias", 0), "affine.weight": ("affine", None),
              "affine.bias": ("affine", None), "noise_strength": ("noise", None), "noise_const": ("noise", None),
              "resample_filter": ("buffer", None)}
    if leaf not in groups:
        raise _unknown(key)
    group, channel_dim = groups[leaf]
    return ParamInfo(key, group, layer, res, ws_index, block_ws, channel_dim)


def _unknown(key: str) -> InvalidArgumentError:
    return InvalidArgumentError(
        f"'{key}' is not a StyleGAN2 generator tensor (expected 'mapping.fc<i>.weight', 'mapping.w_avg', "
        "'synthesis.b<res>.<const|conv0|conv1|torgb|skip>...'); discriminator tensors are never blended")


def generator_layers(cfg: AnyGeneratorConfig) -> list[LayerInfo]:
    """Every layer of a generator in forward order: mapping, then per block const/conv0/conv1/torgb/skip
    (StyleGAN3: mapping, then ``input`` and the layers ``L<i>_...``)."""
    out = []
    if cfg.c_dim > 0:
        out.append(LayerInfo("mapping.embed", "mapping", None, None, cfg.mapping.embed_features or cfg.w_dim))
    out += [LayerInfo(f"mapping.fc{i}", "mapping", None, None,
                      cfg.w_dim if i == cfg.mapping.num_layers - 1 else (cfg.mapping.layer_features or cfg.w_dim))
            for i in range(cfg.mapping.num_layers)]
    if is_stylegan3(cfg):
        return out + [LayerInfo(*fields) for fields in sg3_generator_layers(cfg)]
    arch = cfg.synthesis.architecture
    for res in cfg.block_resolutions:
        ws = _block_ws_indices(res)
        ch = cfg.channels(res)
        if res == 4:
            out.append(LayerInfo("b4.const", "const", 4, None, ch))
            out.append(LayerInfo("b4.conv1", "conv", 4, ws[0], ch))
        else:
            out.append(LayerInfo(f"b{res}.conv0", "conv", res, ws[0], ch))
            out.append(LayerInfo(f"b{res}.conv1", "conv", res, ws[1], ch))
        if arch == "skip" or res == cfg.img_resolution:
            out.append(LayerInfo(f"b{res}.torgb", "torgb", res, ws[-1], cfg.img_channels))
        if arch == "resnet" and res > 4:
            out.append(LayerInfo(f"b{res}.skip", "skip", res, None, ch))
    return out
