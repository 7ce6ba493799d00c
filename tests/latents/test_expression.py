"""Expression transfer: the threshold zeroes exactly the small channels."""

import pytest
import torch

from styleblend.errors import InvalidArgumentError
from styleblend.latents.expression import (
    channel_norms,
    expression_delta,
    expression_strip,
    expression_transfer,
    normalize_delta,
    threshold_channels,
)


def test_threshold_zeroes_exactly_the_channels_below_tau():
    torch.manual_seed(0)
    num_ws, w_dim = 6, 10
    d = torch.randn(num_ws, w_dim) * 0.2
    big = [1, 4, 7]
    d[:, big] = torch.randn(num_ws, 3) * 2 + 1
    norms = channel_norms(d)
    out, keep = threshold_channels(d, 1.0)
    assert keep.tolist() == (norms >= 1.0).tolist()
    assert set(torch.nonzero(keep).flatten().tolist()) == set(big)
    assert torch.equal(out[:, keep], d[:, keep])
    assert torch.count_nonzero(out[:, ~keep]) == 0
    # tau equal to a channel's norm keeps it (the rule is "below tau is zeroed").
    out, keep = threshold_channels(d, float(norms[4]))
    assert bool(keep[4])
    assert torch.equal(threshold_channels(d, 0.0)[0], d)


def test_transfer_formula_and_strip():
    w1, w2, w3 = (torch.randn(1, 8, 16) for _ in range(3))
    delta = expression_delta(w2, w3, tau=0.0)
    assert torch.allclose(expression_transfer(w1, delta, 0.5), w1 + 0.5 * (w3 - w2))
    strip = expression_strip(w1, delta, [0.0, 1.0, 2.0])
    assert strip.shape == (3, 8, 16)
    assert torch.equal(strip[0], w1[0]) and torch.allclose(strip[2], w1[0] + 2 * (w3 - w2)[0], atol=1e-6)
    with pytest.raises(InvalidArgumentError):
        expression_strip(w1, delta, [])


def test_normalisation():
    d = torch.randn(2, 8, 16)
    assert torch.allclose(normalize_delta(d, "unit").flatten(1).norm(dim=1), torch.ones(2))
    assert torch.allclose(normalize_delta(d, "layer").norm(dim=-1), torch.ones(2, 8))
    assert torch.equal(normalize_delta(torch.zeros(8, 4), "unit"), torch.zeros(8, 4))
    with pytest.raises(InvalidArgumentError):
        normalize_delta(d, "max")
