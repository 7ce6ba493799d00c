"""StyleGAN2 loss: the formulas of each phase, which network gets gradients, regularisers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from styleblend.config import GeneratorConfig, MappingConfig, SynthesisConfig
from styleblend.nn import Discriminator, Generator
from styleblend.train.loss import StyleGAN2Loss, stat_means
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
    sums = loss.accumulate_gradients("Dmain", real, None, z, None, gain=2.0)
    stats = stat_means(sums)
    b = D.b.detach()
    assert stats["loss_D_real"] == pytest.approx(F.softplus(-b).item(), rel=1e-6)
    assert stats["loss_D_fake"] == pytest.approx(F.softplus(b).item(), rel=1e-6)
    # d/db of gain * (softplus(b) + softplus(-b)) = gain * (sigmoid(b) - sigmoid(-b)).
    assert D.b.grad.item() == pytest.approx(2.0 * (torch.sigmoid(b) - torch.sigmoid(-b)).item(), rel=1e-5)
    assert all(p.grad is None for p in G.parameters())
    assert sums["D_real_sign"] == (4, 4)
    _only(G.parameters(), True)
    _only(D.parameters(), False)
    stats = stat_means(loss.accumulate_gradients("Gmain", real, None, z, None, gain=1.0))
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
    stats = stat_means(loss.accumulate_gradients("Dreg", real, None, torch.randn(4, 16), None, gain=gain))
    w = D.w.detach()
    assert stats["r1"] == pytest.approx(w.square().sum().item(), rel=1e-5)
    # d/dw [gain * gamma/2 * |w|^2] = gain * gamma * w; b gets nothing from R1 (real_logits * 0).
    assert torch.allclose(D.w.grad, gain * gamma * w, rtol=1e-5, atol=1e-7)
    assert D.b.grad.abs().item() == 0


def test_path_length_penalty_updates_and_trains_synthesis():
    G, D = tiny_g(), LinearD((3, 16, 16))
    loss = StyleGAN2Loss(G, D, r1_gamma=0, style_mixing_prob=0, pl_weight=2.0, pl_decay=0.01, pl_batch_shrink=2)
    _only(D.parameters(), False)
    sums = loss.accumulate_gradients("Greg", torch.zeros(4, 3, 16, 16), None, torch.randn(4, 16), None, gain=4.0)
    assert sums["pl_length"][1] == 2  # the path-length batch is pl_batch_shrink times smaller
    stats = stat_means(sums)
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


def _draws_setup(res: int = 8, batch: int = 8):
    from styleblend.train.augment import AugmentPipe

    g_cfg, d_cfg = preset_configs("tiny32", res)
    torch.manual_seed(0)
    G, D = Generator(g_cfg).train(), Discriminator(d_cfg).train()
    augment = AugmentPipe(p=0.6)
    loss = StyleGAN2Loss(G, D, augment=augment, r1_gamma=1.0, pl_weight=2.0, mbstd_group=4)
    with torch.no_grad():
        loss.pl_mean.fill_(0.05)
    gen = torch.Generator().manual_seed(1)
    real = torch.rand(batch, 3, res, res, generator=gen) * 2 - 1
    z = torch.randn(batch, g_cfg.z_dim, generator=gen)
    return G, D, augment, loss, real, z


@pytest.mark.parametrize("phase", ["Gmain", "Greg", "Dmain", "Dreg", "Gboth", "Dboth"])
def test_passes_over_parts_of_a_batch_sum_to_the_whole_batch_gradient(phase):
    """Two passes of 4 (with the whole batch's draws and sizes) give one pass of 8's gradient:
    per-image draws, D's minibatch-stddev groups of 4 consecutive images, the path-length batch
    split over the passes and the loss weighted by the whole batch."""
    from styleblend.train.draws import draw_phase, split

    G, D, augment, loss, real, z = _draws_setup()
    net, other = (G, D) if phase.startswith("G") else (D, G)
    _only(other.parameters(), False)
    draws = draw_phase(phase, G, augment, seed=5, step=3, phase_idx=1, batch=8, pl_batch=4,
                       style_mixing_prob=0.9)
    assert draws.gen is None or bool((draws.gen.cutoff < G.num_ws).any())  # some images do mix

    def grads(passes: int) -> list[torch.Tensor]:
        for p in net.parameters():
            p.grad = None
        n = 8 // passes
        for k in range(passes):
            sl = slice(k * n, (k + 1) * n)
            loss.accumulate_gradients(phase, real[sl], None, z[sl], None, gain=2.0,
                                      draws=draws.rows(sl, split(4, passes, k)), total=8, pl_total=4)
        return [p.grad.clone() if p.grad is not None else torch.zeros_like(p) for p in net.parameters()]

    whole, halves = grads(1), grads(2)
    assert any(g.abs().sum() > 0 for g in whole)
    for a, b in zip(whole, halves):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6 * float(a.abs().max()) + 1e-12)


def test_split_passes_see_the_same_minibatch_stddev_groups():
    from styleblend.train.loss import group_order

    order = group_order(8, 4)
    # D groups positions i, i + 2, i + 4, i + 6 of its input; those must be images 0-3 and 4-7.
    assert sorted(order[0::2].tolist()) == [0, 1, 2, 3] and sorted(order[1::2].tolist()) == [4, 5, 6, 7]
    assert group_order(4, 4) is None and group_order(8, None) is None
    # D's logits of images 0-3 do not depend on images 4-7 (they are another group).
    _, D, _, _, real, _ = _draws_setup()
    loss = StyleGAN2Loss(tiny_g(8), D, mbstd_group=4)
    both = loss.run_D(real, None)
    first = loss.run_D(real[:4], None)
    assert torch.allclose(both[:4], first, atol=1e-5)


def test_drawn_style_mixing_is_per_image():
    from styleblend.train.draws import draw_gen

    G, D = tiny_g(), LinearD((3, 16, 16))
    z = torch.randn(64, 16)
    gen = torch.Generator().manual_seed(0)
    draws = draw_gen(G, 64, 0.5, gen, gen)
    loss = StyleGAN2Loss(G, D)
    plain = G.mapping(z, None)
    _, ws = loss.run_G(z, None, draws=draws)
    for i in range(64):
        cut = int(draws.cutoff[i])
        assert torch.equal(ws[i, :cut], plain[i, :cut])
        assert cut == G.num_ws or not torch.equal(ws[i, cut], plain[i, cut])
    mixed = (draws.cutoff < G.num_ws).float().mean().item()
    assert 0.3 < mixed < 0.7  # probability 0.5 per image
    assert loss.pop_w_sum()[1] == 64 and loss.pop_w_sum() == (None, 0)
