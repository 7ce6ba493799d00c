"""The generator against images NVIDIA's own generate.py made, and its internal consistency."""

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.config import DiscriminatorConfig, GeneratorConfig, SynthesisConfig
from styleblend.errors import InvalidArgumentError
from styleblend.io import load_checkpoint
from styleblend.latents.mapping import seeds_to_ws
from styleblend.media.images import to_uint8
from styleblend.nn import Discriminator, Generator
from styleblend.nn.layers import SynthesisLayer

from ..conftest import tiny_checkpoint, tiny_config


@pytest.fixture(scope="module")
def nvidia_G(nvidia_g64):
    return load_checkpoint(nvidia_g64 / "network-snapshot.pkl").generator()


@pytest.mark.parametrize("upsample_path", ["transpose", "polyphase"])
def test_raw_output_matches_nvidia(nvidia_G, nvidia_g64, upsample_path):
    z_all = np.load(nvidia_g64 / "z_seeds0-5.npy")
    ws = nvidia_G.mapping(torch.from_numpy(z_all[:4]))
    out = nvidia_G.synthesis(ws, noise_mode="const", upsample_path=upsample_path).numpy()
    for seed in range(4):
        ref = np.load(nvidia_g64 / "raw" / f"seed{seed:04d}_psi1.0.npy")
        assert np.abs(out[seed: seed + 1] - ref).max() < 1e-4


def test_upsample_paths_agree_and_auto_follows_the_rule(nvidia_G, nvidia_g64):
    """Polyphase up-sampling sums the same products as the transposed convolution (ops/polyphase.py); through
    the whole network the two stay within float32 rounding. 'auto' picks by channels and resolution: this
    64-channel model is below the threshold, so it renders as 'transpose' bit for bit."""
    ws = nvidia_G.mapping(torch.from_numpy(np.load(nvidia_g64 / "z_seeds0-5.npy")))
    ref = nvidia_G.synthesis(ws, noise_mode="const", upsample_path="transpose")
    poly = nvidia_G.synthesis(ws, noise_mode="const", upsample_path="polyphase")
    assert 0 < (poly - ref).abs().max() < 2e-5
    assert torch.equal(nvidia_G.synthesis(ws, noise_mode="const"), ref)
    with pytest.raises(InvalidArgumentError, match="upsample_path"):
        nvidia_G.synthesis(ws, upsample_path="fast")


def test_seed_convention_matches_fixture_z(nvidia_g64):
    from styleblend.latents.seeds import z_from_seed

    z_all = np.load(nvidia_g64 / "z_seeds0-5.npy")
    for seed in range(6):
        assert np.array_equal(z_from_seed(seed, 128)[0], z_all[seed])


@pytest.mark.parametrize("upsample_path", ["transpose", "polyphase"])
@pytest.mark.parametrize("psi", [1.0, 0.7])
def test_pngs_match_nvidia(nvidia_G, nvidia_g64, psi, upsample_path):
    ws = seeds_to_ws(nvidia_G, list(range(6)), truncation_psi=psi)
    ours = to_uint8(nvidia_G.synthesis(ws, noise_mode="const", upsample_path=upsample_path)).astype(int)
    for seed in range(6):
        ref = np.asarray(Image.open(nvidia_g64 / "expected" / f"psi{psi}" / f"seed{seed:04d}.png")).astype(int)
        diff = np.abs(ours[seed] - ref)
        assert diff.max() <= 1
        assert (diff > 0).mean() <= 0.01


def test_w_avg_matches_fixture(nvidia_G, nvidia_g64):
    assert np.array_equal(nvidia_G.mapping.w_avg.numpy(), np.load(nvidia_g64 / "w_avg.npy"))


def test_truncation_cutoff_only_touches_first_ws():
    G = tiny_checkpoint().generator()
    z = torch.randn(2, G.z_dim)
    full = G.mapping(z)
    cut = G.mapping(z, truncation_psi=0.5, truncation_cutoff=3)
    assert torch.equal(cut[:, 3:], full[:, 3:])
    expected = G.mapping.w_avg + 0.5 * (full[:, :3] - G.mapping.w_avg)
    assert torch.allclose(cut[:, :3], expected, atol=1e-6)
    assert torch.allclose(G.mapping(z, truncation_psi=0.0), G.mapping.w_avg.expand_as(full))


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_architectures_build_and_paths_agree(architecture):
    G = Generator(tiny_config(architecture=architecture)).eval()
    ws = G.mapping(torch.randn(2, G.z_dim))
    assert ws.shape == (2, G.num_ws, G.w_dim) and G.num_ws == 8
    fused = G.synthesis(ws, fused_modconv=True)
    unfused = G.synthesis(ws, fused_modconv=False)
    assert fused.shape == (2, 3, 32, 32)
    assert torch.allclose(fused, unfused, atol=1e-4)


def test_noise_modes():
    G = tiny_checkpoint().generator()
    ws = G.mapping(torch.randn(1, G.z_dim))
    const_a, const_b = G.synthesis(ws, noise_mode="const"), G.synthesis(ws, noise_mode="const")
    assert torch.equal(const_a, const_b)
    torch.manual_seed(0)
    rand_a = G.synthesis(ws, noise_mode="random")
    torch.manual_seed(1)
    rand_b = G.synthesis(ws, noise_mode="random")
    assert not torch.equal(rand_a, rand_b)
    assert not torch.equal(G.synthesis(ws, noise_mode="none"), const_a)


def test_an_unknown_noise_mode_is_refused_before_any_layer_runs():
    G = tiny_checkpoint().generator()
    ws = G.mapping(torch.randn(1, G.z_dim))
    calls = []
    for layer in G.synthesis.modules():
        if isinstance(layer, SynthesisLayer):
            layer.register_forward_pre_hook(lambda *_: calls.append(1))
    with pytest.raises(InvalidArgumentError, match="noise_mode 'Const'.*'random'"):
        G.synthesis(ws, noise_mode="Const")
    assert calls == []
    G.synthesis(ws, noise_mode="none")
    assert len(calls) == 2 * len(G.synthesis.block_resolutions) - 1


def test_conditional_generator_uses_label():
    G = tiny_checkpoint(c_dim=3).generator()
    z = torch.randn(1, G.z_dim)
    a = G.mapping(z, torch.tensor([[1.0, 0, 0]]))
    b = G.mapping(z, torch.tensor([[0.0, 1, 0]]))
    assert not torch.allclose(a, b)


@pytest.mark.parametrize("architecture", ["orig", "skip", "resnet"])
def test_discriminator_shapes(architecture):
    D = Discriminator(DiscriminatorConfig(img_resolution=32, channel_base=256, channel_max=32,
                                          architecture=architecture))
    assert D(torch.randn(4, 3, 32, 32)).shape == (4, 1)


def test_discriminator_freeze_layers_makes_buffers():
    cfg = DiscriminatorConfig(img_resolution=32, channel_base=256, channel_max=32)
    D = Discriminator(cfg, freeze_layers=2)
    trainable = dict(D.named_parameters())
    assert "b32.fromrgb.weight" not in trainable and "b32.conv0.weight" not in trainable
    assert "b32.conv1.weight" in trainable
    assert set(D.state_dict()) == set(Discriminator(cfg).state_dict())


def test_fp16_resolutions_follow_nvidia():
    from dataclasses import replace

    from styleblend.config import GeneratorConfig

    cfg = GeneratorConfig()  # 1024 px
    assert replace(cfg, synthesis=replace(cfg.synthesis, num_fp16_res=4)).fp16_resolutions == [128, 256, 512, 1024]
    assert cfg.fp16_resolutions == []
    small = tiny_config(32)
    assert replace(small, synthesis=replace(small.synthesis, num_fp16_res=4)).fp16_resolutions == [8, 16, 32]


def _fp16_model(num_fp16_res, architecture="skip"):
    from dataclasses import replace

    ckpt = tiny_checkpoint(seed=3, architecture=architecture)
    cfg = replace(ckpt.g_config, synthesis=replace(ckpt.g_config.synthesis, num_fp16_res=num_fp16_res,
                                                   conv_clamp=256))
    return replace(ckpt, g_config=cfg)


def test_mixed_precision_runs_the_fp16_blocks_in_float16():
    ckpt = _fp16_model(2)
    G = ckpt.generator(mixed_precision=True, fp16_path="float16")
    dtypes = {}

    def record(res):
        def hook(module, inputs, out):
            dtypes.setdefault(res, (out[0].dtype, out[1].dtype))  # the first (mixed) call only
        return hook

    for res in G.cfg.block_resolutions:
        getattr(G.synthesis, f"b{res}").register_forward_hook(record(res))
    ws = seeds_to_ws(G, [0, 1])
    with torch.no_grad():
        mixed = G.synthesis(ws)
        full = G.synthesis(ws, mixed_precision=False)
    assert dtypes == {4: (torch.float32, torch.float32), 8: (torch.float32, torch.float32),
                      16: (torch.float16, torch.float32), 32: (torch.float16, torch.float32)}
    assert mixed.dtype == torch.float32
    diff = (mixed - full).abs().max().item()
    assert 0 < diff < 2e-2  # float16 rounding, nothing more


def test_mixed_precision_changes_nothing_without_fp16_layers():
    ckpt = _fp16_model(0)
    ws = seeds_to_ws(ckpt.generator(), [0, 1])
    with torch.no_grad():
        assert torch.equal(ckpt.generator(mixed_precision=True).synthesis(ws), ckpt.generator().synthesis(ws))


def test_generate_renders_fp16_layers_like_nvidia_unless_asked_for_float32(tmp_path):
    from styleblend.cli.main import main
    from styleblend.io import save_checkpoint

    path = save_checkpoint(_fp16_model(2), tmp_path / "fp16.safetensors")
    for precision in ("nvidia", "nvidia-native", "float32"):
        assert main(["-q", "generate", "--network", str(path), "--seeds", "0", "--precision", precision,
                     "--outdir", str(tmp_path / precision)]) == 0
    G = load_checkpoint(path).generator(mixed_precision=True)
    with torch.no_grad():
        ws = seeds_to_ws(G, [0])
        for precision, fp16_path in (("nvidia", "emulated"), ("nvidia-native", "float16")):
            expected = to_uint8(G.synthesis(ws, fp16_path=fp16_path))[0]
            np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / precision / "seed0000.png")), expected)


@pytest.mark.parametrize("architecture", ["skip", "resnet", "orig"])
@pytest.mark.parametrize("fused", [True, False])
def test_emulated_fp16_reproduces_native_float16_images(architecture, fused):
    # The fast path (float32, rounded where float16 rounds) against the reference (true float16): within one
    # level on at most 2 % of uint8 values, and nearer to it than float32 is (measured: raw max 1-3e-3,
    # 0.05-0.4 % of values one level off; float32 is 4-11e-3 away).
    G = _fp16_model(3, architecture).generator(mixed_precision=True)
    ws = seeds_to_ws(G, [0, 1, 2])
    with torch.no_grad():
        native = G.synthesis(ws, fp16_path="float16", fused_modconv=fused)
        emulated = G.synthesis(ws, fp16_path="emulated", fused_modconv=fused)
        float32 = G.synthesis(ws, mixed_precision=False, fused_modconv=fused)
    levels = np.abs(to_uint8(native).astype(int) - to_uint8(emulated).astype(int))
    assert levels.max() <= 1 and (levels > 0).mean() <= 0.02
    raw = (native - emulated).abs().max().item()
    assert 0 < raw < (native - float32).abs().max().item()


def test_fp16_path_auto_emulates_on_the_cpu_and_unknown_paths_are_refused():
    ckpt = _fp16_model(2)
    G = ckpt.generator(mixed_precision=True)
    assert G.synthesis.fp16_path == "auto"
    ws = seeds_to_ws(G, [0])
    with torch.no_grad():
        assert torch.equal(G.synthesis(ws), G.synthesis(ws, fp16_path="emulated"))
        assert not torch.equal(G.synthesis(ws), G.synthesis(ws, fp16_path="float16"))
        with pytest.raises(InvalidArgumentError, match="fp16_path 'half'"):
            G.synthesis(ws, fp16_path="half")
    with pytest.raises(InvalidArgumentError, match="choose one of"):
        ckpt.generator(mixed_precision=True, fp16_path="fast")


@pytest.mark.parametrize("architecture", ["skip", "resnet"])
def test_emulated_fp16_with_the_kernels_sum_order_is_native_float16_bit_for_bit(architecture, monkeypatch):
    # Every rounding the emulation places is where float16 rounds: once its convolutions also sum in the
    # float16 kernel's order (ops/half.py, tie_band; too slow to render with), whole images are identical.
    import functools

    import styleblend.ops.conv2d_resample as resample
    from styleblend.ops.half import EXACT_TIE_BAND

    for name in ("conv2d_fp16", "conv_transpose2d_fp16"):
        monkeypatch.setattr(resample, name, functools.partial(getattr(resample, name), tie_band=EXACT_TIE_BAND))
    G = _fp16_model(3, architecture).generator(mixed_precision=True)
    ws = seeds_to_ws(G, [0, 1])
    with torch.no_grad():
        assert torch.equal(G.synthesis(ws, fp16_path="emulated"), G.synthesis(ws, fp16_path="float16"))


def test_inference_equals_the_autograd_path_bit_for_bit(nvidia_G, nvidia_g64):
    """Without autograd the layers add bias and activate in place (ops/bias_act.py); with it, on the fused
    modulated convolution, the reference path runs. The images are the same, bit for bit."""
    ws = nvidia_G.mapping(torch.from_numpy(np.load(nvidia_g64 / "z_seeds0-5.npy")[:2]))
    with torch.inference_mode():
        fast = nvidia_G.synthesis(ws, noise_mode="const")
    reference = nvidia_G.synthesis(ws.clone().requires_grad_(True), noise_mode="const", fused_modconv=True)
    assert torch.equal(fast, reference.detach())


@pytest.mark.parametrize("architecture", ["skip", "resnet"])
@pytest.mark.parametrize("batch", [1, 3])
def test_gradient_path_equals_fused_reference(architecture, batch):
    """With ws needing a gradient at inference (a projection step), ``fused_modconv=None`` takes the lean
    unfused form (ops/modulated_conv.py) and the transposed up-sampling: the image within float32 rounding
    (1e-5 of its range, far inside 1/255) and the gradients w.r.t. ws and the substituted noise maps (as
    ``project()`` passes them) within 1e-4 of their largest value, against the fused reference."""
    G = tiny_checkpoint(architecture=architecture).generator()
    ws = G.mapping(torch.randn(batch, G.z_dim, generator=torch.Generator().manual_seed(batch))).detach()
    maps = {name: torch.randn(batch, 1, *buf.shape) for name, buf in G.synthesis.named_buffers()
            if name.endswith("noise_const")}
    target = torch.randn(batch, 3, 32, 32)
    results = []
    for fused in (True, None):
        w = ws.clone().requires_grad_(True)
        noise = {k: v.clone().requires_grad_(True) for k, v in maps.items()}
        img = torch.func.functional_call(G.synthesis, noise, (w,), {"noise_mode": "const", "fused_modconv": fused},
                                         strict=False)
        (img - target).square().mean().backward()
        results.append((img.detach(), w.grad, [noise[k].grad for k in maps]))
    (ref_img, ref_ws, ref_noise), (img, gws, gnoise) = results
    torch.testing.assert_close(img, ref_img, rtol=0, atol=1e-5 * float(ref_img.abs().max()))
    torch.testing.assert_close(gws, ref_ws, rtol=0, atol=1e-4 * float(ref_ws.abs().max()))
    for a, r in zip(gnoise, ref_noise):
        torch.testing.assert_close(a, r, rtol=0, atol=1e-4 * float(r.abs().max()))
    assert not torch.equal(gws, ref_ws)  # a different path ran (the sums differ in order)


def test_gradient_path_at_config_f_widths():
    """The same at config-f channel counts (512 down to 128 channels, 64 px, where the auto up-sampling path
    would pick polyphase without a gradient): image within 1e-5 of its range, ws gradient within 1e-4."""
    torch.manual_seed(0)
    G = Generator(GeneratorConfig(img_resolution=64, synthesis=SynthesisConfig(channel_base=16384))).eval()
    G.requires_grad_(False)
    ws = G.mapping(torch.randn(1, G.z_dim)).detach()
    results = []
    for fused in (True, None):
        w = ws.clone().requires_grad_(True)
        img = G.synthesis(w, noise_mode="const", fused_modconv=fused)
        img.square().mean().backward()
        results.append((img.detach(), w.grad))
    (ref_img, ref_ws), (img, gws) = results
    torch.testing.assert_close(img, ref_img, rtol=0, atol=1e-5 * float(ref_img.abs().max()))
    torch.testing.assert_close(gws, ref_ws, rtol=0, atol=1e-4 * float(ref_ws.abs().max()))
