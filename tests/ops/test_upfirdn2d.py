import pytest
import torch
import torch.nn.functional as F

from styleblend.ops.upfirdn2d import downsample2d, setup_filter, upfirdn2d, upsample2d


def test_setup_filter_is_normalised_outer_product():
    f = setup_filter([1, 3, 3, 1])
    assert f.shape == (4, 4)
    assert torch.allclose(f.sum(), torch.tensor(1.0))
    assert torch.allclose(f, torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64)


def test_upsample_preserves_constant_and_doubles_size():
    x = torch.full([2, 3, 5, 5], 0.7)
    y = upsample2d(x, setup_filter([1, 3, 3, 1]))
    assert y.shape == (2, 3, 10, 10)
    # Interior pixels see the full filter, so a constant stays constant there.
    assert torch.allclose(y[:, :, 2:-2, 2:-2], torch.full_like(y[:, :, 2:-2, 2:-2], 0.7), atol=1e-6)


def test_downsample_preserves_constant_and_halves_size():
    x = torch.full([1, 2, 8, 8], -1.5)
    y = downsample2d(x, setup_filter([1, 3, 3, 1]))
    assert y.shape == (1, 2, 4, 4)
    assert torch.allclose(y[:, :, 1:-1, 1:-1], torch.full_like(y[:, :, 1:-1, 1:-1], -1.5), atol=1e-6)


def test_separable_filter_equals_2d_filter():
    x = torch.randn(1, 2, 9, 9)
    taps = torch.tensor([1.0, 2, 3, 2, 1, 1, 1, 1])  # 8 taps -> NVIDIA would keep it separable
    f1 = taps / taps.sum()
    f2 = torch.outer(f1, f1)
    a = upfirdn2d(x, f1, up=2, padding=3)
    b = upfirdn2d(x, f2, up=2, padding=3)
    assert torch.allclose(a, b, atol=1e-6)


def test_negative_padding_crops():
    x = torch.arange(36.0).reshape(1, 1, 6, 6)
    y = upfirdn2d(x, None, padding=[-1, -2, -1, 0])
    assert torch.equal(y, x[:, :, 1:, 1:4])


@pytest.mark.parametrize("up", [1, 2])
@pytest.mark.parametrize("separable", [False, True])
@pytest.mark.parametrize("pad", [1, 2])
def test_symmetric_padding_in_the_convolution_is_the_explicit_pad_bit_for_bit(up, separable, pad):
    """upfirdn2d leaves symmetric zero padding to the convolution: the same values as padding first."""
    torch.manual_seed(up * 10 + pad)
    x = torch.randn(2, 5, 9, 7)
    f = setup_filter([1, 3, 3, 1])
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8
    out = upfirdn2d(x, taps if separable else f, up=up, padding=pad, gain=up * up)
    # The explicit reference: zero-insert, pad, filter (flipped: a true convolution), as the docstring says.
    n, c, h, w = x.shape
    z = torch.zeros(n, c, h * up, w * up)
    z[:, :, ::up, ::up] = x
    z = F.pad(z, [pad] * 4)
    if separable:
        g = (taps * up).flip(0)
        z = F.conv2d(z, g[None, None, None].repeat(c, 1, 1, 1), groups=c)
        ref = F.conv2d(z, g[None, None, :, None].repeat(c, 1, 1, 1), groups=c)
    else:
        ref = F.conv2d(z, (f * up * up).flip([0, 1])[None, None].repeat(c, 1, 1, 1), groups=c)
    assert torch.equal(out, ref)
