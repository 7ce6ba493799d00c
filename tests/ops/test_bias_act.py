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


def test_inplace_falls_back_where_it_must_not_overwrite():
    x = torch.randn(2, 3, 4, 4, requires_grad=True)
    b = torch.randn(3)
    out = bias_act(x, b, act="lrelu", inplace=True)  # autograd records x: the reference path
    assert out.data_ptr() != x.data_ptr()
    out.sum().backward()
    assert x.grad is not None
    h = torch.randn(2, 3, 4, 4).half()
    assert bias_act(h, b.half(), act="lrelu", inplace=True).data_ptr() != h.data_ptr()
    e = torch.randn(2, 3, 4, 4).half().float()
    assert torch.equal(bias_act(e.clone(), b, act="lrelu", emulate_fp16=True, inplace=True),
                       bias_act(e, b, act="lrelu", emulate_fp16=True))
    t = torch.randn(2, 3, 4, 4)
    assert bias_act(t, b, act="tanh", inplace=True).data_ptr() != t.data_ptr()
