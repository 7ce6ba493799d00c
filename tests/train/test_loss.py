"""StyleGAN2 loss: the formulas of each phase, which network gets gradients, regularisers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from styleblend.config import GeneratorConfig, MappingConfig, SynthesisConfig
from styleblend.nn import Discriminator, Generator
from styleblend.train.loss import StyleGAN2Loss
from styleblend.train.options import preset_configs


def tiny_g(res: int = 16) -> Generator:
    torch.manual_seed(0)
    cfg = GeneratorConfig(z_dim=16, w_dim=16, img_resolution=res, mapping=MappingConfig(num_layers=2),
                          synthesis=SynthesisConfig(channel_base=128, channel_max=16))
    return Generator(cfg).train()


class LinearD(nn.Module):
    """D(x) = <w, x> + b: grad_x D = w, so R1 = |w|^2 exactly."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(shape) * 0.1)
        self.b = nn.Parameter(torch.tensor(0.3))

    def forward(self, img, c=None):
        return (img * self.w).flatten(1).sum(1, keepdim=True) + self.b


def _only(params, flag=True):
    for p in params:
        p.requires_grad_(flag)


def test_losses_are_softplus_of_the_logits():
    G, D = tiny_g(), LinearD((3, 16, 16))
    with torch.no_grad():
        D.w.zero_()  # D(x) = b for every image, so every loss has a closed form
    loss = StyleGAN2Loss(G, D, r1_gamma=0, style_mixing_prob=0)
    real, z = torch.rand(4, 3, 16, 16) * 2 - 1, torch.randn(4, 16)
    _only(G.parameters(), False)
    stats = loss.accumulate_gradients("Dmain", real, None, z, None, gain=2.0)
    b = D.b.detach()
    assert stats["loss_D_real"] == pytest.approx(F.softplus(-b).item(), rel=1e-6)
    assert stats["loss_D_fake"] == pytest.approx(F.softplus(b).item(), rel=1e-6)
    # d/db of gain * (softplus(b) + softplus(-b)) = gain * (sigmoid(b) - sigmoid(-b)).
    assert D.b.grad.item() == pytest.approx(2.0 * (torch.sigmoid(b) - torch.sigmoid(-b)).item(), rel=1e-5)
    assert all(p.grad is None for p in G.parameters())
    assert stats["D_real_sign"] == 4 and stats["D_real_count"] == 4
    _only(G.parameters(), True)
    _only(D.parameters(), False)
    stats = loss.accumulate_gradients("Gmain", real, None, z, None, gain=1.0)
    assert stats["loss_G"] == pytest.approx(F.softplus(-b).item(), rel=1e-6)


def test_g_main_trains_g_and_leaves_d_alone():
    G, D = tiny_g(), LinearD((3, 16, 16))
    loss = StyleGAN2Loss(G, D, r1_gamma=0, style_mixing_prob=0)
    _only(D.parameters(), False)
    loss.accumulate_gradients("Gmain", torch.zeros(4, 3, 16, 16), None, torch.randn(4, 16), None, gain=1.0)
    assert all(p.grad is None for p in D.parameters())
    assert G.synthesis.b16.conv1.weight.grad.abs().sum() > 0
    assert G.mapping.fc0.weight.grad.abs().sum() > 0


def test_r1_matches_closed_form_for_linear_d():
    G, D = tiny_g(), LinearD((3, 16, 16))
    gamma, gain = 0.7, 16.0
    loss = StyleGAN2Loss(G, D, r1_gamma=gamma, style_mixing_prob=0)
    _only(G.parameters(), False)
    real = torch.rand(4, 3, 16, 16)
    stats = loss.accumulate_gradients("Dreg", real, None, torch.randn(4, 16), None, gain=gain)
    w = D.w.detach()
    assert stats["r1"] == pytest.approx(w.square().sum().item(), rel=1e-5)
    # d/dw [gain * gamma/2 * |w|^2] = gain * gamma * w; b gets nothing from R1 (real_logits * 0).
    assert torch.allclose(D.w.grad, gain * gamma * w, rtol=1e-5, atol=1e-7)
    assert D.b.grad.abs().item() == 0


def test_path_length_penalty_updates_and_trains_synthesis():
    G, D = tiny_g(), LinearD((3, 16, 16))
    loss = StyleGAN2Loss(G, D, r1_gamma=0, style_mixing_prob=0, pl_weight=2.0, pl_decay=0.01, pl_batch_shrink=2)
    _only(D.parameters(), False)
    stats = loss.accumulate_gradients("Greg", torch.zeros(4, 3, 16, 16), None, torch.randn(4, 16), None, gain=4.0)
    assert stats["pl_length"] > 0 and stats["pl_penalty"] >= 0
    assert G.synthesis.b16.conv1.weight.grad is not None and G.synthesis.b16.conv1.weight.grad.abs().sum() > 0
    assert loss.pl_mean.item() == 0  # the caller moves the running mean (all processes' mean)
    loss.update_pl_mean(stats["pl_length"])
    assert loss.pl_mean.item() == pytest.approx(0.01 * stats["pl_length"], rel=1e-5)


def test_path_length_with_frozen_mapping():
    G, D = tiny_g(), LinearD((3, 16, 16))
    _only(G.mapping.parameters(), False)
    _only(D.parameters(), False)
    loss = StyleGAN2Loss(G, D, r1_gamma=0, style_mixing_prob=0)
    loss.accumulate_gradients("Greg", torch.zeros(4, 3, 16, 16), None, torch.randn(4, 16), None, gain=1.0)
    assert G.mapping.fc0.weight.grad is None
    assert G.synthesis.b8.conv0.weight.grad is not None


def test_style_mixing_replaces_a_suffix_of_ws():
    G, D = tiny_g(), LinearD((3, 16, 16))
    z = torch.randn(2, 16)
    plain = StyleGAN2Loss(G, D, style_mixing_prob=0).run_G(z, None, update_w_avg=False)[1]
    assert torch.equal(plain[:, 0], plain[:, -1])
    torch.manual_seed(3)
    mixed = StyleGAN2Loss(G, D, style_mixing_prob=1.0).run_G(z, None, update_w_avg=False)[1]
    same = [torch.equal(mixed[:, i], plain[:, i]) for i in range(mixed.shape[1])]
    cutoff = same.index(False)
    assert cutoff >= 1 and not any(same[cutoff:]) and all(same[:cutoff])


def test_w_avg_is_tracked_in_training():
    G, D = tiny_g(), LinearD((3, 16, 16))
    before = G.mapping.w_avg.clone()
    loss = StyleGAN2Loss(G, D, style_mixing_prob=0)
    _only(D.parameters(), False)
    loss.accumulate_gradients("Gmain", torch.zeros(2, 3, 16, 16), None, torch.randn(2, 16), None, gain=1.0)
    assert not torch.equal(G.mapping.w_avg, before)


def test_augment_is_applied_to_what_d_sees():
    G, D = tiny_g(), LinearD((3, 16, 16))
    seen = []
    loss = StyleGAN2Loss(G, D, augment=lambda x: seen.append(x.shape) or x * 0, r1_gamma=0, style_mixing_prob=0)
    _only(G.parameters(), False)
    loss.accumulate_gradients("Dmain", torch.ones(2, 3, 16, 16), None, torch.randn(2, 16), None, gain=1.0)
    assert len(seen) == 2  # fakes and reals
    assert D.w.grad.abs().sum().item() == 0  # D only saw zeros


def test_real_networks_all_phases_give_finite_gradients():
    g_cfg, d_cfg = preset_configs("tiny32", 16)
    torch.manual_seed(0)
    G, D = Generator(g_cfg).train(), Discriminator(d_cfg).train()
    loss = StyleGAN2Loss(G, D, r1_gamma=1.0)
    real, z = torch.rand(4, 3, 16, 16) * 2 - 1, torch.randn(4, 32)
    for phase, net, other in (("Gmain", G, D), ("Greg", G, D), ("Dmain", D, G), ("Dreg", D, G)):
        _only(other.parameters(), False)
        _only(net.parameters(), True)
        for p in net.parameters():
            p.grad = None
        loss.accumulate_gradients(phase, real, None, z, None, gain=1.0)
        grads = [p.grad for p in net.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), phase


def test_unknown_phase():
    G, D = tiny_g(), LinearD((3, 16, 16))
    with pytest.raises(ValueError, match="phase"):
        StyleGAN2Loss(G, D).accumulate_gradients("Gfoo", torch.zeros(1, 3, 16, 16), None, torch.zeros(1, 16),
                                                 None, 1.0)
