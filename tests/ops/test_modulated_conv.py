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
