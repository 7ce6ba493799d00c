"""The polyphase up-sampling path against the reference transposed convolution.

Tolerance: both paths sum the same products in float32, in different orders. For a sum of n terms, each
float32 result lies within gamma_n * sum|terms| of the exact value (gamma_n = n u / (1 - n u), u = 2^-24;
Higham, Accuracy and Stability of Numerical Algorithms, Sec. 3.1), so the two differ by at most twice that,
element by element; ``sum|terms|`` is the same operator applied to |x| and |w|. The filter that follows adds
its own (exact-order, shared) terms, covered by the same bound on the composite.
"""

import itertools

import pytest
import torch
import torch.nn.functional as F

from styleblend.ops.conv2d_resample import conv2d_resample
from styleblend.ops.modulated_conv import modulated_conv2d
from styleblend.ops.polyphase import conv_transpose2d_polyphase
from styleblend.ops.upfirdn2d import setup_filter

U = 2.0**-24


def bound(n_terms: int, magnitude: torch.Tensor) -> torch.Tensor:
    gamma = n_terms * U / (1 - n_terms * U)
    return 2 * gamma * magnitude + 1e-30


@pytest.mark.parametrize("stride,k,groups,padding,pad_output", [
    (s, k, g, p, po) for s, k, g, p, po in itertools.product(
        [1, 2, 3], [1, 2, 3, 4, 5], [1, 3], [(0, 0), (1, 0), (2, 1)], [(0, 0, 0, 0), (2, 0, 1, 3)])])
def test_equals_conv_transpose2d(stride, k, groups, padding, pad_output):
    torch.manual_seed(stride * 100 + k * 10 + groups)
    x = torch.randn(2, 3 * groups, 5, 6)
    w = torch.randn(3 * groups, 2, k, k + 1)
    ref = F.pad(F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups), pad_output)
    out = conv_transpose2d_polyphase(x, w, stride, padding=padding, groups=groups, pad_output=pad_output)
    assert out.shape == ref.shape
    magnitude = F.pad(F.conv_transpose2d(x.abs(), w.abs(), stride=stride, padding=padding, groups=groups),
                      pad_output)
    assert ((out - ref).abs() <= bound(3 * k * (k + 1), magnitude)).all()
    # The border pad_output adds is exactly zero, as F.pad's.
    left, right, top, bottom = pad_output
    assert torch.equal(out[:, :, :top], ref[:, :, :top]) and torch.equal(out[..., :left], ref[..., :left])


@pytest.mark.parametrize("stride,k", [(2, 3), (2, 1), (3, 2)])
def test_gradients_equal_conv_transpose2d(stride, k):
    """Under autograd the phases are interleaved by a Function whose backward hands each phase its strided view
    of the gradient: the gradients w.r.t. x and w equal the transposed convolution's to float32 rounding."""
    torch.manual_seed(stride * 10 + k)
    x = torch.randn(2, 4, 5, 6, requires_grad=True)
    w = torch.randn(4, 3, k, k, requires_grad=True)
    ref = F.pad(F.conv_transpose2d(x, w, stride=stride, padding=(1, 0)), (1, 2, 0, 1))
    out = conv_transpose2d_polyphase(x, w, stride, padding=(1, 0), pad_output=(1, 2, 0, 1))
    grad_out = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad(out, [x, w], grad_out), torch.autograd.grad(ref, [x, w], grad_out)):
        torch.testing.assert_close(a, r, rtol=1e-5, atol=1e-5 * r.abs().max().item())


def test_rejects_inconsistent_shapes():
    with pytest.raises(ValueError, match="inconsistent"):
        conv_transpose2d_polyphase(torch.randn(1, 4, 3, 3), torch.randn(3, 2, 3, 3), 2)


@pytest.mark.parametrize("fir", [True, False])
@pytest.mark.parametrize("groups,channels", [(1, 5), (3, 7)])
@pytest.mark.parametrize("flip_weight", [True, False])
def test_conv2d_resample_up_equals_reference(fir, groups, channels, flip_weight):
    """Odd channel counts, batch > 1, grouped (as the fused modulated convolution runs) and not, with and
    without the FIR filter after the transposed convolution."""
    torch.manual_seed(groups * 10 + channels)
    x = torch.randn(2, channels * groups, 9, 7)
    w = torch.randn(3 * groups, channels, 3, 3)
    f = setup_filter([1, 3, 3, 1]) if fir else None
    kw = dict(f=f, up=2, padding=1, groups=groups, flip_weight=flip_weight)
    ref = conv2d_resample(x, w, **kw)
    out = conv2d_resample(x, w, polyphase=True, **kw)
    assert out.shape == ref.shape == (2, 3 * groups, 18, 14)
    magnitude = conv2d_resample(x.abs(), w.abs(), **{**kw, "f": f.abs() if f is not None else None})
    n_terms = channels * 9 * (16 if fir else 1)
    assert ((out - ref).abs() <= bound(n_terms, magnitude)).all()


def test_polyphase_runs_no_transposed_convolution(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("conv_transpose2d called")

    x, w, f = torch.randn(1, 4, 5, 5), torch.randn(3, 4, 3, 3), setup_filter([1, 3, 3, 1])
    ref = conv2d_resample(x, w, f=f, up=2, padding=1)
    monkeypatch.setattr(F, "conv_transpose2d", refuse)
    assert conv2d_resample(x, w, f=f, up=2, padding=1, polyphase=True).shape == ref.shape
    with pytest.raises(AssertionError, match="called"):
        conv2d_resample(x, w, f=f, up=2, padding=1)


@pytest.mark.parametrize("fused", [True, False])
def test_modulated_conv_polyphase_equals_reference(fused):
    torch.manual_seed(3)
    x = torch.randn(3, 5, 8, 8)
    weight = torch.randn(7, 5, 3, 3)
    styles = torch.randn(3, 5)
    noise = torch.randn(3, 1, 16, 16)
    kw = dict(noise=noise, up=2, padding=1, resample_filter=setup_filter([1, 3, 3, 1]), flip_weight=False,
              fused=fused)
    ref = modulated_conv2d(x, weight, styles, **kw)
    out = modulated_conv2d(x, weight, styles, polyphase=True, **kw)
    # Demodulated outputs are about unit scale; 5 * 9 * 16 terms of that scale.
    torch.testing.assert_close(out, ref, atol=bound(5 * 9 * 16, torch.tensor(30.0)).item(), rtol=0)


@pytest.mark.parametrize("emulate", [True, False])
def test_float16_keeps_the_transposed_convolution(emulate):
    """Float16 blocks reproduce the transposed convolution's tap-by-tap roundings: polyphase is not used."""
    torch.manual_seed(4)
    x = torch.randn(2, 4, 6, 6).half()
    x = x.float() if emulate else x
    kw = dict(up=2, padding=1, resample_filter=setup_filter([1, 3, 3, 1]), flip_weight=False, fused=True,
              emulate_fp16=emulate)
    weight, styles = torch.randn(3, 4, 3, 3), torch.randn(2, 4)
    ref = modulated_conv2d(x, weight, styles, **kw)
    assert torch.equal(modulated_conv2d(x, weight, styles, polyphase=True, **kw), ref)
