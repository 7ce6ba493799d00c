"""Interpolation of latent codes: lerp, slerp, per-layer schedules, truncation schedules, smoothing.

Everything here is a pure function: tensors in, new tensors out, on the inputs' device and dtype.

Conventions for ``t`` (the interpolation parameter, 0 gives ``a`` and 1 gives ``b``): a Python
float applies to every row; a tensor is aligned with the *leading* dimensions of the latents and
broadcast over the trailing ones. So for ws [N, num_ws, w_dim] a t of shape [N] moves every layer
of row n by t[n], and a t of shape [N, num_ws] (see :func:`layer_schedule`) gives every W+ layer
its own time - the per-style interpolation of StyleGAN's style mixing applied to morphing.
"""

from __future__ import annotations

import math

import torch

from ..errors import InvalidArgumentError

# The truncation trick (one psi per row allowed) lives with the mapping network that owns w_avg;
# re-exported under its latent-tools name.
from ..nn.mapping import truncate
from .limits import EASINGS, LAYER_ORDERS

truncate_ws = truncate



def _as_t(t: float | torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Turn ``t`` into a tensor that broadcasts against ``ref`` aligned on the leading dims."""
    t = torch.as_tensor(t, dtype=ref.dtype, device=ref.device)
    if t.ndim > ref.ndim:
        raise InvalidArgumentError(
            f"interpolation t has shape {tuple(t.shape)} but the latents only have {ref.ndim} dims "
            f"{tuple(ref.shape)}; give one t per row ([N]) or per row and layer ([N, num_ws])")
    return t.reshape(tuple(t.shape) + (1,) * (ref.ndim - t.ndim))


def lerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Linear interpolation ``a + t (b - a)`` of W or W+ codes (Image2StyleGAN Sec. 4.1 morphing).

    Args:
        a, b: latents of the same (or broadcastable) shape, e.g. w [N, w_dim] or ws [N, num_ws, w_dim].
        t: float, or a tensor aligned with the leading dims (see the module docstring); values
            outside [0, 1] extrapolate. A t of shape [T] with one-row latents ``a, b`` [1, ...]
            gives T rows: the path from a to b, e.g. ``lerp(ws[0:1], ws[1:2], torch.linspace(0, 1, T))``.
    Returns:
        The interpolated latents, the broadcast shape of ``a``, ``b`` and ``t``.
    """
    a, b = torch.broadcast_tensors(a, b)
    a, b, tt = torch.broadcast_tensors(a, b, _as_t(t, a))
    # torch.lerp switches formula at t = 0.5 so that t = 0 and t = 1 give a and b exactly.
    return torch.lerp(a, b, tt)


def slerp(a: torch.Tensor, b: torch.Tensor, t: float | torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation along the last dimension (for Z, where samples lie near a sphere).

    The *direction* moves along the great circle from a/|a| to b/|b| at constant angular speed
    (Shoemake 1985; StyleGAN's PPL uses the same path in Z) and the *norm* is interpolated
    linearly, so endpoints of equal norm give a path of constant norm - lerp of two Gaussian z
    would instead cut through the low-density middle of the sphere.

    Near-parallel directions (sin of the angle < ``eps``) fall back to normalised lerp of the
    directions, which is the limit of the formula. Exactly opposite directions have no unique
    great circle: we then turn towards a fixed direction orthogonal to ``a`` (built from the
    coordinate axis on which ``a`` is smallest), so the result is still defined and deterministic.

    Args:
        a, b: [..., D] non-zero vectors (broadcastable).
        t: float or tensor aligned with the leading dims; outside [0, 1] extrapolates on the circle.
        eps: threshold of the near-parallel fall-back.
    Returns:
        [..., D] interpolated vectors.
    Raises:
        InvalidArgumentError: a zero vector (its direction is undefined).
    """
    a, b = torch.broadcast_tensors(a, b)
    na = a.norm(dim=-1, keepdim=True)
    nb = b.norm(dim=-1, keepdim=True)
    if bool((na == 0).any()) or bool((nb == 0).any()):
        raise InvalidArgumentError("slerp got a zero vector, whose direction is undefined; use lerp for it")
    ua, ub = a / na, b / nb
    tt = _as_t(t, a)
    if tt.shape[-1] != 1:
        raise InvalidArgumentError("slerp takes one t per vector, not one per coordinate")
    cos = (ua * ub).sum(dim=-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(cos)
    sin = torch.sin(omega)
    safe_sin = torch.where(sin < eps, torch.ones_like(sin), sin)
    # Great-circle weights; where the angle is ~0 they tend to (1 - t, t), i.e. lerp.
    wa = torch.where(sin < eps, 1 - tt, torch.sin((1 - tt) * omega) / safe_sin)
    wb = torch.where(sin < eps, tt, torch.sin(tt * omega) / safe_sin)
    direction = wa * ua + wb * ub
    opposite = (sin < eps) & (cos < 0)
    if bool(opposite.any()):
        # Rotate a by pi * t in the plane of a and a fixed orthogonal vector.
        axis = torch.zeros_like(ua).scatter_(-1, ua.abs().argmin(dim=-1, keepdim=True), 1.0)
        perp = axis - (axis * ua).sum(dim=-1, keepdim=True) * ua
        perp = perp / perp.norm(dim=-1, keepdim=True)
        turned = torch.cos(math.pi * tt) * ua + torch.sin(math.pi * tt) * perp
        direction = torch.where(opposite, turned, direction)
    direction = direction / direction.norm(dim=-1, keepdim=True)
    out: torch.Tensor = direction * (na + tt * (nb - na))
    return out


def ease(t: torch.Tensor, kind: str = "linear") -> torch.Tensor:
    """Map t in [0, 1] to [0, 1] with zero slope at the ends for 'smoothstep' (3t^2 - 2t^3) and 'cosine'.

    Easing makes a multi-keyframe video pause softly at each keyframe instead of turning sharply.
    """
    if kind == "linear":
        return t
    if kind == "smoothstep":
        return t * t * (3 - 2 * t)
    if kind == "cosine":
        return (1 - torch.cos(math.pi * t)) / 2
    raise InvalidArgumentError(f"easing {kind!r} is unknown; choose one of {EASINGS}")


def layer_schedule(t: float | torch.Tensor, num_ws: int, order: str = "coarse-first", spread: float = 0.5,
                   easing: str = "linear") -> torch.Tensor:
    """Per-layer (per-style) times: t [N] -> t_layers [N, num_ws] for :func:`lerp` of W+ codes.

    Layer l (0 = coarsest, 4x4) is given its own window of the path: with position p_l = l / (num_ws - 1)
    ('coarse-first'; 1 - p_l for 'fine-first'), it moves during t in [spread * p_l, spread * p_l + 1 - spread]:
    ``t_l = clip((t - spread * p_l) / (1 - spread), 0, 1)``. spread = 0 moves all layers together
    (plain lerp); spread -> 1 moves them one after another, so pose and shape (coarse styles) change
    before colour and texture (fine styles) - a staged morph. Every layer is at 0 for t=0 and at 1 for t=1.

    Args:
        t: float or tensor [N] of path times in [0, 1].
        num_ws: number of W+ layers (GeneratorConfig.num_ws).
        order: 'coarse-first', 'fine-first' or 'uniform' (all layers at t).
        spread: in [0, 1): how staggered the layer windows are.
        easing: easing applied to each layer's local time (see :func:`ease`).
    Returns:
        float32 tensor [N, num_ws] (N = 1 for a float t).
    Raises:
        InvalidArgumentError: unknown order or spread outside [0, 1).
    """
    if order not in LAYER_ORDERS:
        raise InvalidArgumentError(f"layer order {order!r} is unknown; choose one of {LAYER_ORDERS}")
    if not 0 <= spread < 1:
        raise InvalidArgumentError(f"spread={spread} must be in [0, 1) (0 = all layers together)")
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1, 1)
    if order == "uniform" or num_ws == 1 or spread == 0:
        return ease(t.clamp(0, 1), easing).expand(-1, num_ws).clone()
    pos = torch.arange(num_ws, dtype=torch.float32, device=t.device) / (num_ws - 1)
    if order == "fine-first":
        pos = 1 - pos
    local = ((t - spread * pos) / (1 - spread)).clamp(0, 1)
    # Rounding can leave the last layer at 0.99999994 for t = 1; the path must end exactly on b.
    local = torch.where(t >= 1, torch.ones_like(local), local)
    return ease(local, easing)


def psi_schedule(t: float | torch.Tensor, start: float = 1.0, end: float | None = None,
                 middle: float | None = None) -> torch.Tensor:
    """Truncation psi along a path: t [N] -> psi [N].

    ``psi(t) = (1 - t) start + t end + (middle - (start + end) / 2) sin^2(pi t)``: linear from ``start``
    to ``end`` (default: ``end = start``) plus a smooth bump that reaches ``middle`` at t = 0.5 and
    vanishes at both ends *with zero slope*, so consecutive segments of a keyframe video join without
    a kink in psi. E.g. start = end = 1, middle = 0.7 keeps the endpoints exact while the middle of a
    morph passes closer to the average image.
    """
    t = torch.as_tensor(t, dtype=torch.float32).reshape(-1)
    end = start if end is None else end
    psi = (1 - t) * start + t * end
    if middle is not None:
        psi = psi + (middle - (start + end) / 2) * torch.sin(math.pi * t).square()
    return psi


def gaussian_smooth(seq: torch.Tensor, sigma: float, closed: bool = False) -> torch.Tensor:
    """Gentle Gaussian low-pass filter of a sequence of latents over time (dim 0).

    Smoothing rounds the corners a multi-keyframe path has at each keyframe (a visible jolt in a
    video) while leaving straight stretches alone. Open paths are extended past their ends by *point
    reflection* (x[-k] = 2 x[0] - x[k]), so linear segments stay exactly linear and the first and
    last latents are preserved exactly; closed loops wrap around.

    Args:
        seq: [T, ...] latents (e.g. ws [T, num_ws, w_dim] or z [T, z_dim]).
        sigma: kernel standard deviation in frames (0 returns a copy; 1-3 is gentle).
        closed: the path is a loop (frame T follows frame T-1).
    Returns:
        [T, ...] smoothed latents.
    """
    if sigma < 0:
        raise InvalidArgumentError(f"sigma={sigma} must be >= 0 frames (0 disables smoothing)")
    n = seq.shape[0]
    if sigma == 0 or n < 3:
        return seq.clone()
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, device=seq.device)
    weights = torch.exp(-0.5 * (offsets.to(seq.dtype) / sigma) ** 2)
    weights = weights / weights.sum()
    if closed:
        out = torch.zeros_like(seq)
        base = torch.arange(n, device=seq.device)
        for k, wk in zip(offsets.tolist(), weights):
            out += wk * seq[(base + k) % n]
        return out
    padded = seq
    left = right = radius
    while left > 0 or right > 0:  # repeat the reflection when the kernel is longer than the path
        k_left, k_right = min(left, padded.shape[0] - 1), min(right, padded.shape[0] - 1)
        head = 2 * padded[:1] - padded[1:k_left + 1].flip(0)
        tail = 2 * padded[-1:] - padded[padded.shape[0] - 1 - k_right:padded.shape[0] - 1].flip(0)
        padded = torch.cat([head, padded, tail])
        left, right = left - k_left, right - k_right
    out = torch.zeros_like(seq)
    for i, wk in enumerate(weights):
        out += wk * padded[i:i + n]
    return out
