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

#: Most entries one list may expand to. A range is counted before it is expanded, so '0-9999999999'
#: is refused at once instead of building a list of ten billion ints (a run of 100 000 images is
#: already hours of work; split bigger jobs into several runs).
MAX_LIST_LENGTH = 100_000

#: Largest seed: NVIDIA's seeds are numpy RandomState seeds, which must lie in [0, 2**32).
MAX_SEED = 2**32 - 1


def parse_int_list(text: str, what: str = "seeds", max_count: int = MAX_LIST_LENGTH,
                   max_value: int | None = None) -> list[int]:
    """Parse '0-3,7,42' -> [0, 1, 2, 3, 7, 42] (NVIDIA's num_range syntax, comma-separated).

    Args:
        text: comma-separated numbers and inclusive ranges ``lo-hi``.
        what: what the numbers are, for messages ('seeds', 'layers', ...).
        max_count: most entries the expanded list may have; checked before any range is expanded.
        max_value: largest allowed number (None: no bound; for ``what == 'seeds'`` the default is
            :data:`MAX_SEED`); checked before expanding too.

    Raises:
        InvalidArgumentError: malformed text, a reversed range, a number above ``max_value`` or more than
            ``max_count`` entries.
    """
    if max_value is None and what.endswith("seeds"):
        max_value = MAX_SEED
    text = str(text)
    if len(text) > 10 * max_count + 100:  # even the shortest entries ('1,') could not fit the limit
        raise InvalidArgumentError(f"the {what} list is {len(text)} characters long; give at most {max_count} "
                                   f"{what} (ranges like '0-99' count every number)")
    spans: list[tuple[int, int]] = []
    count = 0
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        m = _RANGE.match(part)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise InvalidArgumentError(f"{what} range '{part}' is reversed; write '{hi}-{lo}'")
        elif part.isdigit():
            lo = hi = int(part)
        else:
            raise InvalidArgumentError(f"{what} '{_short(text)}' is not a list like '0-7,42' (bad part: "
                                       f"'{_short(part)}')")
        if max_value is not None and hi > max_value:
            raise InvalidArgumentError(f"{what} '{_short(part)}' goes above {max_value}; {what} must lie in "
                                       f"[0, {max_value}]")
        count += hi - lo + 1
        if count > max_count:
            raise InvalidArgumentError(f"{what} '{_short(text)}' are more than {max_count} values, the most one "
                                       "request takes; give at most {max_count} (split bigger jobs into "
                                       "several runs)".replace("{max_count}", str(max_count)))
        spans.append((lo, hi))
    if not spans:
        raise InvalidArgumentError(f"no {what} given in '{_short(text)}'; write e.g. '0-7' or '1,5,42'")
    out: list[int] = []
    for lo, hi in spans:
        out.extend(range(lo, hi + 1))
    return out


def _short(text: str, limit: int = 60) -> str:
    """``text`` cut for an error message (a hostile list can be a megabyte long)."""
    return text if len(text) <= limit else text[:limit] + "..."
