"""z -> ws through a generator's mapping network: class labels, seeds and batches.

Everything up to ws lives in :mod:`styleblend.latents`; turning ws into images is
:mod:`styleblend.render`'s job. This module is the one place that calls ``G.mapping`` for inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from ..errors import InvalidArgumentError
from .seeds import z_from_seeds

if TYPE_CHECKING:
    from ..types import Generator


def generator_device(G: Generator) -> torch.device:
    """Device of a generator's parameters."""
    return next(G.parameters()).device


def class_vector(c_dim: int, class_idx: int | None, n: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """One-hot labels [n, c_dim] for a conditional model; None for an unconditional one.

    Raises:
        InvalidArgumentError: ``class_idx`` given for an unconditional model, missing for a
            conditional one, or outside [0, c_dim).
    """
    if c_dim == 0:
        if class_idx is not None:
            raise InvalidArgumentError(f"`class_idx` {class_idx} given, but the model is unconditional (c_dim=0); "
                                       "leave it out", param="class_idx")
        return None
    if class_idx is None:
        raise InvalidArgumentError(f"the model is conditional (c_dim={c_dim}); pass `class_idx` in [0, {c_dim - 1}]",
                                   param="class_idx")
    if not 0 <= class_idx < c_dim:
        raise InvalidArgumentError(f"`class_idx` {class_idx} is out of range; the model has classes 0..{c_dim - 1}",
                                   param="class_idx")
    c = torch.zeros([n, c_dim], device=device)
    c[:, class_idx] = 1
    return c


def map_z(G: Generator, z: torch.Tensor, class_idx: int | None = None, truncation_psi: float = 1.0,
          truncation_cutoff: int | None = None, batch_size: int = 256) -> torch.Tensor:
    """z [n, z_dim] -> ws [n, num_ws, w_dim] on G's device through ``G.mapping`` in batches (no gradients).

    ``class_idx`` is the class of a conditional model (None for unconditional ones); truncation is
    NVIDIA's (towards ``w_avg``, the first ``truncation_cutoff`` layers only when given).
    """
    g = G
    device = generator_device(G)
    class_vector(g.c_dim, class_idx, 0)  # a wrong class is an error even for zero latents
    out = []
    with torch.no_grad():
        for start in range(0, z.shape[0], batch_size):
            zb = z[start:start + batch_size].to(device)
            c = class_vector(g.c_dim, class_idx, zb.shape[0], device)
            out.append(g.mapping(zb, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff))
    return torch.cat(out) if out else torch.zeros([0, g.num_ws, g.w_dim], device=device)


def seeds_to_ws(G: Generator, seeds: Sequence[int], truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, class_idx: int | None = None) -> torch.Tensor:
    """ws [len(seeds), num_ws, w_dim] for seeds with NVIDIA's z convention and truncation."""
    z = z_from_seeds(seeds, G.z_dim, device=generator_device(G))
    return map_z(G, z, class_idx, truncation_psi, truncation_cutoff)
