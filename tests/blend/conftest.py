"""Helpers for blending tests: tiny random models and 'fine-tuned' perturbed copies."""

from __future__ import annotations

import torch

from styleblend.io import Checkpoint
from styleblend.nn import Generator

from ..conftest import tiny_checkpoint

__all__ = ["finetuned", "images", "tiny_checkpoint"]


def _perturb(state: dict[str, torch.Tensor], scale: float, generator: torch.Generator) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in state.items():
        if key.endswith("resample_filter") or key.endswith("noise_const"):
            out[key] = value.clone()  # fixed buffers: fine-tuning never changes them
        else:
            noise = torch.randn(value.shape, generator=generator, dtype=value.dtype)
            out[key] = value + scale * (value.std() if value.numel() > 1 else value.abs() + 0.1) * noise
    return out


def finetuned(base: Checkpoint, scale: float = 0.2, seed: int = 1) -> Checkpoint:
    """A copy of ``base`` with every trainable tensor moved by ``scale`` of its spread, like a fine-tune."""
    gen = torch.Generator().manual_seed(seed)
    return Checkpoint(g_config=base.g_config, g_ema=_perturb(base.g_ema, scale, gen),
                      g=_perturb(base.g, scale, gen) if base.g is not None else None,
                      d_config=base.d_config, d=_perturb(base.d, scale, gen) if base.d is not None else None)


@torch.no_grad()
def images(ckpt: Checkpoint | dict, seeds=(0, 1), psi: float = 1.0, cfg=None) -> torch.Tensor:
    """Float images [N, C, H, W] of a checkpoint (or of a G state dict with ``cfg``), noise 'const'."""
    from styleblend.io.checkpoint import load_state_dict_strict
    from styleblend.latents.mapping import seeds_to_ws
    from styleblend.render import render_ws

    if isinstance(ckpt, Checkpoint):
        G = ckpt.generator()
    else:
        G = Generator(cfg)
        load_state_dict_strict(G, ckpt, what="test state")
        G.eval()
    return render_ws(G, seeds_to_ws(G, list(seeds), truncation_psi=psi))
