"""An independent StyleGAN3 generator in numpy float64, written for the tests from the published formulas
(Karras et al. 2021, "Alias-Free Generative Adversarial Networks", Sec. 3 and Appendices C, F; the
semantics of NVIDIA's ``networks_stylegan3.py``, ``filtered_lrelu`` and ``gen_images.py``).

Deliberately plain: explicit zero-stuffing, padding, tap-by-tap convolutions, no torch ops, so it shares
no code with ``styleblend.nn.stylegan3`` / ``styleblend.ops``. Tensors come from a state dict (the stored
filters are used as stored); design numbers are recomputed here from the constructor arguments.

``fp16=True`` in :func:`layer_forward` follows what NVIDIA's code does in a float16 layer on CUDA:
input and the modulated weights (computed in float32) cast to float16, a float16 convolution (products
summed in higher precision, rounded once), then the fused filtered-leaky-ReLU kernel, which reads the
float16 data and float16 bias, computes in float32 with the float32 filters and writes float16.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def f16(x: np.ndarray) -> np.ndarray:
    """Round to float16, keep float64."""
    return np.asarray(x, dtype=np.float64).astype(np.float16).astype(np.float64)


@dataclass
class Layer:
    name: str
    torgb: bool
    critical: bool
    use_fp16: bool
    in_ch: int
    out_ch: int
    in_size: int
    out_size: int
    up: int
    down: int
    kernel: int
    pad: tuple[int, int]  # (lo, hi) on both axes
    radial: bool
    tmp_rate: float = 0.0  # sampling rate of the activation
    in_cutoff: float = 0.0
    out_cutoff: float = 0.0
    in_half_width: float = 0.0
    out_half_width: float = 0.0
    up_taps: int = 1
    down_taps: int = 1


def design(res: int, img_channels: int, channel_base: int, channel_max: int, num_layers: int = 14,
           num_critical: int = 2, first_cutoff: float = 2.0, first_stopband: float = 2**2.1,
           last_stopband_rel: float = 2**0.3, margin_size: int = 10, num_fp16_res: int = 4, conv_kernel: int = 3,
           filter_size: int = 6, lrelu_upsampling: int = 2, use_radial_filters: bool = False):
    """(input channels, input size, input sampling rate, input bandwidth, layers) of a StyleGAN3 synthesis net."""
    n = num_layers
    # Cut-offs and minimum stop-bands: geometric from the first layer to the last non-critical one.
    t = np.minimum(np.arange(n + 1) / (n - num_critical), 1.0)
    fc = first_cutoff * ((res / 2) / first_cutoff) ** t
    ft = first_stopband * ((res / 2) * last_stopband_rel / first_stopband) ** t
    rate = 2.0 ** np.ceil(np.log2(np.minimum(2 * ft, res)))  # smallest power of two >= 2 f_t, at most res
    fh = np.maximum(ft, rate / 2) - fc  # transition half-width: the stop-band reaches at least Nyquist
    size = rate + 2 * margin_size
    size[-2:] = res
    ch = np.rint(np.minimum(channel_base / 2 / fc, channel_max))
    ch[-1] = img_channels
    layers = []
    for i in range(n + 1):
        p = max(i - 1, 0)
        torgb = i == n
        tmp = max(rate[p], rate[i]) * (1 if torgb else lrelu_upsampling)
        up, down = int(tmp // rate[p]), int(tmp // rate[i])
        up_taps = filter_size * up if up > 1 and not torgb else 1
        down_taps = filter_size * down if down > 1 and not torgb else 1
        k = 1 if torgb else conv_kernel
        # Length before decimation minus the up-sampled conv output plus what the two filters eat; the extra
        # `up` centres the samples (Appendix C.3).
        total = int((size[i] - 1) * down + 1 - (size[p] + k - 1) * up + up_taps + down_taps - 2)
        lo = (total + up) // 2
        layers.append(Layer(name=f"L{i}_{int(size[i])}_{int(ch[i])}", torgb=torgb, critical=i >= n - num_critical,
                            use_fp16=bool(rate[i] * 2**num_fp16_res > res), in_ch=int(ch[p]), out_ch=int(ch[i]),
                            in_size=int(size[p]), out_size=int(size[i]), up=up, down=down, kernel=k,
                            pad=(lo, total - lo), radial=use_radial_filters and not i >= n - num_critical,
                            tmp_rate=float(tmp), in_cutoff=float(fc[p]), out_cutoff=float(fc[i]),
                            in_half_width=float(fh[p]), out_half_width=float(fh[i]), up_taps=up_taps,
                            down_taps=down_taps))
    return int(ch[0]), int(size[0]), float(rate[0]), float(fc[0]), layers


def _np(state: dict, key: str) -> np.ndarray:
    return state[key].detach().double().numpy()


def dense(x: np.ndarray, state: dict, prefix: str, lr: float = 1.0, lrelu: bool = False) -> np.ndarray:
    """Equalised-learning-rate dense layer: x W^T lr / sqrt(in) + b lr, then sqrt(2) leaky ReLU(0.2)."""
    w, b = _np(state, prefix + ".weight"), _np(state, prefix + ".bias")
    y = x @ (w * lr / np.sqrt(w.shape[1])).T + b * lr
    return np.where(y >= 0, y, 0.2 * y) * np.sqrt(2) if lrelu else y


def pixel_norm(x: np.ndarray) -> np.ndarray:
    return x / np.sqrt(np.mean(x**2, axis=1, keepdims=True) + 1e-8)


def mapping(state: dict, z: np.ndarray, c: np.ndarray | None, num_ws: int, psi: float = 1.0,
            num_layers: int = 2, lr: float = 0.01) -> np.ndarray:
    """z [N, z_dim] (+ one-hot c) -> ws [N, num_ws, w_dim]: normalise z; embed c, normalise it; concatenate."""
    x = pixel_norm(z)
    if c is not None:
        x = np.concatenate([x, pixel_norm(dense(c, state, "mapping.embed"))], axis=1)
    for i in range(num_layers):
        x = dense(x, state, f"mapping.fc{i}", lr=lr, lrelu=True)
    w_avg = _np(state, "mapping.w_avg")
    x = w_avg + psi * (x - w_avg)
    return np.repeat(x[:, None], num_ws, axis=1)


def user_transform(translate: tuple[float, float], degrees: float) -> np.ndarray:
    """gen_images.py: the inverse of [[cos, sin, tx], [-sin, cos, ty], [0, 0, 1]], in float64."""
    a = np.deg2rad(degrees)
    m = np.array([[np.cos(a), np.sin(a), translate[0]], [-np.sin(a), np.cos(a), translate[1]], [0, 0, 1.0]])
    return np.linalg.inv(m)


def synthesis_input(state: dict, w: np.ndarray, channels: int, size: int, rate: float, bandwidth: float,
                    transform: np.ndarray) -> np.ndarray:
    """Fourier features [N, C, size, size] rotated/translated by an affine of w, then the user transform."""
    t = dense(w, state, "synthesis.input.affine")
    t = t / np.linalg.norm(t[:, :2], axis=1, keepdims=True)
    freqs0, phases0 = _np(state, "synthesis.input.freqs"), _np(state, "synthesis.input.phases")
    mix = _np(state, "synthesis.input.weight") / np.sqrt(channels)
    coords = (np.arange(size) + 0.5 - size / 2) / rate  # sample positions in image units
    out = []
    for r in t:
        rot = np.array([[r[0], -r[1], 0], [r[1], r[0], 0], [0, 0, 1]])
        shift = np.array([[1, 0, -r[2]], [0, 1, -r[3]], [0, 0, 1]])
        m = rot @ shift @ transform
        phases = phases0 + freqs0 @ m[:2, 2]
        freqs = freqs0 @ m[:2, :2]
        amp = np.clip(1 - (np.linalg.norm(freqs, axis=1) - bandwidth) / (rate / 2 - bandwidth), 0, 1)
        arg = coords[None, :, None] * freqs[:, 0][None, None] + coords[:, None, None] * freqs[:, 1][None, None]
        feat = np.sin(2 * np.pi * (arg + phases)) * amp  # [H, W, C]
        out.append((feat @ mix.T).transpose(2, 0, 1))
    return np.stack(out)


def _convolve(x: np.ndarray, f: np.ndarray) -> np.ndarray:
    """'Valid' 2-D convolution (kernel flipped) of [N, C, H, W] by a 2-D filter, one tap at a time."""
    kh, kw = f.shape
    h, w = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = np.zeros(x.shape[:2] + (h, w))
    for a in range(kh):
        for b in range(kw):
            out += f[kh - 1 - a, kw - 1 - b] * x[:, :, a:a + h, b:b + w]
    return out


def _pad(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    x = np.pad(x, [(0, 0), (0, 0), (max(lo, 0), max(hi, 0)), (max(lo, 0), max(hi, 0))])
    return x[:, :, max(-lo, 0): x.shape[2] - max(-hi, 0), max(-lo, 0): x.shape[3] - max(-hi, 0)]


def layer_forward(state: dict, layer: Layer, x: np.ndarray, w: np.ndarray, conv_clamp: float | None = 256,
                  fp16: bool = False) -> np.ndarray:
    """One synthesis layer (modulated conv, bias, filtered leaky ReLU) on x [N, I, H, W]."""
    pre = f"synthesis.{layer.name}."
    styles = dense(w, state, pre + "affine")
    weight = _np(state, pre + "weight")
    gain_in = 1 / np.sqrt(_np(state, pre + "magnitude_ema"))
    if layer.torgb:
        styles = styles / np.sqrt(layer.in_ch * layer.kernel**2)
        wm = weight[None] * styles[:, None, :, None, None]
    else:
        weight = weight / np.sqrt(np.mean(weight**2, axis=(1, 2, 3), keepdims=True))
        styles = styles / np.sqrt(np.mean(styles**2))
        wm = weight[None] * styles[:, None, :, None, None]
        wm = wm / np.sqrt(np.sum(wm**2, axis=(2, 3, 4), keepdims=True) + 1e-8)
    wm = wm * gain_in
    if fp16:
        x, wm = f16(x), f16(wm.astype(np.float32))
    k = layer.kernel
    xp = np.pad(x, [(0, 0), (0, 0), (k - 1, k - 1), (k - 1, k - 1)])
    h = xp.shape[2] - k + 1
    y = np.zeros((x.shape[0], layer.out_ch, h, h))
    for a in range(k):
        for b in range(k):  # cross-correlation, as a convolution layer computes it
            y += np.einsum("noi,nihw->nohw", wm[:, :, :, a, b], xp[:, :, a:a + h, b:b + h])
    bias = _np(state, pre + "bias")
    if fp16:
        y, bias = f16(y), f16(bias)
    y = y + bias[None, :, None, None]
    # Filtered leaky ReLU: zero-stuff, pad/crop, up-filter (gain up^2), activate, clamp, down-filter, decimate.
    up, down = layer.up, layer.down
    z = np.zeros(y.shape[:2] + (y.shape[2] * up, y.shape[3] * up))
    z[:, :, ::up, ::up] = y
    z = _pad(z, *layer.pad)
    fu = state.get(pre + "up_filter")
    fd = state.get(pre + "down_filter")
    if fu is not None:
        fu = fu.double().numpy()
        z = _convolve(z, np.outer(fu, fu) * up**2)
    slope, gain = (1.0, 1.0) if layer.torgb else (0.2, np.sqrt(2))
    z = np.where(z >= 0, z, z * slope) * gain
    if conv_clamp is not None:
        z = np.clip(z, -conv_clamp, conv_clamp)
    if fd is not None:
        fd = fd.double().numpy()
        z = _convolve(z, fd if fd.ndim == 2 else np.outer(fd, fd))
    z = z[:, :, ::down, ::down]
    return f16(z) if fp16 else z


def generate(state: dict, cfg_args: dict, ws: np.ndarray, transform: np.ndarray | None = None,
             conv_clamp: float | None = 256, output_scale: float = 0.25) -> np.ndarray:
    """ws [N, num_ws, w_dim] -> image [N, C, R, R] (float32 semantics, in float64)."""
    channels, size, rate, bandwidth, layers = design(**cfg_args)
    x = synthesis_input(state, ws[:, 0], channels, size, rate, bandwidth,
                        np.eye(3) if transform is None else transform)
    for i, layer in enumerate(layers):
        x = layer_forward(state, layer, x, ws[:, i + 1], conv_clamp)
    return x * output_scale
