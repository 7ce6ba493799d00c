"""Expression transfer by a thresholded difference vector (Image2StyleGAN Sec. 4.3).

``w = w1 + lambda (w3 - w2)``: w1 is the target face, w2 a neutral face and w3 the same person with an
expression. Image2StyleGAN removes the noise the difference carries (background, hair) by zeroing
the *channels* of the difference whose L2 norm is below a threshold (tau = 1 in the paper), and
normalises the result to control the intensity.

What a channel is here: a W+ difference has shape [num_ws, w_dim]; channel c is the column
``d[:, c]`` - the c-th coordinate of w across all num_ws layers - and its norm is
``sqrt(sum_l d[l, c]^2)``. Channels with norm < tau are set to zero in every layer. (For a W code
copied to all layers this is sqrt(num_ws) times the per-layer value.) Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import InvalidArgumentError
from .limits import NORMALIZE


def _check_ws(ws: torch.Tensor, what: str) -> None:
    if ws.ndim not in (2, 3):
        raise InvalidArgumentError(
            f"{what} must be a W+ code [num_ws, w_dim] or [N, num_ws, w_dim], got shape {tuple(ws.shape)}")


def channel_norms(delta: torch.Tensor) -> torch.Tensor:
    """L2 norm of every channel across layers: [..., num_ws, w_dim] -> [..., w_dim]."""
    norms: torch.Tensor = delta.norm(dim=-2)
    return norms


def threshold_channels(delta: torch.Tensor, tau: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero the channels of ``delta`` whose L2 norm across layers is below ``tau``.

    Args:
        delta: difference code [num_ws, w_dim] or [N, num_ws, w_dim].
        tau: threshold (>= 0; 0 keeps every channel).
    Returns:
        (thresholded delta, keep mask [..., w_dim] that is True for the channels kept).
    """
    _check_ws(delta, "the difference code")
    if tau < 0:
        raise InvalidArgumentError(f"threshold tau={tau} must be >= 0 (0 keeps every channel)")
    keep = channel_norms(delta) >= tau
    return delta * keep.unsqueeze(-2).to(delta.dtype), keep


def normalize_delta(delta: torch.Tensor, mode: str = "none", eps: float = 1e-12) -> torch.Tensor:
    """Rescale a difference code so that lambda sets the edit's intensity.

    mode: 'none' (lambda multiplies the raw difference), 'unit' (the whole [num_ws, w_dim] code
    gets L2 norm 1, so lambda is the edit's length in W+) or 'layer' (every layer row gets norm 1,
    so lambda is the step length in each layer). All-zero codes/rows are left at zero.
    """
    _check_ws(delta, "the difference code")
    if mode == "none":
        return delta.clone()
    if mode == "unit":
        norm = delta.flatten(-2).norm(dim=-1).unsqueeze(-1).unsqueeze(-1)
    elif mode == "layer":
        norm = delta.norm(dim=-1, keepdim=True)
    else:
        raise InvalidArgumentError(f"normalisation {mode!r} is unknown; choose one of {NORMALIZE}")
    normalized: torch.Tensor = delta / norm.clamp_min(eps)
    return normalized


def expression_delta(ws_neutral: torch.Tensor, ws_expressive: torch.Tensor, tau: float = 1.0,
                     normalize: str = "none") -> torch.Tensor:
    """The edit vector ``threshold(w3 - w2)``, optionally normalised.

    Args:
        ws_neutral: w2, [num_ws, w_dim] or [N, num_ws, w_dim].
        ws_expressive: w3, same shape (or broadcastable).
        tau: channel threshold (see :func:`threshold_channels`; paper: 1).
        normalize: see :func:`normalize_delta`; applied after thresholding.
    Returns:
        delta of the broadcast shape.
    """
    _check_ws(ws_neutral, "the neutral code")
    _check_ws(ws_expressive, "the expressive code")
    if ws_neutral.shape[-2:] != ws_expressive.shape[-2:]:
        raise InvalidArgumentError(
            f"neutral and expressive codes differ in shape ({tuple(ws_neutral.shape)} vs "
            f"{tuple(ws_expressive.shape)}); project both with the same network")
    delta, _ = threshold_channels(ws_expressive - ws_neutral, tau)
    return normalize_delta(delta, normalize)


def expression_transfer(ws_target: torch.Tensor, delta: torch.Tensor, lam: float = 1.0) -> torch.Tensor:
    """``w1 + lam * delta`` (Image2StyleGAN Eq. in Sec. 4.3) for W+ codes of matching shape."""
    _check_ws(ws_target, "the target code")
    if ws_target.shape[-2:] != delta.shape[-2:]:
        raise InvalidArgumentError(
            f"target code {tuple(ws_target.shape)} and difference {tuple(delta.shape)} do not match; "
            "use latents from the same network")
    return ws_target + lam * delta


def expression_strip(ws_target: torch.Tensor, delta: torch.Tensor, lambdas: Sequence[float]) -> torch.Tensor:
    """One edited code per lambda: [num_ws, w_dim] target -> [len(lambdas), num_ws, w_dim].

    Both ``ws_target`` and ``delta`` must describe a single code ([num_ws, w_dim] or [1, num_ws, w_dim]).
    """
    if not len(lambdas):
        raise InvalidArgumentError("no lambda values given; pass e.g. 0,0.5,1,1.5")
    target = ws_target.reshape(-1, *ws_target.shape[-2:])
    d = delta.reshape(-1, *delta.shape[-2:])
    if target.shape[0] != 1 or d.shape[0] != 1:
        raise InvalidArgumentError(
            f"a lambda strip is made for one target code, got {target.shape[0]} targets and {d.shape[0]} edits")
    lam = torch.as_tensor(list(lambdas), dtype=target.dtype, device=target.device).reshape(-1, 1, 1)
    return target + lam * d
