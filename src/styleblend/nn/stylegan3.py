"""StyleGAN3 (alias-free) generator in plain PyTorch (Karras et al. 2021, "Alias-Free Generative
Adversarial Networks"), with the parameter and buffer names of NVIDIA's module tree
(``synthesis.input.freqs``, ``synthesis.L3_36_48.affine.weight``, ``synthesis.L5_52_48.up_filter``), so
their snapshots load without renaming.

The network is ``mapping`` (shared with StyleGAN2: :class:`~styleblend.nn.mapping.MappingNetwork`)
followed by :class:`SG3SynthesisNetwork`: Fourier features rotated/translated by W+ row 0 and by a
user transform, then ``num_layers`` modulated convolutions each followed by a filtered leaky ReLU
(:func:`~styleblend.ops.filtered_lrelu.filtered_lrelu`) and a final 1x1 ToRGB layer. There are no noise
inputs: ``noise_mode`` is accepted for interface compatibility and ignored.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config_sg3 import InputSpec, LayerSpec, StyleGAN3Config
from ..errors import InvalidArgumentError
from ..ops.filtered_lrelu import filtered_lrelu
from ..ops.filtered_lrelu_fast import filtered_lrelu_fast
from ..ops.half import conv2d_fp16, keep, round_fp16
from ..ops.lowpass import kaiser_lowpass, radial_lowpass
from .generator import MappedGenerator
from .layers import NOISE_MODES, FullyConnectedLayer
from .synthesis import FP16_PATHS

# The filtered leaky ReLU's implementations: the reference (the spec) and the fast path a test holds equal to it.
FILTERED_LRELU_IMPLS = {"reference": filtered_lrelu, "fast": filtered_lrelu_fast}


def modulated_conv2d_sg3(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True,
                         padding: int = 0, input_gain: torch.Tensor | None = None,
                         fused: bool = True, emulate_fp16: bool = False) -> torch.Tensor:
    """StyleGAN3's modulated convolution: ``x`` [N, I, H, W], ``weight`` [O, I, k, k], ``styles`` [N, I].

    Differs from StyleGAN2's in two ways (Karras et al. 2021, Appendix F.1): before modulating, the
    weight is scaled to unit RMS per output channel and the styles to unit RMS over the whole batch
    (which keeps float16 in range; demodulation cancels both scales), and ``input_gain`` (the inverse
    RMS of the layer's input, a scalar or [N, I]) multiplies the modulated weights.

    fused: True (NVIDIA's path, the reference) folds the styles into one weight per sample and runs a
        grouped convolution with N groups; False scales the activations by the styles, convolves with the
        one shared weight and scales the result by the demodulation coefficients - the same numbers up to
        float rounding (a test holds the two equal), and a graph whose group count does not depend on N
        (what ONNX export needs for a dynamic batch).
    emulate_fp16: ``x`` is float32 holding float16 values; compute in float32, rounding to float16 where a
        float16 ``x`` rounds: the weights cast to ``x``'s dtype, and each float16 result (the convolution, and
        on the unfused path the scaled input and the demodulated output).
    """
    n = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if demodulate:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    q = round_fp16 if emulate_fp16 else keep  # where a float16 x rounds; nothing to do otherwise
    if not fused:
        scale = styles if input_gain is None else styles * input_gain.expand(n, in_channels)
        y = _conv2d(q(x * q(scale.reshape(n, in_channels, 1, 1).to(x.dtype))), weight.to(x.dtype), padding, 1,
                    emulate_fp16)
        if demodulate:  # sum over i, k of (weight[o, i, k] * styles[n, i])^2, without the per-sample weights
            coefficients = (styles.square() @ weight.square().sum(dim=[2, 3]).t() + 1e-8).rsqrt()
            y = q(y * q(coefficients.reshape(n, out_channels, 1, 1).to(y.dtype)))
        return y
    w = weight.unsqueeze(0) * styles.reshape(n, 1, in_channels, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, out_channels, 1, 1, 1)
    if input_gain is not None:
        w = w * input_gain.expand(n, in_channels).reshape(n, 1, in_channels, 1, 1)
    x = x.reshape(1, n * in_channels, *x.shape[2:])
    x = _conv2d(x, w.reshape(n * out_channels, in_channels, kh, kw).to(x.dtype), padding, n, emulate_fp16)
    return x.reshape(n, out_channels, *x.shape[2:])


def _conv2d(x: torch.Tensor, w: torch.Tensor, padding: int, groups: int, emulate_fp16: bool) -> torch.Tensor:
    """``F.conv2d``; emulating float16, with the weights rounded (NVIDIA's code casts them to float16 after
    demodulation) and the result rounded once, as a float16 convolution that sums in float32 rounds it."""
    if emulate_fp16:
        return conv2d_fp16(x, round_fp16(w), padding=(padding, padding), groups=groups)
    return F.conv2d(x, w, padding=padding, groups=groups)


def user_transform(translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0) -> torch.Tensor:
    """The matrix to store in ``synthesis.input.transform`` to translate and rotate the output image.

    As NVIDIA's gen_images.py: M = [[cos a, sin a, tx], [-sin a, cos a, ty], [0, 0, 1]] with ``a`` the
    angle in radians (``rotate`` is in degrees), inverted in float64; returned as float32 [3, 3].
    ``translate`` is in image widths (the image spans [-0.5, 0.5] in both directions).
    """
    # The angle and its sine/cosine computed as gen_images.py does (numpy's float64 sin/cos of deg/360*2pi), so
    # that the float64 matrix is the same to the last bit, not just to float32 precision.
    a = float(rotate) / 360.0 * np.pi * 2
    tx, ty = (float(v) for v in translate)
    sin, cos = float(np.sin(a)), float(np.cos(a))
    m = np.array([[cos, sin, tx], [-sin, cos, ty], [0.0, 0.0, 1.0]])
    return torch.from_numpy(np.linalg.inv(m)).to(torch.float32)


def computes_fp16(device: torch.device) -> bool:
    """Whether NVIDIA's StyleGAN3 code computes its float16 layers in float16 on ``device``: only on CUDA
    (its ``SynthesisLayer`` tests ``x.device.type == 'cuda'``); on any other device they run in float32."""
    return device.type == "cuda"


def emulates_fp16(fp16_path: str, device: torch.device) -> bool:
    """Whether a StyleGAN3 network with ``fp16_path`` (one of :data:`~styleblend.nn.synthesis.FP16_PATHS`)
    emulates its float16 layers on ``device``, computing in float32 rounded to float16 where CUDA's float16
    path rounds; otherwise they compute in true float16.

    'emulated' emulates on every device (what NVIDIA's CUDA path writes, computed anywhere); 'float16' and
    'auto' never do ('auto' is NVIDIA's own choice, see :func:`uses_fp16`); see the network's ``forward``.
    """
    if fp16_path not in FP16_PATHS:
        raise InvalidArgumentError(f"fp16_path {fp16_path!r} is unknown; choose one of {FP16_PATHS}")
    return fp16_path == "emulated"


def uses_fp16(fp16_path: str, device: torch.device) -> bool:
    """Whether the float16 layers of a mixed-precision StyleGAN3 render compute as float16 (true or emulated)
    on ``device``: 'auto' does as NVIDIA's code does - float16 on CUDA, float32 elsewhere, so a CPU render
    equals NVIDIA's CPU render (how NVIDIA's images of the shared fixture were made) - 'float16' and
    'emulated' on every device."""
    if fp16_path not in FP16_PATHS:
        raise InvalidArgumentError(f"fp16_path {fp16_path!r} is unknown; choose one of {FP16_PATHS}")
    return fp16_path != "auto" or computes_fp16(device)


class SynthesisInput(nn.Module):
    """Fourier features: ``channels`` sinusoids of fixed frequencies (inside the first cut-off) and
    phases, sampled on a ``size`` x ``size`` grid, rotated and translated by an affine of w (and by the
    user transform), then mixed by a learned ``channels`` x ``channels`` matrix (Sec. 3.1, Appendix F.1)."""

    transform: torch.Tensor  # buffers, declared for the type checker
    freqs: torch.Tensor
    phases: torch.Tensor

    def __init__(self, w_dim: int, spec: InputSpec) -> None:
        super().__init__()
        self.channels, self.size = spec.channels, spec.size
        self.sampling_rate, self.bandwidth = spec.sampling_rate, spec.bandwidth
        # Random frequencies in the disc of radius `bandwidth`, random phases (replaced by a snapshot's).
        freqs = torch.randn([self.channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * self.bandwidth
        self.weight = nn.Parameter(torch.randn([self.channels, self.channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, bias_init=0)
        with torch.no_grad():  # w starts out giving the identity rotation (1, 0) and no translation
            assert self.affine.bias is not None  # built with a bias
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3))  # inverse user transform of the output image
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand([self.channels]) - 0.5)

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        """w [N, w_dim] -> features [N, channels, size, size] (float32)."""
        n = w.shape[0]
        t = self.affine(w)  # (r_cos, r_sin, t_x, t_y): rotation normalised to unit length, then translation
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        rot = torch.eye(3, device=w.device).unsqueeze(0).repeat([n, 1, 1])
        rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        shift = torch.eye(3, device=w.device).unsqueeze(0).repeat([n, 1, 1])
        shift[:, 0, 2], shift[:, 1, 2] = -t[:, 2], -t[:, 3]
        transforms = rot @ shift @ self.transform.unsqueeze(0)
        freqs = self.freqs.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (freqs @ transforms[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transforms[:, :2, :2]
        # A user rotation can push frequencies outside the band; fade those out linearly up to Nyquist.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)
        theta = torch.eye(2, 3, device=w.device)
        theta[0, 0] = theta[1, 1] = 0.5 * self.size / self.sampling_rate
        grid = F.affine_grid(theta.unsqueeze(0), [1, 1, self.size, self.size], align_corners=False)
        x = (grid.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # [N, H, W, C]
        x = torch.sin((x + phases.unsqueeze(1).unsqueeze(2)) * (np.pi * 2)) * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / np.sqrt(self.channels)).t()
        out: torch.Tensor = x.permute(0, 3, 1, 2)
        return out


class SG3SynthesisLayer(nn.Module):
    """Modulated convolution (k x k; 1x1 without demodulation for ToRGB), then bias, filtered leaky ReLU
    (up-sample to the temporary rate, activate, low-pass, down-sample to the output rate) and clamp.

    Filters are buffers (``up_filter``, ``down_filter``; None where the layer does not resample), built
    here with :mod:`styleblend.ops.lowpass` and replaced by a snapshot's stored ones when it is loaded.
    """

    magnitude_ema: torch.Tensor  # buffers, declared for the type checker
    up_filter: torch.Tensor | None
    down_filter: torch.Tensor | None

    def __init__(self, w_dim: int, spec: LayerSpec, conv_clamp: float | None, magnitude_ema_beta: float) -> None:
        super().__init__()
        self.spec = spec
        self.is_torgb, self.use_fp16 = spec.is_torgb, spec.use_fp16
        self.conv_clamp, self.magnitude_ema_beta = conv_clamp, magnitude_ema_beta
        self.affine = FullyConnectedLayer(w_dim, spec.in_channels, bias_init=1)
        shape = [spec.out_channels, spec.in_channels, spec.conv_kernel, spec.conv_kernel]
        self.weight = nn.Parameter(torch.randn(shape))
        self.bias = nn.Parameter(torch.zeros([spec.out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.register_buffer("up_filter", kaiser_lowpass(spec.up_taps, spec.in_cutoff, spec.in_half_width * 2,
                                                         spec.tmp_sampling_rate))
        design = radial_lowpass if spec.down_radial else kaiser_lowpass
        self.register_buffer("down_filter", design(spec.down_taps, spec.out_cutoff, spec.out_half_width * 2,
                                                   spec.tmp_sampling_rate))

    def forward(self, x: torch.Tensor, w: torch.Tensor, mixed_precision: bool = False,
                update_emas: bool = False, fused_modconv: bool = True, emulate_fp16: bool = False,
                impl: str = "fast") -> torch.Tensor:
        """x [N, in_channels, in_size] (float16 or float32) -> [N, out_channels, out_size].

        mixed_precision: a float16 layer (``spec.use_fp16``) computes as NVIDIA's code computes it on CUDA and
            returns float16; False computes in float32.
        emulate_fp16: with mixed_precision, compute such a layer in float32 rounded where the float16 path
            rounds (the input, the convolution's weights and result, the bias, the output), returning float32
            that holds float16 values: the same numbers up to the order of float32 sums, at float32 speed.
        impl: the filtered leaky ReLU's implementation, a key of :data:`FILTERED_LRELU_IMPLS`.
        """
        s = self.spec
        if update_emas:
            magnitude = x.detach().to(torch.float32).square().mean()
            self.magnitude_ema.copy_(magnitude.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / np.sqrt(s.in_channels * s.conv_kernel**2))
        half = mixed_precision and self.use_fp16
        emulate = half and emulate_fp16
        q = round_fp16 if emulate else keep  # where the float16 path rounds; nothing to do otherwise
        dtype = torch.float16 if half and not emulate else torch.float32
        x = modulated_conv2d_sg3(q(x.to(dtype)), self.weight, styles, demodulate=not self.is_torgb,
                                 padding=s.conv_kernel - 1, input_gain=self.magnitude_ema.rsqrt(),
                                 fused=fused_modconv, emulate_fp16=emulate)
        # NVIDIA's fused CUDA kernel reads float16 data and a float16 bias but filters and activates in float32
        # (with the float32 filters) and writes float16 once: so compute in float32 and round at the end, rather
        # than round after every filtering step as a float16 reference chain would.
        y = FILTERED_LRELU_IMPLS[impl](x.to(torch.float32), fu=self.up_filter, fd=self.down_filter,
                                       b=q(self.bias.to(dtype).to(torch.float32)), up=s.up_factor,
                                       down=s.down_factor, padding=s.padding, gain=1 if self.is_torgb else np.sqrt(2),
                                       slope=1 if self.is_torgb else 0.2, clamp=self.conv_clamp)
        return q(y).to(dtype)


class SG3SynthesisNetwork(nn.Module):
    """``input`` then layers ``L0_...`` to ``L<num_layers>_...`` (the last is ToRGB); consumes ws [N, num_ws, w_dim].

    W+ row 0 drives the input's rotation/translation, row i + 1 drives layer ``L<i>``.
    """

    def __init__(self, cfg: StyleGAN3Config) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = cfg.w_dim, cfg.img_resolution, cfg.img_channels
        self.num_ws = cfg.num_ws
        self.output_scale = cfg.synthesis.output_scale
        self.mixed_precision = False  # a mode, set by Checkpoint.generator(mixed_precision=True)
        self.fp16_path = "auto"  # how float16 layers compute: one of FP16_PATHS (see emulates_fp16)
        # Which filtered leaky ReLU renders: "fast" (the default) or "reference" (FILTERED_LRELU_IMPLS); a mode.
        self.filtered_lrelu_impl = "fast"
        spec_in, layers = cfg.input_spec, cfg.layers
        self.input = SynthesisInput(cfg.w_dim, spec_in)
        self.layer_names = [spec.name for spec in layers]
        for spec in layers:
            setattr(self, spec.name, SG3SynthesisLayer(cfg.w_dim, spec, cfg.synthesis.conv_clamp,
                                                       cfg.synthesis.magnitude_ema_beta))

    def set_transform(self, translate: tuple[float, float] = (0.0, 0.0), rotate: float = 0.0) -> None:
        """Translate and rotate every following image (see :func:`user_transform`); (0, 0), 0 resets."""
        self.input.transform.copy_(user_transform(translate, rotate).to(self.input.transform.device))

    def forward(self, ws: torch.Tensor, noise_mode: str = "const", fused_modconv: bool | None = None,
                mixed_precision: bool | None = None, update_emas: bool = False,
                fp16_path: str | None = None) -> torch.Tensor:
        """Render ws [N, num_ws, w_dim] to an image [N, img_channels, R, R] (float32, about [-1, 1]).

        noise_mode: accepted for the StyleGAN2 interface; StyleGAN3 has no noise inputs.
        fused_modconv: None or True: NVIDIA's fused modulated convolutions; False: the unfused path of
            :func:`modulated_conv2d_sg3` (equal up to float rounding; what ONNX export uses).
        mixed_precision: compute the layers NVIDIA marks float16 as its code computes them on CUDA, where its
            ``gen_images.py`` runs (on other devices NVIDIA's code computes them in float32: False here); None
            uses ``self.mixed_precision``.
        fp16_path: how those layers compute, one of :data:`~styleblend.nn.synthesis.FP16_PATHS` (see
            :func:`uses_fp16`, :func:`emulates_fp16`: 'auto' is true float16 on CUDA and float32 elsewhere, as
            NVIDIA's code; 'emulated' is CUDA's float16 computed in float32 on any device); None uses
            ``self.fp16_path``.
        """
        if noise_mode not in NOISE_MODES:
            raise InvalidArgumentError(f"noise_mode={noise_mode!r} must be one of {NOISE_MODES}")
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise InvalidArgumentError(f"ws has shape {tuple(ws.shape)}; this model expects [N, {self.num_ws}, "
                                       f"{self.w_dim}]")
        mixed = self.mixed_precision if mixed_precision is None else mixed_precision
        if self.filtered_lrelu_impl not in FILTERED_LRELU_IMPLS:
            raise InvalidArgumentError(f"filtered_lrelu_impl={self.filtered_lrelu_impl!r} must be one of "
                                       f"{sorted(FILTERED_LRELU_IMPLS)}")
        path = self.fp16_path if fp16_path is None else fp16_path
        mixed = mixed and uses_fp16(path, ws.device)
        emulate = emulates_fp16(path, ws.device)
        rows = ws.to(torch.float32).unbind(dim=1)
        x: torch.Tensor = self.input(rows[0])
        for name, w in zip(self.layer_names, rows[1:]):
            x = getattr(self, name)(x, w, mixed_precision=mixed, update_emas=update_emas,
                                    fused_modconv=fused_modconv is not False, emulate_fp16=emulate,
                                    impl=self.filtered_lrelu_impl)
        if self.output_scale != 1:  # on a float16 ToRGB output, in float16 (rounds only where x is subnormal)
            last_half = mixed and getattr(self, self.layer_names[-1]).use_fp16
            x = (round_fp16 if emulate and last_half else keep)(x * self.output_scale)
        return x.to(torch.float32)


class StyleGAN3Generator(MappedGenerator):
    """StyleGAN3 generator with NVIDIA's parameter names; the same interface as the StyleGAN2
    :class:`~styleblend.nn.Generator` (``mapping``, ``synthesis``, ``num_ws``, ``w_dim``, ``z_dim``,
    ``c_dim``, ``img_resolution``, ``img_channels``, ``cfg``): both are a
    :class:`~styleblend.nn.generator.MappedGenerator`, which holds the mapping and ``forward``."""

    cfg: StyleGAN3Config
    synthesis: SG3SynthesisNetwork

    def __init__(self, cfg: StyleGAN3Config) -> None:
        super().__init__(cfg, SG3SynthesisNetwork(cfg))
