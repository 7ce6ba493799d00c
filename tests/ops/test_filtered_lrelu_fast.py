"""The fast filtered leaky ReLU against the reference op, on the layer configurations of StyleGAN3-T and -R.

Tolerances: in float64 both paths compute the same sums of the same products in another order, so they agree to
a few units of float64 rounding (1e-12 is thousands of times looser than that and a billion times tighter than
any real mistake, such as an off-by-one tap). In float32 each output sums up to 24 x 24 up-sampling and 12 x 12
down-sampling products; reordering them moves the result by a few float32 ulps of the largest terms, so 2e-6 of
the output's scale is allowed (measured: at most 3e-7 on the 256 px FFHQ shapes).
"""

from __future__ import annotations

import math

import pytest
import torch

import styleblend.ops.filtered_lrelu_fast as fast_module
from styleblend.ops.filtered_lrelu import filtered_lrelu
from styleblend.ops.filtered_lrelu_fast import axis_matrix, filtered_lrelu_fast

from ..conftest import tiny_sg3_checkpoint


def _layer_configs(kind: str) -> list[tuple[str, dict]]:
    """Every synthesis layer's filters, factors and paddings of a tiny StyleGAN3-``kind`` generator."""
    G = tiny_sg3_checkpoint(kind=kind).generator()
    out = []
    for name in G.synthesis.layer_names:
        layer = getattr(G.synthesis, name)
        s = layer.spec
        out.append((name, dict(fu=layer.up_filter, fd=layer.down_filter, up=s.up_factor, down=s.down_factor,
                               padding=s.padding, channels=s.out_channels)))
    return out


LAYERS = [(kind, name, cfg) for kind in ("T", "R") for name, cfg in _layer_configs(kind)]


@pytest.fixture(params=["matmul", "conv"])
def form(request, monkeypatch):
    """Run the 1-D passes as band-matrix products everywhere, or as convolutions everywhere, and in small
    channel groups (so the grouping is exercised too)."""
    monkeypatch.setattr(fast_module, "MATMUL_MAX_LENGTH", 10**9 if request.param == "matmul" else 0)
    monkeypatch.setattr(fast_module, "CHUNK_ELEMENTS", 2000)
    return request.param


def _both(x, b, cfg, **kw):
    args = dict(fu=cfg["fu"], fd=cfg["fd"], up=cfg["up"], down=cfg["down"], padding=cfg["padding"])
    args.update(kw)
    fu, fd = args["fu"], args["fd"]
    args["fu"] = None if fu is None else fu.to(x.dtype)
    args["fd"] = None if fd is None else fd.to(x.dtype)
    return filtered_lrelu(x, b=b, **args), filtered_lrelu_fast(x, b=b, **args)


@pytest.mark.parametrize("kind,name,cfg", LAYERS, ids=[f"{k}-{n}" for k, n, _ in LAYERS])
def test_equals_the_reference_on_every_layer_in_float64(kind, name, cfg, form):
    torch.manual_seed(0)
    n, c = 2, 3
    size = 13 + int(cfg["up"])  # odd and even input sizes across the layers; width differs from height
    x = torch.randn(n, c, size, size + 3, dtype=torch.float64) * 2
    b = torch.randn(c, dtype=torch.float64)
    ref, ours = _both(x, b, cfg, gain=math.sqrt(2), slope=0.2, clamp=1.0)
    assert ours.shape == ref.shape
    unclamped, _ = _both(x, b, cfg, gain=math.sqrt(2), slope=0.2, clamp=None)
    assert ref.abs().max() > 0.1 and (ref - unclamped).abs().max() > 0.01  # the clamp bites (before fd)
    torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", ["T", "R"])
@pytest.mark.parametrize("clamp,gain,slope,flip", [(None, 1.0, 1.0, False), (0.5, 2.0, 0.3, True),
                                                   (256.0, math.sqrt(2), 0.2, False), (None, 0.7, 0.0, True)])
def test_equals_the_reference_with_any_clamp_gain_slope_and_orientation(kind, clamp, gain, slope, flip, form):
    torch.manual_seed(1)
    configs = [cfg for k, _, cfg in LAYERS if k == kind]
    for cfg in (configs[0], configs[len(configs) // 2], configs[-2]):
        x = torch.randn(1, 5, 11, 9, dtype=torch.float64)
        ref, ours = _both(x, None, cfg, gain=gain, slope=slope, clamp=clamp, flip_filter=flip)
        torch.testing.assert_close(ours, ref, atol=1e-12, rtol=0)


@pytest.mark.parametrize("kind", ["T", "R"])
def test_float32_is_within_rounding_of_the_reference(kind, form):
    torch.manual_seed(2)
    for _, _, cfg in [layer for layer in LAYERS if layer[0] == kind]:
        x = torch.randn(2, 4, 17, 17)
        ref, ours = _both(x, torch.randn(4), cfg, clamp=256.0)
        torch.testing.assert_close(ours, ref, atol=2e-6 * float(ref.abs().max()), rtol=0)


def test_gradients_equal_the_reference():
    # Projection backpropagates through this op: the fast path must give the reference's gradients too.
    torch.manual_seed(3)
    cfg = [c for k, _, c in LAYERS if k == "R"][1]
    x = torch.randn(1, 3, 12, 12, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)
    grads = []
    for fn in (filtered_lrelu, filtered_lrelu_fast):
        out = fn(x, cfg["fu"].double(), cfg["fd"].double(), b, up=cfg["up"], down=cfg["down"],
                 padding=cfg["padding"], clamp=1.5)
        grads.append(torch.autograd.grad((out * torch.linspace(-1, 1, out.numel()).reshape(out.shape)
                                          .double()).sum(), [x, b]))
    for a, r in zip(grads[1], grads[0]):
        torch.testing.assert_close(a, r, atol=1e-12, rtol=0)


def test_identity_filters_only_add_the_bias_and_activate():
    x, b = torch.randn(2, 4, 5, 7), torch.randn(4)
    torch.testing.assert_close(filtered_lrelu_fast(x, None, None, b, gain=1, slope=1), x + b.reshape(1, -1, 1, 1))
    torch.testing.assert_close(filtered_lrelu_fast(x, gain=2.0, slope=0.3), torch.where(x >= 0, x, 0.3 * x) * 2)


def test_axis_matrix_is_zero_stuffing_padding_filtering_and_decimation():
    # Column o of the matrix is the response to each input sample, built step by step for one small case.
    h = torch.tensor([1.0, 2.0, 3.0])
    x_len, up, down, pad0, pad1 = 4, 2, 3, 1, -2
    m = axis_matrix(h, x_len, up, down, pad0, pad1)
    for i in range(x_len):
        z = torch.zeros(x_len * up)
        z[i * up] = 1.0
        p = torch.cat([torch.zeros(pad0), z])[: x_len * up + pad0 + pad1]
        c = torch.stack([(p[m0:m0 + 3] * h).sum() for m0 in range(p.numel() - 2)])
        torch.testing.assert_close(m[i], c[::down])


def test_rejects_what_the_reference_rejects():
    with pytest.raises(ValueError, match="N, C, H, W"):
        filtered_lrelu_fast(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="up"):
        filtered_lrelu_fast(torch.zeros(1, 1, 4, 4), down=0)
