"""The StyleGAN2(-ADA) training loop: steps until ``options.kimg``, with ticks and snapshots between them.

The parts live in their own modules: :mod:`.state` sets up a run (data, networks, optimisers,
loss, augmentation, phases) and what a step advances; :mod:`.step` runs one step (its phases,
EMA and ADA, and why 1 or 2 processes give bit-identical runs); :mod:`.snapshot` writes sample
grids, snapshots and the training state. Here the loop calls them: a step, the progress bar,
a log record every ``options.tick`` kimg (a tick), a snapshot every ``options.snap`` kimg and
when the call stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import distributed as ddp
from .draws import DataOrder, derive_seed
from .networks import build_networks, update_ema
from .networks import make_adam as _adam  # noqa: F401  (the name earlier callers import)
from .options import TrainOptions
from .progress import ProgressReporter, StatAverager
from .snapshot import render_grid, start_run_dir, write_snapshot
from .state import Counters, Run, open_run, split_batch
from .state import restore_state as _restore_state  # noqa: F401  (the name earlier callers import)
from .step import train_step

log = logging.getLogger(__name__)

__all__ = ["DataOrder", "TrainResult", "build_networks", "derive_seed", "render_grid", "split_batch", "train",
           "update_ema"]


@dataclass
class TrainResult:
    """What a call to :func:`train` did."""

    run_dir: Path
    cur_nimg: int
    step: int
    snapshots: list[Path] = field(default_factory=list)
    finished: bool = False
    rank: int = 0
    #: The run had already reached ``options.kimg`` when this call started: nothing was trained or written.
    already_done: bool = False


def train(options: TrainOptions, *, resume_state: dict[str, Any] | None = None, max_steps: int | None = None,
          show_progress: bool = True, callback: Callable[[dict[str, Any]], None] | None = None,
          dist_info: ddp.DistInfo | None = None) -> TrainResult:
    """Train G and D on ``options.data`` until ``options.kimg`` thousand images; write into ``options.outdir``.

    Args:
        options: the run's options (see :class:`TrainOptions`).
        resume_state: a state from :func:`checkpointing.load_training_state` of this run directory;
            training continues exactly where it was saved.
        max_steps: stop after this many steps of this call (writing a snapshot and the state), for
            tests and time-boxed jobs; None runs to ``options.kimg``.
        show_progress: draw a tqdm bar on stderr (main process only).
        callback: called with every tick's log record (main process only).
        dist_info: the process group (None: read torchrun's environment).

    Returns:
        The run directory, images shown, steps done and snapshots written.

    Raises:
        InvalidArgumentError: inconsistent options (batch split, resolution).
        ImageError: unreadable data set.
        CheckpointError, ArchitectureMismatchError: unusable --resume file.
    """
    device = torch.device(options.device)
    with ddp.process_group(device, dist_info) as info:
        return _train(options, info, device, resume_state, max_steps, show_progress, callback)


@dataclass
class _Clock:
    """When the next tick and snapshot are due (in images), and where the current tick started."""

    tick_start_nimg: int
    tick_start_time: float
    next_tick: float
    next_snap: float
    #: Speed of the last tick, shown beside the bar (None before the first tick).
    kimg_per_hour: float | None = None

    @classmethod
    def start(cls, cur_nimg: int, options: TrainOptions) -> _Clock:
        return cls(cur_nimg, time.time(), _next_multiple(cur_nimg, options.tick * 1000),
                   _next_multiple(cur_nimg, options.snap * 1000))


def _train(options: TrainOptions, info: ddp.DistInfo, device: torch.device, resume_state: dict[str, Any] | None,
           max_steps: int | None, show_progress: bool, callback: Callable[[dict[str, Any]], None] | None
           ) -> TrainResult:
    run_dir = Path(options.outdir)
    if resume_state is not None and int(resume_state["cur_nimg"]) >= round(options.kimg * 1000):
        log.info("%s is at %.3f kimg, which reaches --kimg %g: nothing to train", run_dir,
                 int(resume_state["cur_nimg"]) / 1000, options.kimg)
        return TrainResult(run_dir=run_dir, cur_nimg=int(resume_state["cur_nimg"]), step=int(resume_state["step"]),
                           finished=True, rank=info.rank, already_done=True)
    run, counters = open_run(options, info, device, resume_state)
    if resume_state is not None:
        log.info("resumed %s at step %d (%.1f kimg)", run_dir, counters.step, counters.cur_nimg / 1000)
    report = ProgressReporter(run_dir / "log.jsonl" if info.is_main else None, options.kimg, counters.cur_nimg / 1000,
                              show_bar=show_progress and info.is_main, elapsed=run.elapsed)
    if info.is_main:
        start_run_dir(run, counters, fresh=resume_state is None)

    result = TrainResult(run_dir=run_dir, cur_nimg=counters.cur_nimg, step=counters.step, rank=info.rank)
    averager = StatAverager()
    clock = _Clock.start(counters.cur_nimg, options)
    steps_this_call = 0
    try:
        while counters.cur_nimg < run.total_nimg:
            train_step(run, counters, averager)
            steps_this_call += 1
            stop = counters.cur_nimg >= run.total_nimg or (max_steps is not None and steps_this_call >= max_steps)
            _show_progress(run, counters, report, clock)
            if counters.cur_nimg >= clock.next_tick or stop:
                record = _end_tick(run, counters, averager, clock)
                if info.is_main:
                    report.log(record)
                    if callback is not None:
                        callback(record)
            if counters.cur_nimg >= clock.next_snap or stop:
                path = _snapshot(run, counters, report)
                clock.next_snap = _next_multiple(counters.cur_nimg, options.snap * 1000)
                if path is not None:
                    result.snapshots.append(path)
            if stop:
                break
    finally:
        report.close()
    result.cur_nimg, result.step = counters.cur_nimg, counters.step
    result.finished = counters.cur_nimg >= run.total_nimg
    return result


def _show_progress(run: Run, counters: Counters, report: ProgressReporter, clock: _Clock) -> None:
    """Move the bar; beside it ADA's p and the last tick's speed."""
    postfix = {"p": f"{float(run.augment.p) if run.augment is not None else 0:.3f}"}
    if clock.kimg_per_hour is not None:  # tqdm prints slow rates with two decimals only
        postfix["kimg/h"] = f"{clock.kimg_per_hour:.1f}"
    report.update(counters.cur_nimg / 1000, postfix)


def _end_tick(run: Run, counters: Counters, averager: StatAverager, clock: _Clock) -> dict[str, Any]:
    """The tick's log record (mean statistics since the last tick, p, the path-length mean, speed);
    starts the next tick."""
    cur_nimg, now = counters.cur_nimg, time.time()
    tick_means = averager.means()  # 'D_real_sign' is E[sign(D(x))], ADA's r_t
    speed = (cur_nimg - clock.tick_start_nimg) / 1000 / max(now - clock.tick_start_time, 1e-9)
    record = {"kimg": round(cur_nimg / 1000, 3), "step": counters.step,
              **{k: round(v, 5) for k, v in tick_means.items()},
              "augment_p": round(float(run.augment.p), 5) if run.augment is not None else 0.0,
              "pl_mean": round(float(run.loss.pl_mean), 5),
              "kimg_per_s": round(speed, 5)}
    clock.kimg_per_hour = record["kimg_per_s"] * 3600
    averager.reset()
    clock.tick_start_nimg, clock.tick_start_time = cur_nimg, now
    clock.next_tick = _next_multiple(cur_nimg, run.options.tick * 1000)
    return record


def _snapshot(run: Run, counters: Counters, report: ProgressReporter) -> Path | None:
    """Check that every process holds the same networks, write a snapshot and the state (main
    process: returns its path; others: None), and wait for all processes."""
    info = run.info
    for name, net in (("G", run.G), ("D", run.D), ("G_ema", run.G_ema)):
        ddp.check_consistency(net, info, name)
    path = None
    if info.is_main:
        path = write_snapshot(run, counters, report.elapsed)
        report.write(f"kimg {counters.cur_nimg / 1000:.1f}: wrote {path.name}")
    ddp.barrier(info)
    return path


def _next_multiple(nimg: int, every: float) -> float:
    """The first multiple of ``every`` images strictly after ``nimg`` (never, for ``every`` <= 0)."""
    if every <= 0:
        return float("inf")
    return (int(nimg // every) + 1) * every
