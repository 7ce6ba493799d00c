"""Building blocks with equalised learning rate (Karras et al. 2018, Sec. 4.1).

Weights are stored at unit variance and scaled at run time by ``weight_gain``; biases and
weights of mapping layers are further scaled by ``lr_multiplier``. Parameter and buffer names
equal NVIDIA's, so state dicts load without renaming.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..ops.bias_act import ACTIVATIONS, bias_act
from ..ops.conv2d_resample import conv2d_resample
from ..ops.modulated_conv import modulated_conv2d
from ..ops.upfirdn2d import setup_filter

NOISE_MODES = ("const", "random", "none")


class FullyConnectedLayer(nn.Module):
    """Dense layer: y = act(x @ (W * lr/sqrt(in)).T + b * lr)."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b: torch.Tensor | None = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


class Conv2dLayer(nn.Module):
    """Convolution with optional FIR up/down-sampling, bias, activation and clamp (used by D)."""

    # Registered as buffers or parameters below; declared so the type checker sees tensors, not Modules.
    resample_filter: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor | None

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1,
                 resample_filter: Sequence[int] = (1, 3, 3, 1), conv_clamp: float | None = None,
                 trainable: bool = True) -> None:
        super().__init__()
        self.activation = activation
        self.up = up
        self.down = down
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.act_gain = ACTIVATIONS[activation].default_gain
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        b = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = nn.Parameter(weight)
            self.bias = nn.Parameter(b) if b is not None else None
        else:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", b)

    def forward(self, x: torch.Tensor, gain: float = 1.0, emulate_fp16: bool = False) -> torch.Tensor:
        """emulate_fp16: ``x`` is float32 holding float16 values; round as a float16 ``x`` would."""
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        x = conv2d_resample(x, w.to(x.dtype), f=self.resample_filter, up=self.up, down=self.down,
                            padding=self.padding, flip_weight=(self.up == 1), emulate_fp16=emulate_fp16)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp, emulate_fp16=emulate_fp16,
                        inplace=True)  # x is conv2d_resample's fresh output


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution + noise + bias + lrelu; optionally up-samples by 2."""

    resample_filter: torch.Tensor  # buffers, declared for the type checker
    noise_const: torch.Tensor

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu",
                 resample_filter: Sequence[int] = (1, 3, 3, 1), conv_clamp: float | None = None) -> None:
        super().__init__()
        self.resolution = resolution
        self.up = up
        self.use_noise = use_noise
        self.activation = activation
        self.conv_clamp = conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATIONS[activation].default_gain
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", fused: bool = True,
                gain: float = 1.0, emulate_fp16: bool = False, polyphase: bool = False,
                lean: bool = False) -> torch.Tensor:
        """emulate_fp16: ``x`` is float32 holding float16 values; round as a float16 ``x`` would.
        polyphase: up-sample float32 by regular convolutions (``ops.polyphase``), not the transposed one.
        lean: with ``fused=False``, the modulated convolution's form for gradients (``ops.modulated_conv``)."""
        # noise_mode is a user argument, checked once where it enters (SynthesisNetwork.forward), not
        # in every layer of every forward pass; here anything but 'random' and 'const' means no noise.
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            # float32 in every layer, as NVIDIA draws it: float16 layers round only the sum (see modulated_conv2d).
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device)
            noise = noise * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, flip_weight=(self.up == 1), fused=fused,
                             emulate_fp16=emulate_fp16, polyphase=polyphase, lean=lean)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain * gain, clamp=clamp,
                        emulate_fp16=emulate_fp16, inplace=True)  # x is modulated_conv2d's fresh output


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to image channels, without demodulation."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused: bool = True, emulate_fp16: bool = False) -> torch.Tensor:
        """emulate_fp16: ``x`` is float32 holding float16 values; round as a float16 ``x`` would."""
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused, emulate_fp16=emulate_fp16)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp, emulate_fp16=emulate_fp16, inplace=True)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale each row of ``x`` to unit mean square (the 'pixel norm' applied to z)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()
