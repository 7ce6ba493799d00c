"""StyleGAN3-T, -R and conditional generators against an independent float64 re-computation from the
published formulas (``sg3_reference``): the design numbers, the mapping with a class label, the Fourier
input with a user transform, the filters as stored in the checkpoint, and the float16 layers as NVIDIA's
code computes them on CUDA."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from styleblend.config import MappingConfig
from styleblend.config_sg3 import SG3SynthesisConfig, StyleGAN3Config, stylegan3_r
from styleblend.io import Checkpoint
from styleblend.latents.mapping import seeds_to_ws, z_from_seeds
from styleblend.nn import stylegan3
from styleblend.render import set_user_transform

from ..conftest import tiny_sg3_checkpoint
from . import sg3_reference as ref


def _design_args(cfg: StyleGAN3Config) -> dict:
    s = cfg.synthesis
    return dict(res=cfg.img_resolution, img_channels=cfg.img_channels, channel_base=s.channel_base,
                channel_max=s.channel_max, num_layers=s.num_layers, num_critical=s.num_critical,
                first_cutoff=s.first_cutoff, first_stopband=s.first_stopband, last_stopband_rel=s.last_stopband_rel,
                margin_size=s.margin_size, num_fp16_res=s.num_fp16_res, conv_kernel=s.conv_kernel,
                filter_size=s.filter_size, lrelu_upsampling=s.lrelu_upsampling, use_radial_filters=s.use_radial_filters)


CONFIGS = {
    "tiny-T": lambda: tiny_sg3_checkpoint(kind="T").g_config,
    "tiny-R-conditional": lambda: tiny_sg3_checkpoint(kind="R", c_dim=3).g_config,
    "ffhq1024-T": lambda: StyleGAN3Config(),
    "ffhq1024-R": lambda: StyleGAN3Config(synthesis=stylegan3_r()),
    "afhq512-R-fp32": lambda: StyleGAN3Config(img_resolution=512, synthesis=stylegan3_r(num_fp16_res=0,
                                                                                         conv_clamp=None)),
    "256-R": lambda: StyleGAN3Config(img_resolution=256, synthesis=stylegan3_r(channel_base=32768,
                                                                               channel_max=512)),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_layer_design_equals_the_published_progression(name):
    cfg = CONFIGS[name]()
    channels, size, rate, bandwidth, layers = ref.design(**_design_args(cfg))
    spec_in = cfg.input_spec
    assert (spec_in.channels, spec_in.size, spec_in.sampling_rate, spec_in.bandwidth) == (channels, size, rate,
                                                                                          bandwidth)
    ours = cfg.layers
    assert [s.name for s in ours] == [layer.name for layer in layers]
    for s, layer in zip(ours, layers):
        assert (s.is_torgb, s.is_critically_sampled, s.use_fp16, s.in_channels, s.out_channels, s.in_size,
                s.out_size, s.up_factor, s.down_factor, s.conv_kernel, s.down_radial) == (
            layer.torgb, layer.critical, layer.use_fp16, layer.in_ch, layer.out_ch, layer.in_size, layer.out_size,
            layer.up, layer.down, layer.kernel, layer.radial), s.name
        assert s.padding == (*layer.pad, *layer.pad), s.name
        assert (s.tmp_sampling_rate, s.up_taps, s.down_taps) == (layer.tmp_rate, layer.up_taps, layer.down_taps)
        np.testing.assert_allclose([s.in_cutoff, s.out_cutoff, s.in_half_width, s.out_half_width],
                                   [layer.in_cutoff, layer.out_cutoff, layer.in_half_width, layer.out_half_width],
                                   rtol=1e-12, atol=0, err_msg=s.name)
    if cfg.synthesis.use_radial_filters:  # -R: radial down-filters except in the critically sampled layers
        assert [s.down_radial for s in ours] == [not s.is_critically_sampled for s in ours]


def _perturbed_filters(ckpt: Checkpoint) -> Checkpoint:
    """The checkpoint with every stored filter changed (still unit DC gain), so that a network that
    re-designed its filters instead of using the stored ones renders something else."""
    gen = torch.Generator().manual_seed(7)
    state = dict(ckpt.g_ema)
    for key, f in state.items():
        if key.endswith(("up_filter", "down_filter")):
            g = f * (1 + 0.2 * torch.rand(f.shape, generator=gen))
            state[key] = g / g.sum()
    return dataclasses.replace(ckpt, g_ema=state)


@pytest.mark.parametrize("kind,c_dim,psi,move", [
    ("T", 0, 1.0, None), ("R", 0, 0.7, None), ("R", 3, 0.7, ((0.2, -0.1), 15.0)), ("T", 3, 1.0, ((0.1, 0.3), -40.0))])
def test_generator_equals_the_float64_recomputation(kind, c_dim, psi, move):
    ckpt = _perturbed_filters(tiny_sg3_checkpoint(kind=kind, c_dim=c_dim))
    cfg = ckpt.g_config
    G = ckpt.generator()
    for key in ckpt.g_ema:  # the stored filters are used verbatim, not re-designed
        if key.endswith(("up_filter", "down_filter")):
            assert torch.equal(G.get_buffer(key), ckpt.g_ema[key]), key
    seeds = [3, 11]
    class_idx = 1 if c_dim else None
    ws = seeds_to_ws(G, seeds, psi, class_idx=class_idx)
    z = z_from_seeds(seeds, G.z_dim).double().numpy()
    c = np.eye(c_dim)[[class_idx, class_idx]] if c_dim else None
    state = ckpt.g_ema
    ws_ref = ref.mapping(state, z, c, G.num_ws, psi)
    np.testing.assert_allclose(ws.double().numpy(), ws_ref, rtol=0, atol=2e-5)
    transform = None
    if move is not None:
        set_user_transform(G, *move)
        transform = ref.user_transform(*move)
        np.testing.assert_allclose(G.synthesis.input.transform.double().numpy(), transform, atol=1e-7)
    img = G.synthesis(ws).double().numpy()
    expected = ref.generate(state, _design_args(cfg), ws.double().numpy(), transform,
                            conv_clamp=cfg.synthesis.conv_clamp, output_scale=cfg.synthesis.output_scale)
    assert img.shape == expected.shape
    scale = np.abs(expected).max()
    np.testing.assert_allclose(img, expected, rtol=0, atol=2e-5 * scale)


@pytest.mark.parametrize("kind", ["T", "R"])
def test_float16_layers_compute_as_nvidias_cuda_kernels(kind, monkeypatch):
    """NVIDIA computes a float16 layer in float16 on CUDA only: a float16 convolution, then its fused
    filtered_lrelu kernel, which computes in float32 between float16 input and output. Forcing the float16
    path on the CPU, each layer must give those float16 values (up to rounding ties), not those of a
    filter chain rounded to float16 after every step."""
    monkeypatch.setattr(stylegan3, "computes_fp16", lambda device: True)
    ckpt = tiny_sg3_checkpoint(kind=kind)
    G = ckpt.generator(mixed_precision=True)
    cfg = ckpt.g_config
    layers = ref.design(**_design_args(cfg))[4]
    assert all(layer.use_fp16 for layer in layers)  # 16 px with num_fp16_res=4: every layer
    ws = seeds_to_ws(G, [0, 1], 0.8)
    x = G.synthesis.input(ws[:, 0])
    for i, layer in enumerate(layers):
        ours = getattr(G.synthesis, layer.name)(x, ws[:, i + 1], mixed_precision=True)
        assert ours.dtype == torch.float16, layer.name
        expected = ref.layer_forward(ckpt.g_ema, layer, x.double().numpy(), ws[:, i + 1].double().numpy(),
                                     conv_clamp=cfg.synthesis.conv_clamp, fp16=True)
        # Convolution sums that land on a float16 rounding tie (float32 vs float64 accumulation, ~0.1 % of
        # them) spread through the filters, so a few values differ by small amounts; a chain that rounds
        # after every step differs on 25-80 % of the values, by up to one float16 step at the layer's scale.
        got = ours.double().numpy()
        differ = (got != expected).mean()  # both hold float16 values
        step = float(np.spacing(np.float16(np.abs(expected).max())))
        assert differ <= 0.02 and np.abs(got - expected).max() <= step / 2, (layer.name, differ)
        x = ours
    img = G.synthesis(ws)
    assert img.dtype == torch.float32 and torch.isfinite(img).all()


def test_float16_is_cuda_only_as_in_nvidias_code():
    assert stylegan3.computes_fp16(torch.device("cuda")) and stylegan3.computes_fp16(torch.device("cuda", 1))
    assert not stylegan3.computes_fp16(torch.device("cpu")) and not stylegan3.computes_fp16(torch.device("mps"))
    ckpt = tiny_sg3_checkpoint(kind="R", c_dim=3)
    ws = seeds_to_ws(ckpt.generator(), [5], class_idx=0)
    # NVIDIA's code on the CPU renders in float32 (mixed_precision=False here); fp16_path='float16' computes the
    # float16 layers as on CUDA wherever it runs (tests/nn/test_stylegan3_fp16.py holds its emulation to it).
    assert not torch.equal(ckpt.generator(mixed_precision=True, fp16_path="float16").synthesis(ws),
                           ckpt.generator().synthesis(ws))


def test_fp32_snapshot_kwargs_disable_clamping():
    """NVIDIA's --fp32 runs store num_fp16_res=0 and conv_clamp=None: no float16 layer and no clamp."""
    cfg = StyleGAN3Config(z_dim=16, w_dim=16, img_resolution=16, mapping=MappingConfig(num_layers=2, w_avg_beta=0.998),
                          synthesis=SG3SynthesisConfig(channel_base=128, channel_max=16, num_layers=4, num_critical=1,
                                                       margin_size=2, num_fp16_res=0, conv_clamp=None))
    assert not any(s.use_fp16 for s in cfg.layers)
    G = stylegan3.StyleGAN3Generator(cfg).eval()
    assert all(getattr(G.synthesis, name).conv_clamp is None for name in G.synthesis.layer_names)


def test_user_transform_is_gen_images_matrix_bit_for_bit():
    rng = np.random.default_rng(0)
    for degrees in [0.0, 15.0, -40.0, 90.0, 123.456, 359.9, *rng.uniform(-720, 720, 200)]:
        translate = (float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)))
        angle = float(degrees) / 360.0 * np.pi * 2  # gen_images.py's make_transform, then np.linalg.inv
        m = np.eye(3)
        m[0, :] = [np.cos(angle), np.sin(angle), translate[0]]
        m[1, :] = [-np.sin(angle), np.cos(angle), translate[1]]
        expected = torch.from_numpy(np.linalg.inv(m)).to(torch.float32)
        assert torch.equal(stylegan3.user_transform(translate, float(degrees)), expected), degrees


def test_ffhq_1024_layer_names_are_those_of_nvidias_published_snapshots():
    """The module names of NVIDIA's stylegan3-{t,r}-ffhq-1024x1024.pkl (as printed by its code and quoted in
    scripts that prune or inspect them): the size (with margin) and channels of each layer."""
    r = ["L0_36_1024", "L1_36_1024", "L2_52_1024", "L3_52_1024", "L4_84_1024", "L5_148_1024", "L6_148_1024",
         "L7_276_645", "L8_276_406", "L9_532_256", "L10_1044_161", "L11_1044_102", "L12_1044_64", "L13_1024_64",
         "L14_1024_3"]
    t = ["L0_36_512", "L1_36_512", "L2_52_512", "L3_52_512", "L4_84_512", "L5_148_512", "L6_148_512", "L7_276_323",
         "L8_276_203", "L9_532_128", "L10_1044_81", "L11_1044_51", "L12_1044_32", "L13_1024_32", "L14_1024_3"]
    assert StyleGAN3Config(synthesis=stylegan3_r()).layer_names == r
    assert StyleGAN3Config().layer_names == t


@pytest.mark.parametrize("kind", ["T", "R"])
def test_designed_filters_are_nvidias_kaiser_and_jinc_designs(kind):
    """A network styleblend builds itself designs its filters as NVIDIA's constructor does: Kaiser-windowed
    sinc (scipy's firwin) for every up-filter and for the down-filters of -T and of -R's critically sampled
    layers, a Kaiser-windowed jinc for -R's other down-filters, none where a layer does not resample."""
    signal = pytest.importorskip("scipy.signal")
    special = pytest.importorskip("scipy.special")
    cfg = tiny_sg3_checkpoint(kind=kind).g_config
    G = stylegan3.StyleGAN3Generator(cfg)
    for layer in ref.design(**_design_args(cfg))[4]:
        mod = getattr(G.synthesis, layer.name)
        for f, taps, cutoff, half_width, radial in ((mod.up_filter, layer.up_taps, layer.in_cutoff,
                                                     layer.in_half_width, False),
                                                    (mod.down_filter, layer.down_taps, layer.out_cutoff,
                                                     layer.out_half_width, layer.radial)):
            if taps == 1:
                assert f is None, layer.name
                continue
            fs, width = layer.tmp_rate, 2 * half_width
            if radial:
                x = (np.arange(taps) - (taps - 1) / 2) / fs
                r = np.hypot(*np.meshgrid(x, x))
                expected = special.j1(2 * cutoff * np.pi * r) / (np.pi * r)
                window = np.kaiser(taps, signal.kaiser_beta(signal.kaiser_atten(taps, width / (fs / 2))))
                expected *= np.outer(window, window)
                expected /= expected.sum()
            else:
                expected = signal.firwin(numtaps=taps, cutoff=cutoff, width=width, fs=fs)
            assert f is not None and f.dtype == torch.float32 and f.shape == expected.shape, layer.name
            np.testing.assert_allclose(f.numpy(), expected, rtol=0, atol=1e-7)
