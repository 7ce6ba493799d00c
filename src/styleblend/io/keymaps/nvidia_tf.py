"""Variable names and layouts of NVIDIA's TensorFlow StyleGAN2 / StyleGAN2-ADA networks -> ours.

TensorFlow stores dense weights as [in, out] and conv weights as [k, k, in, out]; ours are [out, in]
and [out, in, k, k]. Stored-parameter conventions agree otherwise: TF's ``get_weight`` initialises
with std 1/lrmul and multiplies by he_std*lrmul at run time, and biases by lrmul - as NVIDIA's
PyTorch layers do. Three real differences:

* ``mod_bias``: TF adds the style's initial 1 at run time (``apply_bias_act(...) + 1``) while our
  affine layers store it in the bias (``bias_init=1``), so we add 1 when converting.
* Up-sampling convolutions (``Conv0_up`` and the resnet ``Skip`` of the generator): TF's
  ``upsample_conv_2d`` flips the kernel spatially before ``conv2d_transpose``; NVIDIA's PyTorch path
  (ours) uses the unflipped kernel, so these weights are flipped. Down-sampling convs (D) are not.
* Noise inputs are named by layer index: ``noise{i}`` feeds layer i = 2*log2(r) - 5 (conv0) or
  2*log2(r) - 4 (conv1) of the block at resolution r; ``noise0`` feeds the 4x4 conv.

TensorFlow StyleGAN2 runs NCHW (``data_format='NCHW'``), so the discriminator's 4x4 features are
flattened in the same order as ours and ``Dense0`` needs no permutation.
"""

from __future__ import annotations

import math
import re

import torch

from ...errors import CheckpointError

IGNORED = object()  # marker: a variable that carries no weight we need (e.g. 'lod')

_CONV_PARAMS = {"weight": ("weight", "conv"), "mod_weight": ("affine.weight", "dense"),
                "mod_bias": ("affine.bias", "mod_bias"), "noise_strength": ("noise_strength", "same"),
                "bias": ("bias", "same")}


def noise_key(index: int) -> str:
    """Our key of TF's ``noise{index}`` buffer."""
    if index == 0:
        return "synthesis.b4.conv1.noise_const"
    res = 2 ** ((index + 5) // 2)
    return f"synthesis.b{res}.conv{0 if index % 2 else 1}.noise_const"


def generator_key(component: str, name: str) -> tuple[str, str] | object | None:
    """(our key, transform) of a TF generator variable; IGNORED for bookkeeping variables; None if unknown.

    component: '' for the top-level G network, else 'mapping' or 'synthesis'.
    """
    if component == "":
        if name == "dlatent_avg":
            return "mapping.w_avg", "same"
        return IGNORED if name == "lod" else None
    if component == "mapping":
        m = re.fullmatch(r"Dense(\d+)/(weight|bias)", name)
        if m:
            return f"mapping.fc{m[1]}.{m[2]}", "dense" if m[2] == "weight" else "same"
        m = re.fullmatch(r"LabelEmbed/(weight|bias)", name)
        if m:
            return f"mapping.embed.{m[1]}", "dense" if m[1] == "weight" else "same"
        return None
    if component != "synthesis":
        return None
    if name == "lod":
        return IGNORED
    m = re.fullmatch(r"noise(\d+)", name)
    if m:
        return noise_key(int(m[1])), "noise"
    if name == "4x4/Const/const":
        return "synthesis.b4.const", "const"
    m = re.fullmatch(r"(\d+)x\1/(Conv|Conv0_up|Conv1)/(weight|mod_weight|mod_bias|noise_strength|bias)", name)
    if m:
        res, layer, param = int(m[1]), m[2], m[3]
        if (layer == "Conv") != (res == 4):
            return None
        ours, transform = _CONV_PARAMS[param]
        if layer == "Conv0_up" and param == "weight":
            transform = "conv_flip"
        return f"synthesis.b{res}.{'conv0' if layer == 'Conv0_up' else 'conv1'}.{ours}", transform
    m = re.fullmatch(r"(\d+)x\1/ToRGB/(weight|mod_weight|mod_bias|bias)", name)
    if m:
        ours, transform = _CONV_PARAMS[m[2]]
        return f"synthesis.b{m[1]}.torgb.{ours}", transform
    m = re.fullmatch(r"(\d+)x\1/Skip/weight", name)
    if m:
        return f"synthesis.b{m[1]}.skip.weight", "conv_flip"
    return None


def discriminator_key(name: str) -> tuple[str, str] | None:
    """(our key, transform) of a TF discriminator variable; None if unknown."""
    m = re.fullmatch(r"(\d+)x\1/(FromRGB|Conv0|Conv1_down)/(weight|bias)", name)
    if m:
        layer = {"FromRGB": "fromrgb", "Conv0": "conv0", "Conv1_down": "conv1"}[m[2]]
        if int(m[1]) == 4 and layer != "fromrgb":
            return None
        return f"b{m[1]}.{layer}.{m[3]}", "conv" if m[3] == "weight" else "same"
    m = re.fullmatch(r"(\d+)x\1/Skip/weight", name)
    if m:
        return f"b{m[1]}.skip.weight", "conv"
    m = re.fullmatch(r"(4x4/Conv|4x4/Dense0|Output)/(weight|bias)", name)
    if m:
        layer = {"4x4/Conv": "conv", "4x4/Dense0": "fc", "Output": "out"}[m[1]]
        transform = "same" if m[2] == "bias" else ("conv" if layer == "conv" else "dense")
        return f"b4.{layer}.{m[2]}", transform
    return None


def convert(value: torch.Tensor, transform: str, name: str) -> torch.Tensor:
    """Apply a layout transform to one TF variable (float32 in, float32 out, contiguous)."""
    shape = tuple(value.shape)
    if transform == "same":
        out = value
    elif transform == "dense" and len(shape) == 2:
        out = value.t()
    elif transform == "conv" and len(shape) == 4:
        out = value.permute(3, 2, 0, 1)
    elif transform == "conv_flip" and len(shape) == 4:
        out = value.flip([0, 1]).permute(3, 2, 0, 1)
    elif transform == "mod_bias" and len(shape) == 1:
        out = value + 1
    elif transform == "const" and len(shape) == 4 and shape[0] == 1:
        out = value[0]
    elif transform == "noise" and len(shape) == 4 and shape[:2] == (1, 1):
        out = value[0, 0]
    else:
        raise CheckpointError(f"TensorFlow variable '{name}' has shape {shape}, not the layout of a "
                              f"StyleGAN2 '{transform}' variable")
    return out.contiguous().clone()


def tf_channels(res: int, fmap_base: float, fmap_decay: float, fmap_min: int, fmap_max: int) -> int:
    """TF's ``nf(stage)`` for the block at ``res``.

    nf(stage) = clip(int(fmap_base / 2**(stage * fmap_decay)), fmap_min, fmap_max) with stage = log2(res) - 1,
    so with fmap_decay = 1 it equals min(2 * fmap_base // res, fmap_max): channel_base = 2 * fmap_base.
    """
    stage = int(math.log2(res)) - 1
    return int(min(max(int(fmap_base / (2.0 ** (stage * fmap_decay))), fmap_min), fmap_max))
