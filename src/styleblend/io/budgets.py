"""Budgets for what a checkpoint file states: sizes, views, nesting and expansion, checked before allocation.

A file's numbers are claims. These checks hold them to the bytes the file really has or to a stated
limit, so that a small file cannot make a reader allocate terabytes, recurse without end or walk an
exponentially shared ("billion laughs") object graph; and :func:`one_line` keeps every failure to one
line without torch's multi-line advice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from ..errors import CheckpointError

#: Deepest nesting of containers a checkpoint may have (NVIDIA snapshots need about 20 levels).
MAX_DEPTH = 64
#: Most items the unpickled object graph may expand to when every shared reference is followed as
#: a copy (what ``json.dumps``, ``repr`` or a recursive copy of it would build). Real snapshots have
#: tens of thousands; tensors and arrays count as one.
MAX_NODES = 1_000_000
#: Most tuple items the unpickler may hash while building dict keys and sets (hashing a tuple
#: visits all of its nested tuples, and shared references would make that exponential).
MAX_HASH_WORK = 10_000_000

def one_line(exc: BaseException, limit: int = 200) -> str:
    """``Type: first line of the message`` - never torch's multi-line advice, never its weights_only hint."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if "weights_only" in first:
        first = ""
    if len(first) > limit:
        first = first[:limit] + "..."
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def int_tuple(value: Any, what: str) -> tuple[int, ...]:
    if not isinstance(value, (tuple, list, torch.Size)) or len(value) > 64:
        raise CheckpointError(f"{what} is {type(value).__name__}, not a short tuple of integers")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise CheckpointError(f"{what} holds {type(v).__name__}, not an integer")
        out.append(int(v))
    return tuple(out)


def check_view(storage_numel: int, offset: Any, size: Any, stride: Any, what: str = "a tensor",
               ) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """Check that a tensor view (offset, size, stride) lies inside a storage of ``storage_numel`` elements.

    Also refuses views with more elements than their storage (only overlapping strides make those;
    copying one would allocate memory the file never paid for).

    Returns:
        (offset, size, stride) as ints.

    Raises:
        CheckpointError: a negative number, a view past the storage's end, or one larger than it.
    """
    if isinstance(offset, bool) or not isinstance(offset, (int, np.integer)):
        raise CheckpointError(f"{what}: storage offset is {type(offset).__name__}, not an integer")
    offset, size, stride = int(offset), int_tuple(size, f"{what}'s size"), int_tuple(stride, f"{what}'s stride")
    if len(size) != len(stride):
        raise CheckpointError(f"{what}: size {size} and stride {stride} have different lengths")
    if offset < 0 or any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise CheckpointError(f"{what}: negative storage offset, size or stride ({offset}, {size}, {stride})")
    numel = 1
    for s in size:
        numel *= s
    if numel == 0:
        if offset > storage_numel:
            raise CheckpointError(f"{what}: storage offset {offset} is past the end of its storage "
                                  f"({storage_numel} elements)")
        return offset, size, stride
    last = offset + sum((s - 1) * st for s, st in zip(size, stride))
    if last >= storage_numel:
        raise CheckpointError(f"{what} of size {size}, stride {stride} at offset {offset} reaches element {last} "
                              f"but its storage has {storage_numel}; the file is corrupt")
    if numel > storage_numel:
        raise CheckpointError(f"{what} of size {size} has {numel} elements but its storage only {storage_numel} "
                              "(overlapping strides); checkpoints never need that")
    return offset, size, stride


_SEQUENCES = (list, tuple, set, frozenset)


def _children(value: Any) -> Iterable[Any] | None:
    """The objects a container refers to, or None for a leaf (tensors and arrays are leaves)."""
    if isinstance(value, dict):
        return (x for kv in value.items() for x in kv)
    if isinstance(value, _SEQUENCES):
        return value
    if isinstance(value, slice):
        return (value.start, value.stop, value.step)
    if type(value).__module__.startswith("styleblend") and hasattr(value, "__dict__"):
        return tuple(vars(value).values())
    return None


def check_graph(obj: Any, what: str = "the file") -> None:
    """Refuse object graphs nested deeper than :data:`MAX_DEPTH` or expanding to over :data:`MAX_NODES`.

    The walk follows every reference as if it were a copy (as ``json.dumps`` or a recursive
    conversion would), so shared sub-objects count each time they are reached and a self-reference
    shows up as unbounded depth. It stops as soon as a budget is exceeded, so its own cost is bounded.

    Raises:
        CheckpointError: naming the budget that was exceeded.
    """
    max_nodes, max_depth = MAX_NODES, MAX_DEPTH
    nodes = 1
    stack: list[tuple[Any, int]] = [(obj, 0)]
    while stack:
        value, depth = stack.pop()
        children = _children(value)
        if children is None:
            continue
        if depth >= max_depth:
            raise CheckpointError(f"{what} is nested more than {max_depth} levels deep (or refers to itself)")
        for child in children:
            nodes += 1
            if isinstance(child, (str, bytes, bytearray)):
                nodes += len(child) >> 6
            elif not isinstance(child, (int, float, bool, type(None), torch.Tensor, np.ndarray, np.generic)):
                stack.append((child, depth + 1))
        if nodes > max_nodes:
            raise CheckpointError(f"{what} expands to over {max_nodes} objects (shared parts repeated many "
                                  "times, 'billion laughs'); refused before anything walks it")
