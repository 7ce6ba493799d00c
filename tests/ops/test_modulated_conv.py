import pytest
import torch

from styleblend.ops.modulated_conv import modulated_conv2d
from styleblend.ops.upfirdn2d import setup_filter


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
def test_fused_equals_unfused(up, demodulate):
    torch.manual_seed(0)
    x = torch.randn(3, 4, 8, 8)
    weight = torch.randn(5, 4, 3, 3)
    styles = torch.randn(3, 4)
    noise = torch.randn(3, 1, 8 * up, 8 * up)
    f = setup_filter([1, 3, 3, 1])
    kw = dict(up=up, padding=1, resample_filter=f, demodulate=demodulate, flip_weight=(up == 1))
    a = modulated_conv2d(x, weight, styles, noise=noise, fused=True, **kw)
    b = modulated_conv2d(x, weight, styles, noise=noise, fused=False, **kw)
    assert a.shape == (3, 5, 8 * up, 8 * up)
    assert torch.allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("demodulate", [True, False])
@pytest.mark.parametrize("noise_shape", [None, "map", "per-sample"])
def test_lean_form_equals_fused_with_gradients(up, demodulate, noise_shape):
    """The lean unfused form (projection steps) against the fused reference: outputs and the gradients w.r.t.
    input, styles and noise, to float32 rounding of sums over up to 16 * 9 terms (relative 1e-5)."""
    torch.manual_seed(3)
    x = torch.randn(2, 16, 8, 8, requires_grad=True)
    weight = torch.randn(12, 16, 3, 3)
    styles = (torch.randn(2, 16) + 1).requires_grad_(True)
    size = 8 * up
    noise = {None: None, "map": torch.randn(size, size), "per-sample": torch.randn(2, 1, size, size)}[noise_shape]
    inputs = [x, styles]
    if noise is not None:
        noise.requires_grad_(True)
        inputs.append(noise)
    kw = dict(noise=noise, up=up, padding=1, resample_filter=setup_filter([1, 3, 3, 1]), demodulate=demodulate,
              flip_weight=(up == 1))
    ref = modulated_conv2d(x, weight, styles, fused=True, **kw)
    lean = modulated_conv2d(x, weight, styles, fused=False, lean=True, **kw)
    torch.testing.assert_close(lean, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    grad_out = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad(lean, inputs, grad_out), torch.autograd.grad(ref, inputs, grad_out)):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5 * r.abs().max().item())


def test_lean_form_is_only_taken_for_float32():
    """Float16 (native or emulated) keeps its rounding-exact paths: lean is ignored there."""
    torch.manual_seed(4)
    x = torch.randn(1, 8, 6, 6).half().float()
    weight, styles = torch.randn(4, 8, 3, 3), torch.rand(1, 8) + 0.5
    for kw in (dict(emulate_fp16=True), dict()):
        xin = x if kw else x.half()
        assert torch.equal(modulated_conv2d(xin, weight, styles, padding=1, fused=False, lean=True, **kw),
                           modulated_conv2d(xin, weight, styles, padding=1, fused=False, **kw))


def test_demodulation_gives_unit_output_variance():
    torch.manual_seed(1)
    x = torch.randn(4, 64, 16, 16)
    y = modulated_conv2d(x, torch.randn(32, 64, 3, 3), torch.rand(4, 64) * 5 + 0.1, padding=1)
    # Demodulation (StyleGAN2 Eq. 3) restores unit variance for unit-variance input.
    assert 0.8 < y[:, :, 2:-2, 2:-2].std().item() < 1.2


def test_second_order_gradients_exist():
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    weight = torch.randn(4, 3, 3, 3, requires_grad=True)
    y = modulated_conv2d(x, weight, torch.randn(2, 3), up=2, padding=1, resample_filter=setup_filter([1, 3, 3, 1]),
                         flip_weight=False, fused=False)
    (g,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.square().sum(), weight)
    assert torch.isfinite(gg).all() and gg.abs().sum() > 0


@pytest.mark.parametrize("fused", [True, False])
def test_float16_pre_normalisation_avoids_overflow(fused):
    """Weights and styles whose modulated products overflow float16 (max 65504) still give the
    float32 result in float16 layers, because demodulation cancels the pre-normalisation."""
    torch.manual_seed(2)
    x = torch.randn(2, 16, 8, 8)
    weight = torch.randn(8, 16, 3, 3) * 300
    styles = torch.rand(2, 16) * 300 + 1
    reference = modulated_conv2d(x, weight, styles, padding=1, fused=fused)
    half = modulated_conv2d(x.half(), weight, styles, padding=1, fused=fused)
    assert half.dtype == torch.float16 and torch.isfinite(half).all()
    torch.testing.assert_close(half.float(), reference, atol=2e-2, rtol=1e-2)
    # Without demodulation nothing is rescaled: the output keeps the styles' scale.
    plain = modulated_conv2d(x.half(), weight / 300, styles / 300, padding=1, demodulate=False, fused=fused)
    expected = modulated_conv2d(x, weight / 300, styles / 300, padding=1, demodulate=False, fused=fused)
    torch.testing.assert_close(plain.float(), expected, atol=2e-2, rtol=1e-2)
