"""Measures of what a toonify keeps, and the bookkeeping of its output folder.

* reconstruction: PSNR / SSIM of the base's render of the latent against the target
  (:func:`styleblend.metrics.quality.summarize`), with and without pivotal tuning;
* latent: the latent's distance from W (:func:`latent_distance_from_w`);
* identity: dlib's face-recognition distance between the target and each render (faces only,
  :mod:`styleblend.metrics.identity`);
* realism: the raw logit D(x) of the transfer model's discriminator on each toon (:class:`Critic`).
  D is trained with the non-saturating logistic loss, so sigmoid(D(x)) is its estimate that x is a real
  image *of the transfer's training data*: 0 means undecided, larger is more real-looking. The scale
  differs from model to model and drifts during training, so compare a toon's logit with the same D's
  logits of the transfer's own samples (``reference``), never across models.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..io import load_checkpoint
from ..media.images import from_uint8
from . import wspace

if TYPE_CHECKING:
    from ..types import Generator

log = logging.getLogger(__name__)

MANIFEST = "metrics.json"


def latent_distance_from_w(G: Generator, ws: torch.Tensor, seed: int = 0) -> dict[str, Any]:
    """The latent's distance from W (:func:`styleblend.project.wspace.distance_from_w`, with W's statistics
    measured as ``project`` measures them): its row spread (0 in W) and its mean row's distance from w_avg, both
    in units of W's per-coordinate spread."""
    w_avg, coord_std = wspace.w_stats(G, 1000, seed)
    found = wspace.distance_from_w(ws.detach(), w_avg, coord_std)
    return {"w_distance": {"row_spread": found["row_spread"][0], "mean_distance": found["mean_distance"][0]}}


class Critic:
    """A transfer model's discriminator, scoring renders by their raw logit D(x) (see the module docstring)."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        ckpt = load_checkpoint(path)
        self.path = Path(path)
        self.D = ckpt.discriminator(device).eval().requires_grad_(False)
        self.c_dim = ckpt.d_config.c_dim if ckpt.d_config is not None else 0
        self._ckpt, self.device = ckpt, device

    @torch.no_grad()
    def logit(self, image_u8) -> float:
        """D's logit of one uint8 image [H, W, C] at D's resolution."""
        img = from_uint8(image_u8).to(self.device)
        return float(self.D(img, None)[0, 0])

    @torch.no_grad()
    def reference(self, num: int = 16, seed: int = 0) -> float | None:
        """Mean logit of the checkpoint's own generator samples (truncation 1, noise const), None without G."""
        if self.c_dim:
            return None
        G = self._ckpt.generator(self.device)
        z = torch.randn([num, G.z_dim], generator=torch.Generator().manual_seed(seed)).to(self.device)
        return float(self.D(G.synthesis(G.mapping(z, None), noise_mode="const"), None).mean())


def transfer_snapshot(record: dict[str, Any] | None) -> Path | None:
    """The transfer file a blend recorded (two-model blends), if it still exists and has a discriminator."""
    if not record or len(record.get("inputs") or []) != 2:
        return None
    path = record["inputs"][1].get("path")
    if not path or not Path(path).is_file():
        return None
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            if not any(k.startswith("d.") for k in f.keys()):
                return None
    except Exception:  # noqa: BLE001 - not a native file: let the full loader decide
        pass
    return Path(path)


def previous_outputs(outdir: Path) -> list[str]:
    """The files the previous toonify into ``outdir`` listed in its metrics.json (names inside outdir)."""
    try:
        files = json.loads((outdir / MANIFEST).read_text()).get("files") or []
    except (OSError, ValueError, AttributeError):
        return []
    return [f for f in files if isinstance(f, str) and "/" not in f and "\\" not in f and f not in ("", ".", "..")]


def remove_stale(outdir: Path, old: list[str], new: list[Path]) -> list[Path]:
    """Delete the previous run's files that this run did not write again; returns what was removed."""
    keep = {p.name for p in new} | {MANIFEST}
    removed = []
    for name in old:
        path = outdir / name
        if name not in keep and path.is_file():
            path.unlink()
            removed.append(path)
    return removed
