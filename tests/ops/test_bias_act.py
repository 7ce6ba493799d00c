"""bias_act's in-place path against the reference: the same kernels writing into their input."""

import pytest
import torch

from styleblend.ops.bias_act import bias_act


@pytest.mark.parametrize("act", ["linear", "relu", "lrelu"])
@pytest.mark.parametrize("clamp", [None, 0.5])
@pytest.mark.parametrize("gain", [None, 1.0, 0.7])
def test_inplace_equals_reference_bit_for_bit(act, clamp, gain):
    torch.manual_seed(0)
    x = torch.randn(2, 5, 7, 3)
    b = torch.randn(5)
    ref = bias_act(x, b, act=act, gain=gain, clamp=clamp)
    y = x.clone()
    out = bias_act(y, b, act=act, gain=gain, clamp=clamp, inplace=True)
    assert torch.equal(out, ref)
    assert out.data_ptr() == y.data_ptr() and torch.equal(y, ref)  # written into its input


@pytest.mark.parametrize("act", ["linear", "relu", "lrelu"])
@pytest.mark.parametrize("gain", [None, 1.0, 0.7])
@pytest.mark.parametrize("bias_grad", [False, True])
def test_inplace_under_autograd_equals_reference_bit_for_bit(act, gain, bias_grad):
    """With a gradient recorded, the in-place path runs inside an autograd Function: the same values and the
    same gradients (x and bias), bit for bit, and a second-order gradient (R1, path length) as the reference's."""
    torch.manual_seed(1)
    x0 = torch.randn(2, 5, 7, 3, requires_grad=True)
    b = torch.randn(5, requires_grad=bias_grad)
    ref = bias_act(x0 * 2, b, act=act, gain=gain)
    y = x0 * 2  # a fresh intermediate the caller owns, as a layer's convolution output
    out = bias_act(y, b, act=act, gain=gain, inplace=True)
    assert out.data_ptr() == y.data_ptr() and torch.equal(out, ref)
    inputs = [x0, b] if bias_grad else [x0]
    grad_out = torch.randn_like(ref)
    for a, r in zip(torch.autograd.grad(out, inputs, grad_out), torch.autograd.grad(ref, inputs, grad_out)):
        assert torch.equal(a, r)
    (g1,) = torch.autograd.grad(bias_act(x0 * 2, b, act=act, gain=gain, inplace=True).square().sum(), x0,
                                create_graph=True)
    (g2,) = torch.autograd.grad(bias_act(x0 * 2, b, act=act, gain=gain).square().sum(), x0, create_graph=True)
    for a, r in zip(torch.autograd.grad(g1.square().sum(), inputs), torch.autograd.grad(g2.square().sum(), inputs)):
        torch.testing.assert_close(a, r, rtol=1e-6, atol=1e-6)


def test_inplace_falls_back_where_it_must_not_overwrite():
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    b = torch.randn(3)
    out = bias_act(x, b, act="lrelu", inplace=True)  # x is a leaf autograd needs: the reference path
    assert out.data_ptr() != x.data_ptr()
    out.sum().backward()
    assert x.grad is not None
    v = (x * 1).reshape(2, 3, 16).reshape(2, 3, 4, 4)  # a view: writing it would make autograd copy its base
    assert bias_act(v, b, act="lrelu", inplace=True).data_ptr() != v.data_ptr()
    c = x * 1  # a clamp under autograd: its gradient needs the pre-clamp values
    assert bias_act(c, b, act="lrelu", clamp=0.5, inplace=True).data_ptr() != c.data_ptr()
    h = torch.randn(2, 3, 4, 4).half()
    assert bias_act(h, b.half(), act="lrelu", inplace=True).data_ptr() != h.data_ptr()
    e = torch.randn(2, 3, 4, 4).half().float()
    assert torch.equal(bias_act(e.clone(), b, act="lrelu", emulate_fp16=True, inplace=True),
                       bias_act(e, b, act="lrelu", emulate_fp16=True))
    t = torch.randn(2, 3, 4, 4)
    assert bias_act(t, b, act="tanh", inplace=True).data_ptr() != t.data_ptr()
