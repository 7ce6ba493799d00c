"""Mapping network z (+ class label) -> w, with the running mean w_avg used for truncation."""

from __future__ import annotations

import torch
from torch import nn

from ..config import MappingConfig
from ..errors import InvalidArgumentError
from .layers import FullyConnectedLayer, normalize_2nd_moment


class MappingNetwork(nn.Module):
    """An MLP of ``fc0 .. fc{L-1}`` (plus ``embed`` for class conditioning).

    Args:
        z_dim, c_dim, w_dim: latent, label and output widths (z_dim may be 0 for D's label map).
        num_ws: number of copies of w to output; None returns [N, w_dim].
        cfg: layer count, widths, activation, lr multiplier and w_avg decay.
    """

    w_avg: torch.Tensor  # a buffer, declared for the type checker

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, cfg: MappingConfig) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.w_avg_beta = cfg.w_avg_beta
        embed_features = cfg.embed_features if cfg.embed_features is not None else w_dim
        if c_dim == 0:
            embed_features = 0
        layer_features = cfg.layer_features if cfg.layer_features is not None else w_dim
        features = [z_dim + embed_features] + [layer_features] * (cfg.num_layers - 1) + [w_dim]
        self.num_layers = cfg.num_layers
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for idx in range(cfg.num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation=cfg.activation,
                                        lr_multiplier=cfg.lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        if num_ws is not None and cfg.w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, update_w_avg: bool = False) -> torch.Tensor:
        """Map z [N, z_dim] (and c [N, c_dim]) to ws [N, num_ws, w_dim] (or w [N, w_dim]).

        Truncation pulls the first ``truncation_cutoff`` ws (all when None) towards w_avg:
        w' = w_avg + psi * (w - w_avg).
        """
        x: torch.Tensor | None = None
        if self.z_dim > 0:
            assert z is not None, "z is required when z_dim > 0"
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0:
            assert c is not None, "c is required when c_dim > 0"
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        assert x is not None  # num_layers >= 1
        if update_w_avg and self.w_avg_beta is not None:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is None:
            return x
        x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            x = truncate(x, self.w_avg, truncation_psi, truncation_cutoff)
        return x


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float | torch.Tensor,
             cutoff: int | None = None) -> torch.Tensor:
    """Truncation trick (StyleGAN, Karras et al. 2019, Sec. 3): ``w' = w_avg + psi (w - w_avg)``.

    The one implementation, used by :class:`MappingNetwork` and by the latent tools
    (:func:`styleblend.latents.interpolate.truncate_ws` is this function). Computed with
    ``torch.lerp`` like NVIDIA's ``w_avg.lerp(x, psi)``, so results match theirs bit for bit.

    Args:
        ws: [N, num_ws, w_dim].
        w_avg: [w_dim], the running mean ``G.mapping.w_avg`` (moved to ``ws``' device and dtype).
        psi: a float for every row, or a tensor [N] with one psi per row (e.g. a psi schedule along
            a path); 1 leaves ws unchanged, 0 gives w_avg.
        cutoff: truncate only layers [0, cutoff) (None: all), as NVIDIA's ``truncation_cutoff``;
            clamped to [0, num_ws].

    Returns:
        A new tensor [N, num_ws, w_dim].

    Raises:
        InvalidArgumentError: ``ws`` is not 3-D.
    """
    if ws.ndim != 3:
        raise InvalidArgumentError(f"truncation expects ws [N, num_ws, w_dim], got shape {tuple(ws.shape)}")
    if isinstance(psi, torch.Tensor):
        psi = psi.to(device=ws.device, dtype=ws.dtype).reshape(-1, 1, 1)
    stop = ws.shape[1] if cutoff is None else max(0, min(int(cutoff), ws.shape[1]))
    out = ws.clone()
    out[:, :stop] = w_avg.to(device=ws.device, dtype=ws.dtype).lerp(ws[:, :stop], psi)
    return out
