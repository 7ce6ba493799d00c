"""The discriminator-feature perceptual loss, loss selection, and the D feature taps it reads."""

from __future__ import annotations

import pytest
import torch

from styleblend.errors import InvalidArgumentError, MissingWeightsError
from styleblend.metrics.quality import psnr
from styleblend.project import project, settings_for, synthesize
from styleblend.project.losses import (
    DiscriminatorFeatureDistance,
    LossTerm,
    WeightedLoss,
    dfeat_loss,
    resolve_loss,
)
from styleblend.project.projector import w_statistics


@pytest.fixture()
def tiny_D(tiny_ckpt_d):
    return tiny_ckpt_d.discriminator("cpu")


def _images(G, n=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return synthesize(G, G.mapping(torch.randn([n, G.z_dim], generator=g)))


def test_discriminator_features_one_per_block_resolution_and_forward_unchanged(tiny_D):
    img = torch.rand([2, 3, 32, 32], generator=torch.Generator().manual_seed(0)) * 2 - 1
    feats = tiny_D.features(img)
    # conv0 of b32, b16, b8 at their resolutions, then the 4x4 output of the last block.
    assert [tuple(f.shape[2:]) for f in feats] == [(32, 32), (16, 16), (8, 8), (4, 4)]
    assert all(f.shape[0] == 2 for f in feats)
    # The taps are removed again: the plain forward is what it was, and runs without collecting anything.
    assert not any(block.conv0._forward_hooks for block in (tiny_D.b32, tiny_D.b16, tiny_D.b8))
    assert tiny_D(img).shape == (2, 1)
    # Features of one image do not depend on the rest of the batch (no minibatch-stddev in the taps).
    single = tiny_D.features(img[:1])
    assert all(torch.allclose(a[:1], b, atol=1e-5) for a, b in zip(feats, single))


def test_dfeat_distance_zero_for_identical_grows_with_perturbation(tiny_G, tiny_D):
    dist = DiscriminatorFeatureDistance(tiny_D)
    x = _images(tiny_G, n=1)
    assert dist(x.clone(), x).item() == pytest.approx(0.0, abs=1e-6)
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(x.shape, generator=g)
    values = [dist((x + s * noise).clamp(-1, 1), x).item() for s in (0.02, 0.1, 0.3, 1.0)]
    assert all(b > a for a, b in zip(values, values[1:])), values
    assert values[0] > 0
    # LPIPS-style bound: each of the 4 taps contributes at most 4 (two unit vectors differ by <= 2).
    assert values[-1] <= 4 * 4


def test_dfeat_has_gradients_wrt_the_synthesised_image(tiny_G, tiny_D):
    dist = DiscriminatorFeatureDistance(tiny_D)
    target = _images(tiny_G, n=1, seed=0)
    synth = _images(tiny_G, n=1, seed=1).requires_grad_(True)
    dist(synth, target).backward()
    assert synth.grad is not None and torch.isfinite(synth.grad).all() and synth.grad.abs().sum() > 0
    assert all(p.grad is None for p in tiny_D.parameters())  # D stays frozen


def test_projection_with_dfeat_converges_on_a_tiny_model(tiny_G, tiny_D):
    """A W target is recovered with the D-feature distance as the only loss term.

    Measured: the mean-w start is 7.8 dB from the target; 60 W-space steps at lr 0.1 reach 27.6 dB (31.8 dB
    with the dfeat loss's MSE term added). The bar (> start + 15 dB and a 20x lower distance) fails if the
    features carried no usable gradient.
    """
    g = torch.Generator().manual_seed(3)
    ws_true = tiny_G.mapping(torch.randn([1, tiny_G.z_dim], generator=g))
    target = synthesize(tiny_G, ws_true)
    loss = WeightedLoss([LossTerm("dfeat", 1.0, DiscriminatorFeatureDistance(tiny_D))])
    settings = settings_for("image2stylegan", space="w", steps=60, lr=0.1, num_w_samples=500)
    r = project(tiny_G, target, settings, loss, seed=0)
    w_mean, _ = w_statistics(tiny_G, 500, torch.Generator().manual_seed(0))
    start = psnr(synthesize(tiny_G, w_mean.view(1, 1, -1).repeat(1, tiny_G.num_ws, 1)), target).item()
    got = psnr(synthesize(tiny_G, r.ws), target).item()
    assert got > start + 15, (start, got)
    assert r.history[-1]["dfeat"] < r.history[0]["dfeat"] / 20
    full = dfeat_loss(tiny_D)
    assert full.kind == "dfeat" and {"dfeat", "mse"} == {t.name for t in full.terms}


def test_resolve_loss_choice(tiny_D, no_vgg):
    loss, vgg, text = resolve_loss("fast", discriminator=tiny_D)  # no VGG weights, a D: dfeat, said so
    assert loss.kind == "dfeat" and vgg is None and "discriminator" in text
    loss, _, text = resolve_loss("fast")  # neither: the visible pixel fallback
    assert loss.kind == "pixel" and "no VGG-16 weights" in text
    loss, _, text = resolve_loss("fast", kind="pixel", discriminator=tiny_D)  # asked for: no warning
    assert loss.kind == "pixel" and text is None
    with pytest.raises(InvalidArgumentError, match="discriminator"):
        resolve_loss("fast", kind="dfeat")
    with pytest.raises(MissingWeightsError):
        resolve_loss("fast", kind="vgg", discriminator=tiny_D)
    with pytest.raises(InvalidArgumentError, match="must be one of"):
        resolve_loss("fast", kind="lpips")
