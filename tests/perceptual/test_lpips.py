"""The one LPIPS-style distance: Eq. 1 of Zhang et al. by hand, per pair, and the projection loss on it."""

import pytest
import torch

from styleblend.perceptual.lpips import LPIPS
from styleblend.perceptual.vgg import LPIPS_LAYERS, VGG16Features
from styleblend.project.losses import LPIPSLoss


@pytest.fixture(scope="module")
def vgg():
    torch.manual_seed(0)
    return VGG16Features().eval().requires_grad_(False)  # random weights: the formula, not the values


def by_hand(vgg, x, y, weights=None):
    fx, fy = vgg(x, LPIPS_LAYERS), vgg(y, LPIPS_LAYERS)
    out = torch.zeros(x.shape[0])
    for i, name in enumerate(LPIPS_LAYERS):
        a = fx[name] / (fx[name].norm(dim=1, keepdim=True) + 1e-10)
        b = fy[name] / (fy[name].norm(dim=1, keepdim=True) + 1e-10)
        w = weights[i].view(1, -1, 1, 1) if weights is not None else 1.0
        out += (w * (a - b) ** 2).sum(dim=1).mean(dim=(1, 2))
    return out


def test_the_distance_is_eq_1_per_pair(vgg):
    x, y = torch.rand(3, 3, 32, 32) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    d = LPIPS(vgg)(x, y)
    assert d.shape == (3,) and torch.allclose(d, by_hand(vgg, x, y), rtol=1e-4)
    assert LPIPS(vgg)(x, x).abs().max() < 1e-6
    assert "unit channel weights" in LPIPS(vgg).name and not LPIPS(vgg).learned


def test_learned_weights_scale_the_channels(vgg):
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    weights = [torch.rand(c) for c in (64, 128, 256, 512, 512)]
    vgg.lpips_weights = weights
    try:
        assert LPIPS(vgg).learned and "learned" in LPIPS(vgg).name
        assert torch.allclose(LPIPS(vgg)(x, y), by_hand(vgg, x, y, weights), rtol=1e-4)
    finally:
        vgg.lpips_weights = None


def test_large_images_are_downsampled_unless_max_size_is_none(vgg):
    x, y = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
    small = torch.nn.functional.interpolate(torch.cat([x, y]), size=(32, 32), mode="area")
    assert torch.allclose(LPIPS(vgg, max_size=32)(x, y), by_hand(vgg, small[:1], small[1:]), rtol=1e-4)
    assert torch.allclose(LPIPS(vgg, max_size=None)(x, y), by_hand(vgg, x, y), rtol=1e-4)


def test_the_projection_loss_is_the_mean_distance(vgg):
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    loss = LPIPSLoss(vgg)
    assert loss(x, y).item() == pytest.approx(LPIPS(vgg)(x, y).mean().item(), rel=1e-5)
    assert loss(y, y).item() == pytest.approx(0.0, abs=1e-6)  # same target tensor: cached features reused
