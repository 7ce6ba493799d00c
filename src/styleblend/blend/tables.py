"""Parsing of the tables in schedule text: 'KEY:VALUE,...,*:DEFAULT' lists and numbers, with one-line errors.

One home for the resolution tables of :mod:`.schedules`, the layer-size/index tables of :mod:`.axes` and the
weight tables of :mod:`.multi`.
"""

from __future__ import annotations

from ..errors import InvalidArgumentError


def parse_float(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidArgumentError(f"{what} '{text}' is not a number") from None


def parse_pairs(text: str, what: str, example: str = "4:1,8:1,16:0.5,*:0",
                entry_example: str = "16:0.5") -> tuple[list[tuple[str, str]], str | None]:
    """'4:1,8:0.5,*:0' -> ([('4', '1'), ('8', '0.5')], '0'); the examples show the form in error messages."""
    pairs, default = [], None
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.rpartition(":")
        if not sep or not key.strip() or not value.strip():
            raise InvalidArgumentError(f"{what} entry '{part}' must look like KEY:VALUE, e.g. '{entry_example}'")
        if key.strip() == "*":
            default = value.strip()
        else:
            pairs.append((key.strip(), value.strip()))
    if not pairs and default is None:
        raise InvalidArgumentError(f"{what} '{text}' is empty; write e.g. '{example}'")
    return pairs, default
