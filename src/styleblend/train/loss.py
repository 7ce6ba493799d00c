"""StyleGAN2 loss with lazy regularisation, computed phase by phase.

* Non-saturating logistic GAN loss (Goodfellow et al. 2014, Sec. 3; StyleGAN2 Sec. 2):
  D minimises softplus(D(G(z))) + softplus(-D(x)); G minimises softplus(-D(G(z))).
* R1 (Mescheder et al. 2018, Eq. 9): gamma/2 * E ||grad_x D(x)||^2 on reals, evaluated lazily every
  ``d_reg_interval`` minibatches and scaled by the interval (StyleGAN2 Sec. 3.1).
* Path-length regularisation (StyleGAN2 Sec. 3.2, Eq. 4): E (||J_w^T y||_2 - a)^2 with
  y ~ N(0, I) / sqrt(H W) and a the running mean of the lengths (decay ``pl_decay``), weight
  ``pl_weight``, on a minibatch ``pl_batch_shrink`` times smaller, every ``g_reg_interval``.
* Style-mixing regularisation (StyleGAN Sec. 3.1): with probability ``style_mixing_prob`` the
  ws from ``cutoff`` on come from a second z, ``cutoff`` uniform in [1, num_ws); drawn per image
  (the paper's "a given percentage of images"; NVIDIA's code draws once per pass).

The phases are 'Gmain', 'Greg', 'Dmain', 'Dreg' (and 'Gboth' / 'Dboth' when regularisation is not
lazy). ``accumulate_gradients`` only calls ``backward``; the caller owns which parameters require
gradients, the optimisers and the gradient reduction across processes. Given the draws of
:mod:`styleblend.train.draws` and the whole batch's size, passes over parts of a batch sum to the
whole batch's gradient, so the split over processes and passes does not change the result.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InvalidArgumentError
from .augment import AugmentPipe
from .draws import GenDraws, PhaseDraws, image_noise, noise_layers, noise_maps

if TYPE_CHECKING:
    from ..nn.generator import Generator

PHASES = ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")

#: Statistics :meth:`StyleGAN2Loss.accumulate_gradients` returns, each as (sum, count) over images.
STAT_NAMES = ("loss_G", "D_fake_G", "pl_length", "pl_penalty", "loss_D_fake", "D_fake", "loss_D_real", "D_real",
              "D_real_sign", "r1")

Stats = dict[str, tuple[float, float]]


def stat_means(stats: Stats) -> dict[str, float]:
    """Mean of every statistic with a non-zero count."""
    return {k: s / n for k, (s, n) in stats.items() if n}


@contextlib.contextmanager
def injected_noise(G: Generator, noise: list[torch.Tensor]) -> Iterator[None]:
    """Let G's noise layers use ``noise`` (one [N, 1, R, R] per layer) as their 'const' noise.

    The synthesis layers draw 'random' noise from torch's global generator, per pass; to give
    every image the noise drawn for it in :mod:`draws`, the layers' ``noise_const`` buffers are
    swapped for the per-image maps while G runs (with ``noise_mode='const'``) and put back after.
    Autograd keeps the tensors it used, so backward after the swap-back is unaffected.
    """
    layers = noise_layers(G)
    if len(layers) != len(noise):
        raise ValueError(f"{len(noise)} noise maps for {len(layers)} noise layers")
    saved = [m.noise_const for m in layers]
    try:
        for m, n in zip(layers, noise):
            m.noise_const = n
        yield
    finally:
        for m, n in zip(layers, saved):
            m.noise_const = n


def group_order(n: int, group: int | None) -> torch.Tensor | None:
    """A permutation that makes D's minibatch-stddev groups runs of ``group`` consecutive images.

    D's layer groups images i, i + n/g, i + 2n/g... of its input (strided, as NVIDIA's), so which
    images share a group would depend on how many D sees at once. Feeding D ``x[order]`` turns the
    groups into [0, g), [g, 2g)... of the original order, the same for any pass size that is a
    multiple of g. None when there is one group (nothing to reorder).
    """
    if not group or n <= group or n % group:
        return None
    return torch.arange(n).reshape(n // group, group).t().reshape(-1)


class StyleGAN2Loss:
    """Losses of one G/D pair.

    Args:
        G: the training generator (``styleblend.nn.Generator``) in train mode.
        D: the discriminator.
        augment: the augmentation pipeline (:class:`~styleblend.train.augment.AugmentPipe`), or any
            callable applied to every image D sees, or None.
        r1_gamma: R1 weight gamma (0 disables).
        style_mixing_prob: probability that an image mixes two latents (0 disables).
        pl_weight / pl_decay / pl_batch_shrink: path-length regulariser settings (0 weight disables).
        mbstd_group: D's minibatch-stddev group size; D's groups are then runs of consecutive
            images (see :func:`group_order`). None keeps D's own (strided) grouping.
    """

    def __init__(self, G: Generator, D: torch.nn.Module,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None, r1_gamma: float = 10.0,
                 style_mixing_prob: float = 0.9, pl_weight: float = 2.0, pl_decay: float = 0.01,
                 pl_batch_shrink: int = 2, mbstd_group: int | None = None) -> None:
        self.G, self.D, self.augment = G, D, augment
        self.r1_gamma = r1_gamma
        self.style_mixing_prob = style_mixing_prob
        self.pl_weight, self.pl_decay, self.pl_batch_shrink = pl_weight, pl_decay, pl_batch_shrink
        self.mbstd_group = mbstd_group
        # Running mean 'a' of the path lengths; updated by the caller from the whole batch's mean.
        self.pl_mean = torch.zeros([], device=next(G.parameters()).device)
        # Sum and count of the ws G produced since the last pop_w_sum (for w_avg, see run_G).
        self._w_sum: torch.Tensor | None = None
        self._w_count = 0

    def run_G(self, z: torch.Tensor, c: torch.Tensor | None, update_w_avg: bool = True,
              draws: GenDraws | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Synthesise with style mixing and random noise; returns (img [N,C,H,W], ws [N,num_ws,w_dim]).

        Without ``draws`` the mixing choice (one cutoff for the whole batch, as NVIDIA's) and the
        noise come from torch's global generator and w_avg is updated now. With ``draws`` each
        image mixes and gets noise as drawn for it, and the ws are only summed (see
        :meth:`pop_w_sum`), so that w_avg moves once per phase by the mean of the whole batch.
        """
        G = self.G
        ws = G.mapping(z, c, update_w_avg=update_w_avg and draws is None)
        if draws is not None:
            if update_w_avg:
                part = ws[:, 0].detach().to(torch.float64).sum(0)
                self._w_sum = part if self._w_sum is None else self._w_sum + part
                self._w_count += ws.shape[0]
            if draws.mix_z is not None and draws.cutoff is not None and bool((draws.cutoff < ws.shape[1]).any()):
                ws2 = G.mapping(draws.mix_z, c, update_w_avg=False)
                layer = torch.arange(ws.shape[1], device=ws.device).unsqueeze(0)
                ws = torch.where((layer < draws.cutoff.unsqueeze(1)).unsqueeze(2), ws, ws2)
        elif self.style_mixing_prob > 0:
            num_ws = ws.shape[1]
            cutoff = int(torch.randint(1, num_ws, ()))
            if float(torch.rand(())) >= self.style_mixing_prob:
                cutoff = num_ws
            if cutoff < num_ws:
                ws2 = G.mapping(torch.randn_like(z), c, update_w_avg=False)
                ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        if torch.is_grad_enabled() and not ws.requires_grad:
            # A frozen mapping gives constant ws; path-length needs d img / d ws all the same.
            ws = ws.detach().requires_grad_(True)
        if draws is None:
            img = G.synthesis(ws, noise_mode="random")
        else:
            with injected_noise(G, noise_maps(G, draws.noise_seeds, ws.device)):
                img = G.synthesis(ws, noise_mode="const")
        return img, ws

    def pop_w_sum(self) -> tuple[torch.Tensor | None, int]:
        """(sum [w_dim] float64, count) of the ws made with draws since the last call; resets them."""
        out = (self._w_sum, self._w_count)
        self._w_sum, self._w_count = None, 0
        return out

    def update_w_avg(self, mean_w: torch.Tensor) -> None:
        """w_avg <- lerp(mean_w, w_avg, beta): one update by the mean w of a whole phase."""
        mapping = self.G.mapping
        beta = mapping.w_avg_beta
        if beta is not None:
            mapping.w_avg.copy_(mean_w.to(mapping.w_avg).lerp(mapping.w_avg, beta))

    def run_D(self, img: torch.Tensor, c: torch.Tensor | None,
              aug: dict[str, torch.Tensor] | None = None, drawn: bool = False) -> torch.Tensor:
        """D's logits [N, 1] of (augmented) images; ``drawn`` applies ``aug`` (from draws)."""
        if self.augment is not None and drawn:
            if not isinstance(self.augment, AugmentPipe):
                raise InvalidArgumentError(f"drawn augmentation parameters need an AugmentPipe, not a "
                                           f"{type(self.augment).__name__}")
            img = self.augment.apply_params(img, aug)
        elif self.augment is not None:
            img = self.augment(img)
        order = group_order(img.shape[0], self.mbstd_group)
        if order is None:
            return self.D(img, c)
        order = order.to(img.device)
        logits = self.D(img[order], c[order] if c is not None else None)
        return logits[torch.argsort(order)]

    def accumulate_gradients(self, phase: str, real_img: torch.Tensor, real_c: torch.Tensor | None,
                             gen_z: torch.Tensor, gen_c: torch.Tensor | None, gain: float,
                             draws: PhaseDraws | None = None, total: int | None = None,
                             pl_total: int | None = None) -> Stats:
        """Back-propagate ``gain`` times the phase's loss, averaged over ``total`` images.

        This pass contributes ``gain * sum_i loss_i / total`` (the path-length term over
        ``pl_total``), so passes over the parts of a batch add up to the gradient of the whole
        batch's mean: the caller passes the whole batch's sizes (defaults: this pass' sizes).

        Args:
            phase: one of :data:`PHASES`.
            real_img: float [N, C, H, W] in [-1, 1]; real_c / gen_c: [N, c_dim] or None.
            gen_z: [N, z_dim] latents for the fakes.
            gain: multiplier of the loss (the lazy-regularisation interval).
            draws: this pass' rows of :func:`~styleblend.train.draws.draw_phase` (mixing, noise,
                augmentation and the path-length batch); None draws from torch's global generator
                and takes the first ``N // pl_batch_shrink`` fakes for the path length.
            total / pl_total: images the loss is averaged over (defaults: N and this pass' path-length batch).

        Returns:
            (sum over images, count) of each of :data:`STAT_NAMES` this phase computes;
            'D_real_sign' is sign(D(x)), whose mean is ADA's overfitting heuristic r_t.
        """
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; expected one of {PHASES}")
        do_Gmain = phase in ("Gmain", "Gboth")
        do_Dmain = phase in ("Dmain", "Dboth")
        do_Gpl = phase in ("Greg", "Gboth") and self.pl_weight != 0
        do_Dr1 = phase in ("Dreg", "Dboth") and self.r1_gamma != 0
        d = draws if draws is not None else PhaseDraws()
        drawn = draws is not None
        n_real = real_img.shape[0]
        scale = gain / (total if total is not None else gen_z.shape[0])
        stats: Stats = {}

        def put(name: str, values: torch.Tensor) -> None:
            stats[name] = (float(values.detach().to(torch.float64).sum()), float(values.numel()))

        if do_Gmain:
            gen_img, _ = self.run_G(gen_z, gen_c, draws=d.gen)
            gen_logits = self.run_D(gen_img, gen_c, d.aug_fake, drawn)
            loss_G = F.softplus(-gen_logits)
            loss_G.sum().mul(scale).backward()
            put("loss_G", loss_G)
            put("D_fake_G", gen_logits)

        if do_Gpl:
            if drawn:
                pl_z, pl_c = d.pl_z, d.pl_c
            else:
                n = max(gen_z.shape[0] // self.pl_batch_shrink, 1)
                pl_z, pl_c = gen_z[:n], gen_c[:n] if gen_c is not None else None
            if pl_z is not None and pl_z.shape[0] > 0:
                gen_img, gen_ws = self.run_G(pl_z, pl_c, draws=d.pl)
                h, w = gen_img.shape[2], gen_img.shape[3]
                if drawn:
                    assert d.pl_noise_seeds is not None  # drawn with the path-length batch
                    pl_noise = image_noise(d.pl_noise_seeds, tuple(gen_img.shape[1:]), gen_img.device)
                    pl_noise = pl_noise / np.sqrt(h * w)
                else:
                    pl_noise = torch.randn_like(gen_img) / np.sqrt(h * w)
                (pl_grads,) = torch.autograd.grad(outputs=[(gen_img * pl_noise).sum()], inputs=[gen_ws],
                                                  create_graph=True)
                pl_lengths = pl_grads.square().sum(2).mean(1).sqrt()
                # The target 'a' is the running mean before this step, a constant. StyleGAN2 first
                # lerps this minibatch's mean into it (with gradient); that couples the images of a
                # pass, so a batch split into passes could not reproduce the whole batch's gradient.
                # With pl_decay 0.01 the difference is a 1 % move of the target, one step late.
                pl_penalty = (pl_lengths - self.pl_mean).square()
                loss_pl = pl_penalty * self.pl_weight
                # The '* 0' term keeps every synthesis parameter in the graph.
                pl_scale = gain / (pl_total if pl_total is not None else pl_z.shape[0])
                (gen_img[:, 0, 0, 0] * 0 + loss_pl).sum().mul(pl_scale).backward()
                put("pl_length", pl_lengths)
                put("pl_penalty", pl_penalty)

        if do_Dmain:
            with torch.no_grad():
                gen_img, _ = self.run_G(gen_z, gen_c, draws=d.gen)
            gen_logits = self.run_D(gen_img, gen_c, d.aug_fake, drawn)
            loss_D_fake = F.softplus(gen_logits)
            loss_D_fake.sum().mul(scale).backward()
            put("loss_D_fake", loss_D_fake)
            put("D_fake", gen_logits)

        if do_Dmain or do_Dr1:
            real = real_img.detach().requires_grad_(do_Dr1)
            real_logits = self.run_D(real, real_c, d.aug_real, drawn)
            loss = real_logits * 0
            if do_Dmain:
                loss_D_real = F.softplus(-real_logits)
                loss = loss + loss_D_real
                put("loss_D_real", loss_D_real)
                put("D_real", real_logits)
                put("D_real_sign", real_logits.sign())
            if do_Dr1:
                (r1_grads,) = torch.autograd.grad(outputs=[real_logits.sum()], inputs=[real], create_graph=True)
                r1_penalty = r1_grads.square().sum(dim=[1, 2, 3])
                loss = loss + r1_penalty.unsqueeze(1) * (self.r1_gamma / 2)
                put("r1", r1_penalty)
            real_scale = gain / (total if total is not None else n_real)
            loss.sum().mul(real_scale).backward()
        return stats

    def update_pl_mean(self, mean_length: float) -> None:
        """Move the running path-length mean towards ``mean_length`` (the mean over the whole batch)."""
        self.pl_mean.copy_(self.pl_mean.lerp(torch.tensor(mean_length, device=self.pl_mean.device),
                                             self.pl_decay))
