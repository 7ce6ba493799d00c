"""StyleGAN3 networks: NVIDIA's images from the real snapshot, and the properties of tiny T and R generators."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.errors import InvalidArgumentError
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.latents.mapping import seeds_to_ws
from styleblend.media.images import to_uint8
from styleblend.nn.build import build_generator
from styleblend.nn.stylegan3 import StyleGAN3Generator, user_transform
from styleblend.render import render_ws, set_user_transform

from ..conftest import tiny_checkpoint, tiny_sg3_checkpoint


@pytest.fixture(scope="module")
def sg3_fixture_ckpt(nvidia_sg3t32):
    return load_checkpoint(nvidia_sg3t32 / "network-snapshot.pkl")


@pytest.fixture(scope="module")
def sg3_fixture_G(sg3_fixture_ckpt):
    return sg3_fixture_ckpt.generator()


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(int)


def _assert_png_close(ours: np.ndarray, ref: np.ndarray) -> None:
    """Within one level on at most 1 % of values (the fixture's stated tolerance)."""
    diff = np.abs(ours.astype(int) - ref)
    assert diff.max() <= 1 and (diff > 0).mean() <= 0.01


def test_seeds_and_w_avg_follow_nvidias_conventions(sg3_fixture_G, nvidia_sg3t32):
    from styleblend.latents.seeds import z_from_seeds

    z = z_from_seeds(range(6), 64).numpy()
    np.testing.assert_array_equal(z, np.load(nvidia_sg3t32 / "z_seeds0-5.npy").astype(np.float32))
    np.testing.assert_array_equal(sg3_fixture_G.mapping.w_avg.numpy(), np.load(nvidia_sg3t32 / "w_avg.npy"))


def test_renders_nvidias_raw_output(sg3_fixture_G, nvidia_sg3t32):
    ws = seeds_to_ws(sg3_fixture_G, [0, 1, 2, 3])
    imgs = render_ws(sg3_fixture_G, ws, batch_size=1)
    for seed in range(4):
        ref = np.load(nvidia_sg3t32 / "raw" / f"seed{seed:04d}_psi1.0.npy")
        np.testing.assert_allclose(imgs[seed:seed + 1].numpy(), ref, atol=1e-4, rtol=0)


# psi 1 seeds 0-3: the raw test above; psi 0.7: tests/cli/test_generate_sg3.py (all six seeds).
@pytest.mark.parametrize("psi,seeds", [(1.0, [4, 5])])
def test_renders_nvidias_pngs(sg3_fixture_G, nvidia_sg3t32, psi, seeds):
    arrays = to_uint8(render_ws(sg3_fixture_G, seeds_to_ws(sg3_fixture_G, list(seeds), psi), batch_size=6))
    for seed, array in zip(seeds, arrays):
        _assert_png_close(array, _png(nvidia_sg3t32 / "expected" / f"psi{psi}" / f"seed{seed:04d}.png"))


def test_translate_and_rotate_render_nvidias_images(sg3_fixture_ckpt, nvidia_sg3t32):
    G = sg3_fixture_ckpt.generator()
    set_user_transform(G, (0.2, -0.1), 15)
    np.testing.assert_allclose(G.synthesis.input.transform.numpy(),
                               np.load(nvidia_sg3t32 / "expected" / "gen_tr" / "transform_inverse.npy"), atol=1e-7)
    imgs = render_ws(G, seeds_to_ws(G, [0, 1, 2, 3]), batch_size=1)
    arrays = to_uint8(imgs)
    for seed in range(4):
        ref = np.load(nvidia_sg3t32 / "raw" / "gen_tr" / f"seed{seed:04d}_psi1.0.npy")
        np.testing.assert_allclose(imgs[seed:seed + 1].numpy(), ref, atol=1e-4, rtol=0)
        _assert_png_close(arrays[seed], _png(nvidia_sg3t32 / "expected" / "gen_tr" / f"seed{seed:04d}.png"))
    set_user_transform(G, (0, 0), 0)
    assert torch.equal(G.synthesis.input.transform, torch.eye(3))


def test_stored_filters_equal_the_designed_ones(sg3_fixture_ckpt):
    ckpt = sg3_fixture_ckpt
    built = build_generator(ckpt.g_config).state_dict()
    filters = [k for k in ckpt.g_ema if k.endswith(("up_filter", "down_filter"))]
    assert len(filters) == 28  # 14 layers x 2; the ToRGB layer stores none
    for key in filters:
        torch.testing.assert_close(built[key], ckpt.g_ema[key], atol=1e-8, rtol=0)


@pytest.mark.parametrize("kind", ["T", "R"])
def test_tiny_generators_have_nvidias_names_and_shapes(kind):
    ckpt = tiny_sg3_checkpoint(kind=kind)
    G = ckpt.generator()
    assert isinstance(G, StyleGAN3Generator) and G.num_ws == 6 and G.img_resolution == 16
    keys = set(ckpt.g_ema)
    assert {"synthesis.input.transform", "synthesis.input.freqs", "synthesis.input.phases", "mapping.w_avg",
            "synthesis.L0_20_16.magnitude_ema", "synthesis.L0_20_16.up_filter", "synthesis.L4_16_3.weight"} <= keys
    assert "synthesis.L4_16_3.up_filter" not in keys  # the ToRGB layer does not resample
    radial = ckpt.g_ema["synthesis.L0_20_16.down_filter"]
    assert radial.ndim == (2 if kind == "R" else 1)
    assert ckpt.g_ema["synthesis.L0_20_16.weight"].shape[-1] == (1 if kind == "R" else 3)
    img = G(torch.randn(2, 16))
    assert img.shape == (2, 3, 16, 16) and img.dtype == torch.float32 and torch.isfinite(img).all()


def test_every_ws_row_changes_the_image_and_noise_mode_is_ignored():
    G = tiny_sg3_checkpoint(kind="T").generator()
    ws = seeds_to_ws(G, [1])
    base = G.synthesis(ws)
    for mode in ("none", "random"):
        assert torch.equal(G.synthesis(ws, noise_mode=mode), base)
    for row in range(G.num_ws):
        moved = ws.clone()
        moved[:, row] += 0.5
        assert not torch.allclose(G.synthesis(moved), base, atol=1e-6), f"W+ row {row} has no effect"
    with pytest.raises(InvalidArgumentError, match="noise_mode"):
        G.synthesis(ws, noise_mode="seed-ish")
    with pytest.raises(InvalidArgumentError, match="expects"):
        G.synthesis(ws[:, :3])


def test_batch_rendering_agrees_with_one_by_one():
    G = tiny_sg3_checkpoint(kind="R").generator()
    ws = seeds_to_ws(G, [0, 1, 2])
    together = render_ws(G, ws, batch_size=3)
    alone = render_ws(G, ws, batch_size=1)
    # The style pre-normalisation takes the RMS over the whole batch, so batches differ by rounding only.
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


def test_class_conditioning_changes_the_image():
    G = tiny_sg3_checkpoint(kind="T", c_dim=3).generator()
    a, b = seeds_to_ws(G, [0], class_idx=0), seeds_to_ws(G, [0], class_idx=2)
    assert not torch.allclose(a, b)
    assert not torch.allclose(G.synthesis(a), G.synthesis(b))
    with pytest.raises(InvalidArgumentError, match="conditional"):
        seeds_to_ws(G, [0])


def test_rotation_by_a_full_turn_and_zero_translation_are_the_identity():
    G = tiny_sg3_checkpoint(kind="T").generator()
    ws = seeds_to_ws(G, [2])
    base = G.synthesis(ws)
    set_user_transform(G, (0.0, 0.0), 360.0)
    torch.testing.assert_close(G.synthesis(ws), base, atol=1e-5, rtol=0)
    set_user_transform(G, (0.25, 0.0), 0.0)
    assert not torch.allclose(G.synthesis(ws), base, atol=1e-3)
    inverse = user_transform((0.1, 0.2), 30.0).double().inverse()
    a = np.radians(30.0)
    expected = torch.tensor([[np.cos(a), np.sin(a), 0.1], [-np.sin(a), np.cos(a), 0.2], [0, 0, 1]])
    torch.testing.assert_close(inverse, expected, atol=1e-6, rtol=0)


def test_translate_is_refused_for_stylegan2():
    with pytest.raises(InvalidArgumentError, match="StyleGAN3"):
        set_user_transform(tiny_checkpoint().generator(), (0.1, 0.0), 0.0)
    with pytest.raises(InvalidArgumentError, match="finite"):
        set_user_transform(tiny_sg3_checkpoint().generator(), (float("nan"), 0.0), 0.0)


@pytest.mark.parametrize("kind", ["T", "R"])
def test_native_round_trip_is_bit_exact(tmp_path, kind):
    ckpt = tiny_sg3_checkpoint(kind=kind, c_dim=2 if kind == "R" else 0)
    loaded = load_checkpoint(save_checkpoint(ckpt, tmp_path / "sg3.safetensors"))
    assert loaded.g_config == ckpt.g_config and loaded.format == "native"
    assert set(loaded.g_ema) == set(ckpt.g_ema)
    assert all(torch.equal(loaded.g_ema[k], ckpt.g_ema[k]) for k in ckpt.g_ema)
    G0, G1 = ckpt.generator(), loaded.generator()
    ws = seeds_to_ws(G0, [0], class_idx=0 if kind == "R" else None)
    assert torch.equal(G0.synthesis(ws), G1.synthesis(ws))


@pytest.mark.parametrize("axis", [0, 1])
def test_translation_is_in_image_widths(sg3_fixture_ckpt, axis):
    # Alias-free synthesis is equivariant to translation: moving the input by 0.25 image widths moves the
    # 32 px image by 8 px (right for x, down for y), up to small differences near the border.
    G = sg3_fixture_ckpt.generator()
    ws = seeds_to_ws(G, [0])
    before = G.synthesis(ws)
    set_user_transform(G, (0.25, 0.0) if axis == 0 else (0.0, 0.25), 0.0)
    after = G.synthesis(ws)
    dim = 3 if axis == 0 else 2

    def err(shift: int) -> float:
        return float((after.narrow(dim, 10, 12) - before.narrow(dim, 10 - shift, 12)).abs().mean())

    assert err(8) < 0.1 * min(err(s) for s in range(-10, 11) if s != 8)


@pytest.mark.parametrize("demodulate,per_sample_gain", [(True, False), (True, True), (False, False)])
def test_unfused_modulated_conv_equals_the_fused_reference(demodulate, per_sample_gain):
    from styleblend.nn.stylegan3 import modulated_conv2d_sg3

    gen = torch.Generator().manual_seed(3)
    x = torch.randn(3, 5, 9, 9, generator=gen, dtype=torch.float64)
    weight = torch.randn(4, 5, 3, 3, generator=gen, dtype=torch.float64)
    styles = torch.randn(3, 5, generator=gen, dtype=torch.float64) + 1
    gain = torch.rand(3, 5, generator=gen, dtype=torch.float64) + 0.5 if per_sample_gain else torch.tensor(0.7)
    gain = gain.to(torch.float64)
    args = [t.clone().requires_grad_(True) for t in (x, weight, styles)]
    fused = modulated_conv2d_sg3(*args, demodulate=demodulate, padding=2, input_gain=gain)
    grads_fused = torch.autograd.grad(fused.square().sum(), args)
    unfused = modulated_conv2d_sg3(*args, demodulate=demodulate, padding=2, input_gain=gain, fused=False)
    grads_unfused = torch.autograd.grad(unfused.square().sum(), args)
    assert fused.shape == (3, 4, 11, 11)
    torch.testing.assert_close(unfused, fused, atol=1e-12, rtol=1e-10)
    for a, b in zip(grads_unfused, grads_fused):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-9)


@pytest.mark.parametrize("kind", ["T", "R"])
def test_unfused_synthesis_renders_the_fused_images(kind):
    G = tiny_sg3_checkpoint(kind=kind).generator()
    ws = seeds_to_ws(G, [0, 1, 2])
    with torch.no_grad():
        fused = G.synthesis(ws)
        assert torch.equal(G.synthesis(ws, fused_modconv=True), fused)
        unfused = G.synthesis(ws, fused_modconv=False)
    assert fused.std() > 0.05
    torch.testing.assert_close(unfused, fused, atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", ["T", "R"])
def test_fast_filtered_lrelu_renders_the_reference_images(kind):
    # The network's default (fast) filtered leaky ReLU against the reference op, through every layer.
    G = tiny_sg3_checkpoint(kind=kind).generator()
    assert G.synthesis.filtered_lrelu_impl == "fast"
    ws = seeds_to_ws(G, [0, 1, 2])
    with torch.no_grad():
        fast = G.synthesis(ws)
        G.synthesis.filtered_lrelu_impl = "reference"
        ref = G.synthesis(ws)
    assert ref.std() > 0.05
    torch.testing.assert_close(fast, ref, atol=1e-5, rtol=0)
    G.synthesis.filtered_lrelu_impl = "other"
    with pytest.raises(InvalidArgumentError, match="filtered_lrelu_impl"):
        G.synthesis(ws)


def test_fixture_renders_the_same_with_the_reference_filtered_lrelu(sg3_fixture_ckpt, nvidia_sg3t32):
    # The NVIDIA raw-output tests above run the fast path (the default); this holds the reference to them too.
    G = sg3_fixture_ckpt.generator()
    G.synthesis.filtered_lrelu_impl = "reference"
    imgs = render_ws(G, seeds_to_ws(G, [0, 1]), batch_size=2)
    for seed in range(2):
        ref = np.load(nvidia_sg3t32 / "raw" / f"seed{seed:04d}_psi1.0.npy")
        np.testing.assert_allclose(imgs[seed:seed + 1].numpy(), ref, atol=1e-4, rtol=0)
