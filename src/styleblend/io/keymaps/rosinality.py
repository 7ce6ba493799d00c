"""Key and layout table between rosinality's stylegan2-pytorch modules and our canonical names.

Why a pure rename suffices (checked against an independent re-implementation of rosinality's
forward pass in tests/io/formats/test_rosinality.py):

* ``EqualLinear`` stores ``W / lr_mul`` and multiplies by ``lr_mul / sqrt(in)`` at run time, and the
  bias by ``lr_mul``: the same stored-parameter convention as NVIDIA's ``FullyConnectedLayer``.
* ``ModulatedConv2d`` multiplies the weight by ``1 / sqrt(in * k * k)`` before modulation; with
  demodulation that factor cancels (up to the 1e-8 epsilon), and for ToRGB (no demodulation) it is
  NVIDIA's ``weight_gain`` on the styles. Modulation biases are stored with their initial 1 in both.
* The up-sampling conv is ``conv_transpose2d(stride 2, padding 0)`` with the *unflipped* weight
  followed by a [1,3,3,1] blur padded (1, 1) - exactly NVIDIA's ``conv2d_resample(up=2)`` path, so no
  spatial flip (unlike TensorFlow checkpoints, whose transposed conv flips the kernel).
* The discriminator's blur + stride-2 convs use the same padding as NVIDIA's down-sampling path,
  ``(conv2(conv1(x)) + skip(x)) / sqrt(2)`` equals NVIDIA's gains of sqrt(0.5), the minibatch-stddev
  layer is NVIDIA's with group 4 and 1 channel, and both flatten the 4x4 features in NCHW order.

Layouts (ours <-> rosinality): ``same``; ``lead1`` adds a leading 1 (modulated conv weights
[1, O, I, k, k], the constant [1, C, 4, 4]); ``noise`` [r, r] <-> [1, 1, r, r]; ``scalar`` [] <-> [1]
(noise strength); ``rgb_bias`` [C] <-> [1, C, 1, 1].
"""

from __future__ import annotations

import torch

from ...config import DiscriminatorConfig, GeneratorConfig
from ...errors import CheckpointError
from ...ops.upfirdn2d import setup_filter

Entry = tuple[str, str, str]  # (rosinality key, canonical key, layout)


def _modconv(ros: str, ours: str, noise_index: int | None) -> list[Entry]:
    entries = [(f"{ros}.conv.weight", f"{ours}.weight", "lead1"),
               (f"{ros}.conv.modulation.weight", f"{ours}.affine.weight", "same"),
               (f"{ros}.conv.modulation.bias", f"{ours}.affine.bias", "same")]
    if noise_index is not None:
        entries += [(f"{ros}.noise.weight", f"{ours}.noise_strength", "scalar"),
                    (f"{ros}.activate.bias", f"{ours}.bias", "same"),
                    (f"noises.noise_{noise_index}", f"{ours}.noise_const", "noise")]
    else:
        entries += [(f"{ros}.bias", f"{ours}.bias", "rgb_bias")]
    return entries


def generator_table(cfg: GeneratorConfig) -> list[Entry]:
    """Every generator tensor: rosinality key, our key, layout.

    Not listed: rosinality's blur kernels (:func:`generator_kernels`), our ``resample_filter`` buffers
    (rebuilt from the config) and ``mapping.w_avg``, which rosinality keeps outside the state dict
    as the checkpoint's top-level ``latent_avg``.
    """
    table: list[Entry] = []
    for i in range(cfg.mapping.num_layers):
        table += [(f"style.{i + 1}.weight", f"mapping.fc{i}.weight", "same"),
                  (f"style.{i + 1}.bias", f"mapping.fc{i}.bias", "same")]
    table.append(("input.input", "synthesis.b4.const", "lead1"))
    table += _modconv("conv1", "synthesis.b4.conv1", noise_index=0)
    table += _modconv("to_rgb1", "synthesis.b4.torgb", noise_index=None)
    for k, res in enumerate(cfg.block_resolutions[1:]):
        table += _modconv(f"convs.{2 * k}", f"synthesis.b{res}.conv0", noise_index=2 * k + 1)
        table += _modconv(f"convs.{2 * k + 1}", f"synthesis.b{res}.conv1", noise_index=2 * k + 2)
        table += _modconv(f"to_rgbs.{k}", f"synthesis.b{res}.torgb", noise_index=None)
    return table


def generator_kernels(cfg: GeneratorConfig) -> dict[str, torch.Tensor]:
    """rosinality-only blur buffers of a generator: outer(k, k)/sum times 4 (the up-sampling gain)."""
    kernel = setup_filter(cfg.synthesis.resample_filter) * 4
    out: dict[str, torch.Tensor] = {}
    for k in range(len(cfg.block_resolutions) - 1):
        out[f"convs.{2 * k}.conv.blur.kernel"] = kernel.clone()
        out[f"to_rgbs.{k}.upsample.kernel"] = kernel.clone()
    return out


def discriminator_table(cfg: DiscriminatorConfig) -> list[Entry]:
    """Every discriminator tensor (resnet architecture): rosinality key, our key, layout."""
    res = cfg.img_resolution
    table: list[Entry] = [("convs.0.0.weight", f"b{res}.fromrgb.weight", "same"),
                          ("convs.0.1.bias", f"b{res}.fromrgb.bias", "same")]
    for j, r in enumerate(cfg.block_resolutions, start=1):
        table += [(f"convs.{j}.conv1.0.weight", f"b{r}.conv0.weight", "same"),
                  (f"convs.{j}.conv1.1.bias", f"b{r}.conv0.bias", "same"),
                  (f"convs.{j}.conv2.1.weight", f"b{r}.conv1.weight", "same"),
                  (f"convs.{j}.conv2.2.bias", f"b{r}.conv1.bias", "same"),
                  (f"convs.{j}.skip.1.weight", f"b{r}.skip.weight", "same")]
    table += [("final_conv.0.weight", "b4.conv.weight", "same"), ("final_conv.1.bias", "b4.conv.bias", "same"),
              ("final_linear.0.weight", "b4.fc.weight", "same"), ("final_linear.0.bias", "b4.fc.bias", "same"),
              ("final_linear.1.weight", "b4.out.weight", "same"), ("final_linear.1.bias", "b4.out.bias", "same")]
    return table


def discriminator_kernels(cfg: DiscriminatorConfig) -> dict[str, torch.Tensor]:
    """rosinality-only blur buffers of a discriminator (gain 1)."""
    kernel = setup_filter(cfg.resample_filter)
    out: dict[str, torch.Tensor] = {}
    for j in range(1, len(cfg.block_resolutions) + 1):
        out[f"convs.{j}.conv2.0.kernel"] = kernel.clone()
        out[f"convs.{j}.skip.0.kernel"] = kernel.clone()
    return out


def to_ours(value: torch.Tensor, layout: str, key: str) -> torch.Tensor:
    """Convert one rosinality tensor to our layout (a reshape that drops unit dimensions)."""
    shape = tuple(value.shape)
    if layout == "same":
        return value
    if layout == "lead1" and len(shape) >= 1 and shape[0] == 1:
        return value[0]
    if layout == "noise" and len(shape) == 4 and shape[:2] == (1, 1):
        return value[0, 0]
    if layout == "scalar" and value.numel() == 1:
        return value.reshape([])
    if layout == "rgb_bias" and len(shape) == 4 and shape[0] == 1 and shape[2:] == (1, 1):
        return value.reshape(-1)
    raise CheckpointError(f"'{key}' has shape {shape}, which is not the rosinality layout '{layout}'")


def from_ours(value: torch.Tensor, layout: str) -> torch.Tensor:
    """Convert one of our tensors to rosinality's layout (inverse of :func:`to_ours`)."""
    if layout == "lead1":
        return value.unsqueeze(0)
    if layout == "noise":
        return value.reshape(1, 1, *value.shape)
    if layout == "scalar":
        return value.reshape(1)
    if layout == "rgb_bias":
        return value.reshape(1, -1, 1, 1)
    return value


def rosinality_channels(res: int, channel_multiplier: int) -> int:
    """rosinality's channel table: 512 up to 32 px, then 256 * cm at 64 px, halving per octave."""
    return 512 if res <= 32 else 16384 * channel_multiplier // res
