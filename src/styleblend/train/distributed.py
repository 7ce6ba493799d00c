"""Multi-process data-parallel training with ``torch.distributed`` (torchrun or spawned processes).

We reduce gradients by hand instead of wrapping the networks in DistributedDataParallel: the lazy
regularisation phases call ``backward`` a varying number of times with different sub-graphs and
double back-propagation, which DDP's hooks do not expect. After each phase every process holds the
gradient of its share; :func:`all_reduce_mean` of the flattened gradients gives every process the
gradient of the whole minibatch, and identical optimiser steps keep the replicas equal.
"""

from __future__ import annotations

import logging
import os
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
        raise InvalidArgumentError(f"torch.distributed environment is incomplete ({exc}); launch with torchrun") from None
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


def all_reduce_mean(tensors: list[torch.Tensor], info: DistInfo) -> None:
    """Average ``tensors`` over all processes in place (one flat all-reduce)."""
    if not info.enabled or not tensors:
        return
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= info.world_size
    offset = 0
    for t in tensors:
        t.copy_(flat[offset: offset + t.numel()].reshape(t.shape))
        offset += t.numel()


def reduce_gradients(params: list[torch.nn.Parameter], info: DistInfo) -> None:
    """Average the gradients of ``params`` over processes; missing gradients count as zero.

    NaN/inf entries are replaced (0, +-1e5), as NVIDIA's loop does, so one bad minibatch cannot
    poison the weights.
    """
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    grads = [p.grad for p in params]
    all_reduce_mean(grads, info)
    for g in grads:
        torch.nan_to_num(g, nan=0.0, posinf=1e5, neginf=-1e5, out=g)


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
