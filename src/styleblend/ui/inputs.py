"""Validation of what the page sends (seeds, ψ, α vectors, choices, file names), with clear messages."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import InvalidArgumentError
from ..latents.limits import PSI_RANGE, check_psi
from ..latents.seeds import parse_int_list

__all__ = ["MAX_SEEDS", "PSI_RANGE", "choice", "parse_alphas", "parse_int", "parse_psi", "parse_seeds",
           "safe_name"]

MAX_SEEDS = 8
ALPHA_DECIMALS = 4  # α vectors are rounded so that slider jitter re-uses a cached blend


def parse_seeds(seeds: str | Sequence[int], limit: int = MAX_SEEDS) -> tuple[int, ...]:
    """'1,2,3' / '0-3' or a list -> a tuple of at most ``limit`` seeds in [0, 2**32)."""
    if isinstance(seeds, str):
        # parse_int_list counts a range before expanding it, so '0-3000000000' costs nothing.
        values = parse_int_list(seeds, "seeds", max_count=limit)
    else:
        if len(seeds) > limit:
            raise InvalidArgumentError(f"{len(seeds)} seeds given; the preview shows at most {limit} - remove some")
        values = [parse_int(s, "seed") for s in seeds]
    if not values:
        raise InvalidArgumentError("give at least one seed, e.g. '1,2,3'")
    if len(values) > limit:
        raise InvalidArgumentError(f"{len(values)} seeds given; the preview shows at most {limit} - remove some")
    bad = [s for s in values if not 0 <= s < 2**32]
    if bad:
        shown = ", ".join(str(b) if len(str(b)) <= 20 else str(b)[:20] + "..." for b in bad[:4])
        raise InvalidArgumentError(f"seed(s) {shown} must be in [0, 2**32)")
    return tuple(values)


def parse_int(value: object, what: str) -> int:
    """An integer from JSON: ints, integral floats and digit strings; NaN, inf, 1.5 and bools are refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise InvalidArgumentError(f"{what} {value!r} is not an integer")
    try:
        number = float(value) if isinstance(value, float) else int(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidArgumentError(f"{what} {str(value)[:40]!r} is not an integer") from None
    if isinstance(number, float):
        if not (math.isfinite(number) and number.is_integer()):
            raise InvalidArgumentError(f"{what} {value!r} is not an integer")
        number = int(number)
    return number


def parse_psi(psi: float | str) -> float:
    """Truncation ψ as a finite float in :data:`PSI_RANGE`."""
    return check_psi(psi)


def parse_alphas(alphas: Sequence[float], resolutions: Sequence[int]) -> tuple[float, ...]:
    """One α in [0, 1] per block resolution, rounded to :data:`ALPHA_DECIMALS` decimals."""
    if len(alphas) != len(resolutions):
        raise InvalidArgumentError(f"{len(alphas)} alpha values given; the base has {len(resolutions)} resolutions "
                                   f"{list(resolutions)}, one alpha each")
    values = []
    for r, a in zip(resolutions, alphas):
        try:
            value = float(a)
        except (TypeError, ValueError):
            raise InvalidArgumentError(f"alpha at {r} px is {a!r}, not a number in [0, 1]") from None
        if not 0.0 <= value <= 1.0:
            raise InvalidArgumentError(f"alpha at {r} px is {value:g}; it must be in [0, 1] (0 = base, 1 = transfer)")
        values.append(round(value, ALPHA_DECIMALS))
    return tuple(values)


def choice(value: str, allowed: Sequence[str], what: str) -> str:
    """``value`` if it is one of ``allowed``, else an InvalidArgumentError naming them."""
    if value not in allowed:
        raise InvalidArgumentError(f"{what} {value!r} must be one of {list(allowed)}")
    return value


def safe_name(filename: str | None, default: str) -> str:
    """A harmless file name from a client's name: the last path part, [A-Za-z0-9._-] only, <= 100 chars."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename or "").name)[:100].lstrip(".")
    return name or default
