"""Synthesis network ws -> image: one block per resolution, 4x4 constant input to img_resolution."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..config import GeneratorConfig
from ..errors import InvalidArgumentError
from ..ops.half import keep, round_fp16
from ..ops.upfirdn2d import setup_filter, upsample2d
from .layers import NOISE_MODES, Conv2dLayer, SynthesisLayer, ToRGBLayer

# How the float16 blocks compute when mixed precision is on: 'float16' natively (the reference); 'emulated'
# in float32, rounded to float16 where float16 rounds (ops/half.py: the same images up to the order of float32
# sums, at float32 speed on CPUs without fast float16 kernels); 'auto' emulates on the CPU, native elsewhere.
FP16_PATHS = ("auto", "float16", "emulated")

# How conv0 up-samples in float32: 'transpose' by NVIDIA's strided transposed convolution (the reference),
# 'polyphase' by regular convolutions, one per output phase (ops/polyphase.py: the same sums in another order,
# equal to float rounding); 'auto' is polyphase on the CPU where it measured faster, from 512 input channels at
# 32 px and up (0.75-0.88 of the time per layer; about even at 256 channels, slower from 128 down, where the
# small phase convolutions and the interleaving copy cost more than oneDNN's transposed convolution:
# docs/benchmarks.md). Float16 blocks (native or emulated) always use the reference, whose roundings they
# reproduce.
UPSAMPLE_PATHS = ("auto", "polyphase", "transpose")
POLYPHASE_MIN_CHANNELS = 512
POLYPHASE_MIN_RESOLUTION = 32  # of conv0's input


def emulates_fp16(fp16_path: str, device: torch.device) -> bool:
    """Whether ``fp16_path`` (one of :data:`FP16_PATHS`) emulates float16 on ``device``."""
    if fp16_path not in FP16_PATHS:
        raise InvalidArgumentError(f"fp16_path {fp16_path!r} is unknown; choose one of {FP16_PATHS}")
    return fp16_path == "emulated" or (fp16_path == "auto" and device.type == "cpu")


def check_upsample_path(upsample_path: str) -> str:
    """Return ``upsample_path`` if it is one of :data:`UPSAMPLE_PATHS`; raise InvalidArgumentError otherwise."""
    if upsample_path not in UPSAMPLE_PATHS:
        raise InvalidArgumentError(f"upsample_path {upsample_path!r} is unknown; choose one of {UPSAMPLE_PATHS}")
    return upsample_path


def uses_polyphase(upsample_path: str, device: torch.device, in_channels: int, in_resolution: int,
                   backward: bool = False) -> bool:
    """Whether a block whose conv0 takes ``in_channels`` x ``in_resolution``^2 up-samples by polyphase convolutions.

    backward: a gradient w.r.t. ws will be taken; 'auto' then keeps the transposed convolution, which is as
    fast or faster for forward + backward (polyphase 1.00-1.10x its time per layer, docs/benchmarks.md)."""
    if check_upsample_path(upsample_path) != "auto":
        return upsample_path == "polyphase"
    return (device.type == "cpu" and not backward and in_channels >= POLYPHASE_MIN_CHANNELS
            and in_resolution >= POLYPHASE_MIN_RESOLUTION)


class SynthesisBlock(nn.Module):
    """The block at one resolution: [const | conv0 (up x2)], conv1, [torgb], [skip for resnet]."""

    resample_filter: torch.Tensor  # a buffer, declared for the type checker

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, cfg: GeneratorConfig) -> None:
        super().__init__()
        s = cfg.synthesis
        self.in_channels = in_channels
        self.resolution = resolution
        self.is_last = is_last
        self.use_fp16 = resolution in cfg.fp16_resolutions
        self.architecture = s.architecture
        self.register_buffer("resample_filter", setup_filter(s.resample_filter))
        layer_args: dict[str, Any] = dict(w_dim=w_dim, resolution=resolution, kernel_size=s.kernel_size,
                                          use_noise=s.use_noise,
                          activation=s.activation, resample_filter=s.resample_filter, conv_clamp=s.conv_clamp)
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, up=2, **layer_args)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, **layer_args)
        self.num_conv += 1
        if is_last or s.architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=s.conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and s.architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2,
                                    resample_filter=s.resample_filter)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor, noise_mode: str,
                fused: bool, mixed_precision: bool = False, emulate_fp16: bool = False,
                polyphase: bool = False, lean: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """mixed_precision: compute this block in float16 if it is one of the model's fp16 blocks;
        emulate_fp16: then compute in float32, rounded to float16 where float16 would round;
        polyphase: up-sample (conv0) by regular convolutions where the block computes in float32;
        lean: the 3x3 layers' modulated convolutions in the form for gradients (with ``fused=False``)."""
        w_iter = iter(ws.unbind(dim=1))
        fp16 = mixed_precision and self.use_fp16
        e = fp16 and emulate_fp16
        dtype = torch.float16 if fp16 and not e else torch.float32
        q = round_fp16 if e else keep  # the emulation's stand-in for each cast to (and op in) float16
        if self.in_channels == 0:
            x = q(self.const.to(dtype)).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused=fused, emulate_fp16=e, lean=lean)
        elif self.architecture == "resnet":
            assert x is not None, "blocks after the first take the previous block's features"
            x = q(x.to(dtype))
            y = self.skip(x, gain=math.sqrt(0.5), emulate_fp16=e)
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused=fused, emulate_fp16=e, polyphase=polyphase,
                           lean=lean)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused=fused, gain=math.sqrt(0.5),
                           emulate_fp16=e, lean=lean)
            x = q(y + x)
        else:
            assert x is not None, "blocks after the first take the previous block's features"
            x = self.conv0(q(x.to(dtype)), next(w_iter), noise_mode=noise_mode, fused=fused, emulate_fp16=e,
                           polyphase=polyphase, lean=lean)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused=fused, emulate_fp16=e, lean=lean)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            # The 1x1 ToRGB stays fused in the lean form: its weight gradient has 3 outputs, cheaper than
            # scaling every input channel (fwd + bwd 0.13-0.16 s vs 0.22-0.28 s at 128 ch x 256 px, docs/benchmarks.md).
            y = self.torgb(x, next(w_iter), fused=fused or lean, emulate_fp16=e).to(torch.float32)
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    """Blocks ``b4 .. b{img_resolution}``; consumes ws [N, num_ws, w_dim]."""

    def __init__(self, cfg: GeneratorConfig) -> None:
        super().__init__()
        self.w_dim = cfg.w_dim
        self.img_resolution = cfg.img_resolution
        self.img_channels = cfg.img_channels
        self.block_resolutions = cfg.block_resolutions
        self.num_ws = 0
        # Render the fp16 blocks in float16 as NVIDIA's generate.py does (a mode, like train/eval; set by
        # Checkpoint.generator(mixed_precision=True)); float32 everywhere otherwise.
        self.mixed_precision = False
        self.fp16_path = "auto"  # how float16 blocks compute: one of FP16_PATHS (set by Checkpoint.generator)
        self.upsample_path = "auto"  # how float32 blocks up-sample: one of UPSAMPLE_PATHS
        for res in self.block_resolutions:
            in_channels = cfg.channels(res // 2) if res > 4 else 0
            block = SynthesisBlock(in_channels, cfg.channels(res), w_dim=cfg.w_dim, resolution=res,
                                   img_channels=cfg.img_channels, is_last=(res == cfg.img_resolution), cfg=cfg)
            self.num_ws += block.num_conv + (block.num_torgb if block.is_last else 0)
            setattr(self, f"b{res}", block)
        assert self.num_ws == cfg.num_ws

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", fused_modconv: bool | None = None,
                mixed_precision: bool | None = None, fp16_path: str | None = None,
                upsample_path: str | None = None) -> torch.Tensor:
        """Render ws [N, num_ws, w_dim] to an image [N, img_channels, R, R] (float32, about [-1, 1]).

        noise_mode: 'const' (stored noise; what NVIDIA's generate.py uses), 'random' or 'none'.
        fused_modconv: None picks the fused path at inference (the lean unfused one when ws needs a gradient:
            a projection step) and the unfused one in training.
        mixed_precision: run the blocks of ``cfg.fp16_resolutions`` in float16, as NVIDIA's code does
            (StyleGAN2-ADA-PyTorch on any device, the StyleGAN3 repo on GPUs), to reproduce images made
            that way; None uses ``self.mixed_precision``. No effect on models with num_fp16_res = 0.
        fp16_path: how those blocks compute, one of :data:`FP16_PATHS`: 'float16' (native), 'emulated' (float32
            rounded where float16 rounds: the same images up to the order of float32 sums, at float32 speed),
            'auto' (emulated on the CPU, native elsewhere); None uses ``self.fp16_path``.
        upsample_path: how float32 blocks up-sample, one of :data:`UPSAMPLE_PATHS`: 'transpose' (the reference),
            'polyphase' (regular convolutions; equal to float rounding), 'auto' (polyphase on the CPU); None uses
            ``self.upsample_path``.
        """
        _, img = self.run_blocks(ws, None, None, noise_mode=noise_mode, fused_modconv=fused_modconv,
                                 mixed_precision=mixed_precision, fp16_path=fp16_path, upsample_path=upsample_path)
        assert img is not None  # the last block always has a torgb
        return img

    def run_blocks(self, ws: torch.Tensor, x: torch.Tensor | None, img: torch.Tensor | None,
                   first: int | None = None, last: int | None = None, noise_mode: str = "const",
                   fused_modconv: bool | None = None, mixed_precision: bool | None = None,
                   fp16_path: str | None = None,
                   upsample_path: str | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run the blocks of resolutions ``first`` .. ``last`` (default: all) on the state ``(x, img)`` the block
        before ``first`` produced (None, None for the first block); returns the state after ``last``: the
        features [N, C, last, last] and the skip image (None before the last block unless the architecture is
        'skip'). ``forward`` is this over every block; :mod:`styleblend.nn.feature_space` starts or stops in
        between. Other arguments as ``forward``; ws is always the whole [N, num_ws, w_dim]."""
        if noise_mode not in NOISE_MODES:
            raise InvalidArgumentError(f"noise_mode {noise_mode!r} is unknown; choose one of {NOISE_MODES}")
        fused = (not self.training) if fused_modconv is None else fused_modconv
        # Gradients w.r.t. ws at inference (a projection step): the lean unfused form is the faster one for
        # forward + backward (ops/modulated_conv.py: no weight-gradient convolution; docs/benchmarks.md).
        lean = fused_modconv is None and fused and torch.is_grad_enabled() and ws.requires_grad
        fused = fused and not lean
        mixed = self.mixed_precision if mixed_precision is None else mixed_precision
        emulate = emulates_fp16(self.fp16_path if fp16_path is None else fp16_path, ws.device)
        upsample = check_upsample_path(self.upsample_path if upsample_path is None else upsample_path)
        ws = ws.to(torch.float32)
        lo = self.block_resolutions[0] if first is None else first
        hi = self.block_resolutions[-1] if last is None else last
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            if lo <= res <= hi:
                block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
                x, img = block(x, img, block_ws, noise_mode=noise_mode, fused=fused, mixed_precision=mixed,
                               emulate_fp16=emulate,
                               polyphase=uses_polyphase(upsample, ws.device, block.in_channels, res // 2, lean),
                               lean=lean)
            w_idx += block.num_conv
        assert x is not None, f"no block between {lo} and {hi} px"
        return x, img
