"""How far a W+ latent is from W: measures, and the regulariser that keeps projections editable.

A W+ latent ``ws`` [N, num_ws, w_dim] has one w per layer. The mapping network only ever produces
latents whose rows are all equal (W) and near its mean ``w_avg``; a projection that lets the rows drift
apart reconstructs its target through the model it was found with, but renders badly through anything
else - a blend, an edit (Tov et al. 2021, "Designing an Encoder for StyleGAN Image Manipulation", Sec. 3:
the distortion / editability trade-off). Both measures below are in units of the spread of W itself, so
they read the same for every model:

* ``row_spread`` = (1/num_ws) sum_i ||w_i - w_bar|| / (sqrt(w_dim) * w_std), with w_bar the mean row:
  0 for a W latent, grows as the rows part.
* ``mean_distance`` = ||w_bar - w_avg|| / (sqrt(w_dim) * w_std): about 1 for a w of a random z (its
  squared expectation is exactly 1 when ``w_std`` is measured from the same samples), much larger for a
  latent far outside the region the mapping covers.

``w_std`` is the per-coordinate standard deviation of mapped w: sqrt(E||w - w_avg||^2 / w_dim).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from ..errors import InvalidArgumentError

if TYPE_CHECKING:
    from ..types import Generator


def _check(ws: torch.Tensor, w_std: float) -> None:
    if ws.ndim != 3:
        raise InvalidArgumentError(f"ws has shape {tuple(ws.shape)}; expected [N, num_ws, w_dim]")
    if not w_std > 0:
        raise InvalidArgumentError(f"w_std={w_std} must be positive (the std of mapped w per coordinate)")


def row_spread(ws: torch.Tensor, w_std: float, reference: torch.Tensor | None = None,
               eps: float = 1e-8) -> torch.Tensor:
    """Mean over rows of ||w_i - reference|| / (sqrt(w_dim) * w_std), per latent: [N].

    ``reference`` defaults to the mean row of each latent; a given one is [N or 1, w_dim] or
    [N or 1, num_ws, w_dim] (e.g. an encoder's base w). ``eps`` inside the square root keeps the gradient
    finite at 0, so the same function serves as the regulariser.
    """
    _check(ws, w_std)
    if reference is None:
        reference = ws.mean(dim=1, keepdim=True)
    elif reference.ndim == 2:
        reference = reference[:, None]
    dist = ((ws - reference).square().sum(dim=2) + eps).sqrt()
    return dist.mean(dim=1) / (math.sqrt(ws.shape[2]) * w_std)


def distance_from_w(ws: torch.Tensor, w_avg: torch.Tensor, w_std: float) -> dict[str, list[float]]:
    """The two measures of the module docstring for each latent of ``ws`` [N, num_ws, w_dim].

    Args:
        w_avg: [w_dim], the mean mapped w. w_std: per-coordinate std of mapped w (see :func:`w_stats`).

    Returns:
        {'row_spread': [N floats], 'mean_distance': [N floats]}.
    """
    _check(ws, w_std)
    with torch.no_grad():
        ws = ws.detach().float()
        spread = row_spread(ws, w_std, eps=0.0)
        mean_row = ws.mean(dim=1)
        dist = (mean_row - w_avg.to(ws).view(1, -1)).norm(dim=1) / (math.sqrt(ws.shape[2]) * w_std)
    return {"row_spread": spread.tolist(), "mean_distance": dist.tolist()}


def w_stats(G: Generator, num_samples: int = 10000, seed: int = 0) -> tuple[torch.Tensor, float]:
    """w_avg [w_dim] and the per-coordinate std of ``num_samples`` mapped z ~ N(0, I) (seeded, no grad).

    A conditional model's w are mapped with uniformly drawn one-hot labels: the statistics of W over all classes.
    """
    if num_samples < 2:
        raise InvalidArgumentError(f"num_samples={num_samples}: need at least 2 samples for a std")
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(int(seed))
    ws = []
    with torch.no_grad():
        for start in range(0, num_samples, 1000):
            z = torch.randn([min(1000, num_samples - start), G.z_dim], generator=gen).to(device)
            c = None
            if G.c_dim:
                labels = torch.randint(G.c_dim, [z.shape[0]], generator=gen)
                c = torch.nn.functional.one_hot(labels, G.c_dim).float().to(device)
            ws.append(G.mapping(z, c)[:, 0].float())
    w = torch.cat(ws)
    mean = w.mean(dim=0)
    return mean, float((w - mean).square().mean().sqrt())
