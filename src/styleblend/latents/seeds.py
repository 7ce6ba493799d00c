"""Seed conventions shared with NVIDIA's generate.py and style_mixing.py."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import InvalidArgumentError


def _seed_stream(seed: int) -> np.random.RandomState:
    if not 0 <= seed < 2**32:
        raise InvalidArgumentError(f"seed {seed} must be in [0, 2**32)")
    return np.random.RandomState(seed)


def z_from_seed(seed: int, z_dim: int) -> np.ndarray:
    """z for one seed exactly as NVIDIA: ``np.random.RandomState(seed).randn(1, z_dim)`` (float64 [1, z_dim])."""
    return _seed_stream(seed).randn(1, z_dim)


def noise_from_seed(seed: int, z_dim: int, resolutions: Sequence[int]) -> list[np.ndarray]:
    """Per-layer noise for one seed as NVIDIA's TensorFlow tools draw it.

    StyleGAN2's ``run_generator.py`` (and StyleGAN2-ADA-TF's ``generate.py``) draw z and then, from the
    same ``RandomState(seed)``, one ``randn(1, 1, r, r)`` per noise input in layer order, and render with
    that noise held constant. ``resolutions``: the noise inputs' sizes in that order (4, 8, 8, 16, 16, ...).
    """
    rnd = _seed_stream(seed)
    rnd.randn(1, z_dim)  # z comes first from the same stream
    return [rnd.randn(1, 1, r, r) for r in resolutions]


def z_from_seeds(seeds: Sequence[int], z_dim: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """Stack z for several seeds as a float32 tensor [len(seeds), z_dim]."""
    if z_dim == 0:
        return torch.zeros([len(seeds), 0], device=device)
    z = np.concatenate([z_from_seed(s, z_dim) for s in seeds]) if seeds else np.zeros([0, z_dim])
    return torch.from_numpy(z).to(device=device, dtype=torch.float32)


_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")


def parse_int_list(text: str, what: str = "seeds") -> list[int]:
    """Parse '0-3,7,42' -> [0, 1, 2, 3, 7, 42] (NVIDIA's num_range syntax, comma-separated)."""
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        m = _RANGE.match(part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise InvalidArgumentError(f"{what} range '{part}' is reversed; write '{hi}-{lo}'")
            out.extend(range(lo, hi + 1))
        elif part.isdigit():
            out.append(int(part))
        else:
            raise InvalidArgumentError(f"{what} '{text}' is not a list like '0-7,42' (bad part: '{part}')")
    if not out:
        raise InvalidArgumentError(f"no {what} given in '{text}'; write e.g. '0-7' or '1,5,42'")
    return out
