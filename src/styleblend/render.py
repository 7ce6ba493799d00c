"""Rendering: seeds or latents -> images, in batches, the way NVIDIA's generate.py does it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .errors import InvalidArgumentError
from .latents.seeds import z_from_seeds

ProgressFn = Callable[[int, int], None]


def class_vector(c_dim: int, class_idx: int | None, n: int, device: torch.device | str = "cpu") -> torch.Tensor | None:
    """One-hot labels [n, c_dim] for a conditional model; None for an unconditional one."""
    if c_dim == 0:
        if class_idx is not None:
            raise InvalidArgumentError(f"--class {class_idx} given, but the model is unconditional (c_dim=0)")
        return None
    if class_idx is None:
        raise InvalidArgumentError(f"the model is conditional (c_dim={c_dim}); pass --class in [0, {c_dim - 1}]")
    if not 0 <= class_idx < c_dim:
        raise InvalidArgumentError(f"--class {class_idx} is out of range; the model has classes 0..{c_dim - 1}")
    c = torch.zeros([n, c_dim], device=device)
    c[:, class_idx] = 1
    return c


@torch.no_grad()
def seeds_to_ws(G: torch.nn.Module, seeds: Sequence[int], truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, class_idx: int | None = None) -> torch.Tensor:
    """ws [len(seeds), num_ws, w_dim] for seeds with NVIDIA's z convention and truncation."""
    device = next(G.parameters()).device
    z = z_from_seeds(seeds, G.z_dim, device=device)
    c = class_vector(G.c_dim, class_idx, len(seeds), device)
    return G.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)


@torch.no_grad()
def render_ws(G: torch.nn.Module, ws: torch.Tensor, noise_mode: str = "const", batch_size: int = 8,
              progress: ProgressFn | None = None) -> torch.Tensor:
    """Synthesise images [N, C, H, W] (float32, about [-1, 1]) from ws [N, num_ws, w_dim] in batches."""
    if ws.ndim != 3 or ws.shape[1:] != (G.num_ws, G.w_dim):
        raise InvalidArgumentError(f"ws has shape {tuple(ws.shape)}; this model expects [N, {G.num_ws}, {G.w_dim}]")
    device = next(G.parameters()).device
    out = []
    for start in range(0, ws.shape[0], batch_size):
        out.append(G.synthesis(ws[start:start + batch_size].to(device), noise_mode=noise_mode).cpu())
        if progress is not None:
            progress(min(start + batch_size, ws.shape[0]), ws.shape[0])
    return torch.cat(out) if out else torch.zeros([0, G.img_channels, G.img_resolution, G.img_resolution])


def mix_styles(row_ws: torch.Tensor, col_ws: torch.Tensor, styles: Sequence[int]) -> torch.Tensor:
    """Style-mixing grid latents as NVIDIA's style_mixing.py: cell (r, c) = row r's ws with ``styles`` from col c.

    Args:
        row_ws: [R, num_ws, w_dim]; col_ws: [C, num_ws, w_dim]; styles: W+ indices taken from the column.
    Returns:
        [R, C, num_ws, w_dim].
    """
    num_ws = row_ws.shape[1]
    bad = [s for s in styles if not 0 <= s < num_ws]
    if bad:
        raise InvalidArgumentError(f"--styles {bad} out of range; this model has W+ indices 0..{num_ws - 1}")
    out = row_ws[:, None].repeat(1, col_ws.shape[0], 1, 1)
    idx = list(styles)
    out[:, :, idx] = col_ws[None, :, idx].expand(row_ws.shape[0], -1, -1, -1)
    return out
