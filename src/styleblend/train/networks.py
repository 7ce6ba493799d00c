"""The networks of a training run: G, G_ema and D built or resumed, their optimisers and the EMA.

Lazy regularisation uses Adam with ``lr * c`` and ``betas ** c``, c = interval / (interval + 1)
(StyleGAN2 Appendix B); G_ema follows G with the half-life and ramp-up of StyleGAN2-ADA.
"""

from __future__ import annotations

import copy
import dataclasses
import logging

import torch

from ..config import DiscriminatorConfig, GeneratorConfig
from ..config_sg3 import is_stylegan3
from ..errors import ArchitectureMismatchError
from ..io.checkpoint import load_state_dict_strict
from ..io.files import load_checkpoint
from ..nn import Discriminator, Generator
from .options import TrainOptions, preset_configs

log = logging.getLogger(__name__)

__all__ = ["build_networks", "make_adam", "mbstd_group", "set_requires_grad", "update_ema"]


def mbstd_group(options: TrainOptions) -> int:
    """D's minibatch-stddev group size: ``options.mbstd_group``, or the whole batch when that is smaller.

    A property of the global batch, so that the groups do not change with the split.
    """
    return min(options.mbstd_group, options.batch)


def build_networks(options: TrainOptions, img_resolution: int, c_dim: int, device: torch.device,
                   configs: tuple[GeneratorConfig, DiscriminatorConfig] | None = None
                   ) -> tuple[GeneratorConfig, DiscriminatorConfig, Generator, Generator, Discriminator]:
    """G, G_ema and D: fresh from the preset, or from ``options.resume`` (transfer learning).

    From a checkpoint, G starts from its 'g' (its 'g_ema' when absent), G_ema from 'g_ema' and D
    from 'd'; a checkpoint without D gets a fresh one (with a warning). ``configs`` (when
    continuing a run) gives the architectures and skips both.

    Raises:
        ArchitectureMismatchError: the checkpoint's resolution or labels differ from the data's.
    """
    source = None
    if configs is not None:
        g_cfg, d_cfg = configs
    elif options.resume:
        source = load_checkpoint(options.resume)
        if is_stylegan3(source.g_config):
            raise ArchitectureMismatchError(
                f"`resume` {options.resume} is a StyleGAN3 model, but training builds StyleGAN2 generators; resume "
                "from a StyleGAN2 checkpoint (or train from scratch)", param="resume")
        g_cfg = source.g_config
        if g_cfg.img_resolution != img_resolution or g_cfg.c_dim != c_dim:
            raise ArchitectureMismatchError(
                f"`resume` {options.resume} makes {g_cfg.img_resolution} px images with c_dim={g_cfg.c_dim}, but the "
                f"data set has {img_resolution} px and c_dim={c_dim}; resize the data (dataset_tool) to match",
                param="resume")
        _, d_cfg = preset_configs(options.cfg, img_resolution, c_dim)
        if source.d is not None and source.d_config is not None:
            d_cfg = source.d_config
    else:
        g_cfg, d_cfg = preset_configs(options.cfg, img_resolution, c_dim)
    d_cfg = dataclasses.replace(d_cfg, mbstd_group_size=mbstd_group(options))
    with torch.random.fork_rng(devices=[]):  # initial weights from the seed, global RNG left alone
        torch.manual_seed(options.seed)
        G = Generator(g_cfg)
        D = Discriminator(d_cfg, freeze_layers=options.freeze_d)
    G_ema = copy.deepcopy(G)
    if source is not None:
        load_state_dict_strict(G, source.g if source.g is not None else source.g_ema, what="G of --resume")
        load_state_dict_strict(G_ema, source.g_ema, what="G_ema of --resume")
        if source.d is not None:
            load_state_dict_strict(D, source.d, what="D of --resume")
        else:
            log.warning("%s has no discriminator; training a fresh one (transfer works best with the source D)",
                        source.describe())
    G.train().to(device)
    D.train().to(device)
    G_ema.eval().requires_grad_(False).to(device)
    return g_cfg, d_cfg, G, G_ema, D


def make_adam(params: list[torch.nn.Parameter], lr: float, betas: tuple[float, float], eps: float,
              reg_interval: int) -> torch.optim.Adam:
    """Adam with the lazy-regularisation correction c = interval / (interval + 1) (StyleGAN2 App. B);
    ``reg_interval`` 0 (no lazy regulariser) uses ``lr`` and ``betas`` as given."""
    c = reg_interval / (reg_interval + 1) if reg_interval > 0 else 1.0
    return torch.optim.Adam(params, lr=lr * c, betas=(betas[0] ** c, betas[1] ** c), eps=eps)


def set_requires_grad(params: list[torch.nn.Parameter], flag: bool) -> None:
    """Switch gradients of ``params`` on or off (only the phase's network tracks them)."""
    for p in params:
        p.requires_grad_(flag)


@torch.no_grad()
def update_ema(G_ema: torch.nn.Module, G: torch.nn.Module, cur_nimg: int, batch: int, ema_kimg: float,
               ema_rampup: float | None) -> float:
    """G_ema <- lerp(G, G_ema, beta) with beta = 0.5 ** (batch / ema_nimg); buffers are copied.

    The half-life ema_nimg = ema_kimg * 1000 is limited to ``cur_nimg * ema_rampup`` early on
    (StyleGAN2-ADA), so G_ema tracks G while it changes fast. Returns beta.
    """
    ema_nimg = ema_kimg * 1000
    if ema_rampup is not None:
        ema_nimg = min(ema_nimg, cur_nimg * ema_rampup)
    beta = 0.5 ** (batch / max(ema_nimg, 1e-8))
    for p_ema, p in zip(G_ema.parameters(), G.parameters()):
        p_ema.copy_(p.detach().lerp(p_ema, beta))
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)
    return beta
