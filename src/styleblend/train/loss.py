"""StyleGAN2 loss with lazy regularisation, computed phase by phase.

* Non-saturating logistic GAN loss (Goodfellow et al. 2014, Sec. 3; StyleGAN2 Sec. 2):
  D minimises softplus(D(G(z))) + softplus(-D(x)); G minimises softplus(-D(G(z))).
* R1 (Mescheder et al. 2018, Eq. 9): gamma/2 * E ||grad_x D(x)||^2 on reals, evaluated lazily every
  ``d_reg_interval`` minibatches and scaled by the interval (StyleGAN2 Sec. 3.1).
* Path-length regularisation (StyleGAN2 Sec. 3.2, Eq. 4): E (||J_w^T y||_2 - a)^2 with
  y ~ N(0, I) / sqrt(H W) and a the running mean of the lengths (decay ``pl_decay``), weight
  ``pl_weight``, on a minibatch ``pl_batch_shrink`` times smaller, every ``g_reg_interval``.
* Style-mixing regularisation (StyleGAN Sec. 3.1): with probability ``style_mixing_prob`` the
  ws from ``cutoff`` on come from a second z, ``cutoff`` uniform in [1, num_ws).

The phases are 'Gmain', 'Greg', 'Dmain', 'Dreg' (and 'Gboth' / 'Dboth' when regularisation is not
lazy). ``accumulate_gradients`` only calls ``backward``; the caller owns which parameters require
gradients, the optimisers and the gradient reduction across processes.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

PHASES = ("Gmain", "Greg", "Gboth", "Dmain", "Dreg", "Dboth")


class StyleGAN2Loss:
    """Losses of one G/D pair.

    Args:
        G: the training generator (``styleblend.nn.Generator``) in train mode.
        D: the discriminator.
        augment: callable applied to every image D sees (ADA), or None.
        r1_gamma: R1 weight gamma (0 disables).
        style_mixing_prob: probability of style mixing per minibatch (0 disables).
        pl_weight / pl_decay / pl_batch_shrink: path-length regulariser settings (0 weight disables).
    """

    def __init__(self, G: torch.nn.Module, D: torch.nn.Module,
                 augment: Callable[[torch.Tensor], torch.Tensor] | None = None, r1_gamma: float = 10.0,
                 style_mixing_prob: float = 0.9, pl_weight: float = 2.0, pl_decay: float = 0.01,
                 pl_batch_shrink: int = 2) -> None:
        self.G, self.D, self.augment = G, D, augment
        self.r1_gamma = r1_gamma
        self.style_mixing_prob = style_mixing_prob
        self.pl_weight, self.pl_decay, self.pl_batch_shrink = pl_weight, pl_decay, pl_batch_shrink
        # Running mean 'a' of the path lengths; updated by the caller from all processes' means.
        self.pl_mean = torch.zeros([], device=next(G.parameters()).device)

    def run_G(self, z: torch.Tensor, c: torch.Tensor | None, update_w_avg: bool = True
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """Synthesise with style mixing and random noise; returns (img [N,C,H,W], ws [N,num_ws,w_dim])."""
        G = self.G
        ws = G.mapping(z, c, update_w_avg=update_w_avg)
        if self.style_mixing_prob > 0:
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
        img = G.synthesis(ws, noise_mode="random")
        return img, ws

    def run_D(self, img: torch.Tensor, c: torch.Tensor | None) -> torch.Tensor:
        if self.augment is not None:
            img = self.augment(img)
        return self.D(img, c)

    def accumulate_gradients(self, phase: str, real_img: torch.Tensor, real_c: torch.Tensor | None,
                             gen_z: torch.Tensor, gen_c: torch.Tensor | None, gain: float) -> dict[str, float]:
        """Back-propagate ``gain`` times the mean loss of ``phase`` over this minibatch.

        Args:
            phase: one of :data:`PHASES`.
            real_img: float [N, C, H, W] in [-1, 1]; real_c / gen_c: [N, c_dim] or None.
            gen_z: [N, z_dim] latents for the fakes.
            gain: multiplier of the loss (the lazy interval divided by the accumulation rounds).

        Returns:
            Scalar statistics of this minibatch: 'loss_G', 'loss_D_fake', 'loss_D_real', 'D_fake',
            'D_real', 'D_real_sign' (sum of sign(D(x)) and 'D_real_count' for ADA), 'r1',
            'pl_length' (mean path length, for the running mean), 'pl_penalty'.
        """
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}; expected one of {PHASES}")
        do_Gmain = phase in ("Gmain", "Gboth")
        do_Dmain = phase in ("Dmain", "Dboth")
        do_Gpl = phase in ("Greg", "Gboth") and self.pl_weight != 0
        do_Dr1 = phase in ("Dreg", "Dboth") and self.r1_gamma != 0
        stats: dict[str, float] = {}

        if do_Gmain:
            gen_img, _ = self.run_G(gen_z, gen_c)
            gen_logits = self.run_D(gen_img, gen_c)
            loss_G = F.softplus(-gen_logits)
            loss_G.mean().mul(gain).backward()
            stats["loss_G"] = float(loss_G.mean().detach())
            stats["D_fake_G"] = float(gen_logits.mean().detach())

        if do_Gpl:
            n = max(gen_z.shape[0] // self.pl_batch_shrink, 1)
            gen_img, gen_ws = self.run_G(gen_z[:n], gen_c[:n] if gen_c is not None else None)
            h, w = gen_img.shape[2], gen_img.shape[3]
            pl_noise = torch.randn_like(gen_img) / np.sqrt(h * w)
            (pl_grads,) = torch.autograd.grad(outputs=[(gen_img * pl_noise).sum()], inputs=[gen_ws],
                                              create_graph=True)
            pl_lengths = pl_grads.square().sum(2).mean(1).sqrt()
            # As StyleGAN2: the target 'a' includes this minibatch's mean (gradient flows through it).
            pl_target = self.pl_mean.lerp(pl_lengths.mean(), self.pl_decay)
            pl_penalty = (pl_lengths - pl_target).square()
            loss_pl = pl_penalty * self.pl_weight
            # The '* 0' term keeps every synthesis parameter in the graph.
            (gen_img[:, 0, 0, 0] * 0 + loss_pl).mean().mul(gain).backward()
            stats["pl_length"] = float(pl_lengths.mean().detach())
            stats["pl_penalty"] = float(pl_penalty.mean().detach())

        if do_Dmain:
            with torch.no_grad():
                gen_img, _ = self.run_G(gen_z, gen_c)
            gen_logits = self.run_D(gen_img, gen_c)
            loss_D_fake = F.softplus(gen_logits)
            loss_D_fake.mean().mul(gain).backward()
            stats["loss_D_fake"] = float(loss_D_fake.mean().detach())
            stats["D_fake"] = float(gen_logits.mean().detach())

        if do_Dmain or do_Dr1:
            real = real_img.detach().requires_grad_(do_Dr1)
            real_logits = self.run_D(real, real_c)
            total = real_logits * 0
            if do_Dmain:
                loss_D_real = F.softplus(-real_logits)
                total = total + loss_D_real
                stats["loss_D_real"] = float(loss_D_real.mean().detach())
                stats["D_real"] = float(real_logits.mean().detach())
                stats["D_real_sign"] = float(real_logits.detach().sign().sum())
                stats["D_real_count"] = float(real_logits.numel())
            if do_Dr1:
                (r1_grads,) = torch.autograd.grad(outputs=[real_logits.sum()], inputs=[real], create_graph=True)
                r1_penalty = r1_grads.square().sum(dim=[1, 2, 3])
                total = total + r1_penalty.unsqueeze(1) * (self.r1_gamma / 2)
                stats["r1"] = float(r1_penalty.mean().detach())
            total.mean().mul(gain).backward()
        return stats

    def update_pl_mean(self, mean_length: float) -> None:
        """Move the running path-length mean towards ``mean_length`` (the mean over all processes)."""
        self.pl_mean.copy_(self.pl_mean.lerp(torch.tensor(mean_length, device=self.pl_mean.device),
                                             self.pl_decay))
