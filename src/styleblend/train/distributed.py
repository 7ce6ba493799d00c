"""Multi-process data-parallel training with ``torch.distributed`` (torchrun or spawned processes).

We reduce gradients by hand instead of wrapping the networks in DistributedDataParallel: the lazy
regularisation phases call ``backward`` a varying number of times with different sub-graphs and
double back-propagation, which DDP's hooks do not expect. Every pass weights its loss by its share
of the whole minibatch (see ``loss.accumulate_gradients``), so after each phase a process holds its
part of the whole batch's gradient; :func:`reduce_gradients` sums the flattened parts, every
process gets the gradient of the whole minibatch, and identical optimiser steps keep the replicas
equal.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..errors import InvalidArgumentError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits: ``rank`` of ``world_size`` (``local_rank`` on this host)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process writes files and shows progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_from_env(device: torch.device) -> DistInfo:
    """Join the process group described by torchrun's RANK / WORLD_SIZE / LOCAL_RANK variables.

    Without those variables (or with WORLD_SIZE=1) this is a single process and nothing is
    initialised. The backend is NCCL for CUDA devices and Gloo otherwise; MASTER_ADDR / MASTER_PORT
    must be set (torchrun does it).

    Raises:
        InvalidArgumentError: the variables are malformed.
    """
    if "WORLD_SIZE" not in os.environ or int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return DistInfo()
    try:
        rank = int(os.environ["RANK"])
        world = int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
    except (KeyError, ValueError) as exc:
        raise InvalidArgumentError(f"torch.distributed environment is incomplete ({exc}); launch with "
                                   "torchrun") from None
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
        log.info("joined process group: rank %d of %d (%s)", rank, world, backend)
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def current() -> DistInfo:
    """The already-initialised process group (or a single process)."""
    if dist.is_available() and dist.is_initialized():
        return DistInfo(rank=dist.get_rank(), world_size=dist.get_world_size(),
                        local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return DistInfo()


def all_reduce_sum_tensor(t: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """``t`` summed over all processes (a new tensor; ``t`` itself when single-process)."""
    if not info.enabled:
        return t
    out = t.clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


class PairwiseSum:
    """A sum of tensors added one at a time, combined as a balanced binary tree in a fixed order.

    Float addition is not associative, so the order in which the passes' gradients are added
    decides the last bits, and GAN training amplifies last bits into visible differences within
    a few dozen steps. Summing in a tree over the global pass index makes the result the same
    whether one process adds all passes or each process sums its block of passes and the
    blocks are summed across processes, as long as the blocks are subtrees: the number of
    passes per process and the number of processes are powers of two (1 or 2 processes with any
    power-of-two count of passes each, for example). Keeps O(log n) partial sums.
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, torch.Tensor]] = []

    def add(self, t: torch.Tensor) -> None:
        self._stack.append((1, t))
        while len(self._stack) >= 2 and self._stack[-1][0] == self._stack[-2][0]:
            (n_b, b), (n_a, a) = self._stack.pop(), self._stack.pop()
            self._stack.append((n_a + n_b, a + b))

    def result(self) -> torch.Tensor | None:
        """The sum (None when nothing was added); uneven counts fold the partial sums right to left."""
        if not self._stack:
            return None
        total = self._stack[-1][1]
        for _, t in reversed(self._stack[:-1]):
            total = t + total
        return total


def flat_grads(params: list[torch.nn.Parameter]) -> torch.Tensor:
    """The gradients of ``params`` as one flat tensor (missing gradients are zeros)."""
    return torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in params])


def reduce_gradients(params: list[torch.nn.Parameter], info: DistInfo, local: torch.Tensor | None = None) -> None:
    """Set the gradients of ``params`` to the sum over processes of ``local`` (default: their gradients).

    Each process holds the gradient of its passes (``local``, flat as :func:`flat_grads`), already
    weighted by their share of the whole minibatch, so the sum is the whole minibatch's gradient.
    The processes' parts are gathered and added in rank order as a :class:`PairwiseSum`, so every
    process gets the same bits, and the same bits as one process adding all passes.
    NaN/inf entries are replaced (0, +-1e5), as NVIDIA's loop does, so one bad minibatch cannot
    poison the weights.
    """
    flat = local if local is not None else flat_grads(params)
    if info.enabled:
        parts = [torch.empty_like(flat) for _ in range(info.world_size)]
        dist.all_gather(parts, flat.contiguous())
        tree = PairwiseSum()
        for part in parts:
            tree.add(part)
        total = tree.result()
        assert total is not None  # one part per process, world_size >= 1
        flat = total
    torch.nan_to_num(flat, nan=0.0, posinf=1e5, neginf=-1e5, out=flat)
    offset = 0
    for p in params:
        p.grad = flat[offset: offset + p.numel()].reshape(p.shape).clone()
        offset += p.numel()


def all_reduce_sum(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """Sum Python scalars over processes (for statistics such as ADA's sign count)."""
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(v) for v in t.tolist()]


def broadcast_module(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's parameters and buffers to every process (so all start equal)."""
    if not info.enabled:
        return
    for t in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(t.data, src=0)


def check_consistency(module: torch.nn.Module, info: DistInfo, what: str, atol: float = 0.0) -> float:
    """Largest difference between this process' parameters and rank 0's, over all processes.

    The replicas must stay equal (same reduced gradients, same optimiser steps); a difference
    means a bug, so this raises RuntimeError rather than training on silently.
    """
    if not info.enabled:
        return 0.0
    params = [p.detach().reshape(-1) for p in module.parameters()]
    if not params:
        return 0.0
    flat = torch.cat(params)
    ref = flat.clone()
    dist.broadcast(ref, src=0)
    diff = (ref - flat).abs().max().reshape(1)
    dist.all_reduce(diff, op=dist.ReduceOp.MAX)
    value = float(diff)
    if value > atol:
        raise RuntimeError(f"{what} differs between processes by up to {value:g}; data-parallel replicas diverged")
    return value


def shutdown() -> None:
    """Leave the process group (an undestroyed gloo group can abort the process at exit)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


@contextlib.contextmanager
def process_group(device: torch.device, dist_info: DistInfo | None = None) -> Iterator[DistInfo]:
    """The process group a training function runs in: ``dist_info`` when the caller made one, else one set up
    from torchrun's environment (a single process without it) and shut down again on exit."""
    owns_group = dist_info is None and not is_initialized()
    info = dist_info if dist_info is not None else init_from_env(device)
    try:
        yield info
    finally:
        if owns_group:
            shutdown()
