"""Seed conventions shared with NVIDIA's generate.py and style_mixing.py."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import InvalidArgumentError


def z_from_seed(seed: int, z_dim: int) -> np.ndarray:
    """z for one seed exactly as NVIDIA: ``np.random.RandomState(seed).randn(1, z_dim)`` (float64 [1, z_dim])."""
    if not 0 <= seed < 2**32:
        raise InvalidArgumentError(f"seed {seed} must be in [0, 2**32)")
    return np.random.RandomState(seed).randn(1, z_dim)


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
