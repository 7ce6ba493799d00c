"""Long-running work (embedding a photo) in worker threads, with progress and cancellation.

The runner is generic over a callable ``work(ctx) -> result``: the callable reports progress through
``ctx.report(done, total, **info)`` and polls ``ctx.cancelled`` (or calls ``ctx.check()``, which raises
:class:`JobCancelled`). The web page polls :meth:`JobRunner.status` and may call
:meth:`JobRunner.cancel`; nothing here knows about HTTP or about models.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidArgumentError, StyleblendError

log = logging.getLogger(__name__)

STATES = ("running", "done", "cancelled", "failed")


class JobCancelled(Exception):
    """Raised by :meth:`JobContext.check` once the job was asked to stop."""


@dataclass
class JobContext:
    """What a job's callable sees: progress reporting and the cancellation flag."""

    _job: Job

    @property
    def cancelled(self) -> bool:
        """True once :meth:`JobRunner.cancel` was called for this job."""
        return self._job.stop.is_set()

    def check(self) -> None:
        """Raise :class:`JobCancelled` if the job was asked to stop."""
        if self.cancelled:
            raise JobCancelled()

    def report(self, done: int, total: int | None = None, **info: Any) -> None:
        """Record progress: ``done`` of ``total`` units (steps), plus JSON-able ``info`` (e.g. loss)."""
        job = self._job
        with job.lock:
            job.done = int(done)
            if total is not None:
                job.total = int(total)
            job.info.update(info)


@dataclass
class Job:
    """One unit of background work and everything the page needs to show about it."""

    id: str
    kind: str
    total: int
    done: int = 0
    state: str = "running"
    error: str | None = None
    result: Any = None
    info: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    thread: threading.Thread | None = None
    #: why the job was asked to stop ('the models changed', 'a new photo replaced it'), None for the Cancel button
    stopped_because: str | None = None

    def ask_to_stop(self, reason: str | None = None) -> None:
        """Set the stop flag; the first reason given is kept (a later Cancel does not overwrite it)."""
        with self.lock:
            if not self.stop.is_set():
                self.stopped_because = reason
            self.stop.set()

    def snapshot(self) -> dict[str, Any]:
        """A JSON-able status: id, kind, state, done/total, fraction, seconds, error, info, has_result, and
        'stopping' (asked to stop, still finishing its current step) with 'stopped_because' (why, or None)."""
        with self.lock:
            end = self.finished if self.finished is not None else time.monotonic()
            return {"id": self.id, "kind": self.kind, "state": self.state, "done": self.done,
                    "stopping": self.state == "running" and self.stop.is_set(),
                    "stopped_because": self.stopped_because,
                    "total": self.total, "fraction": (self.done / self.total) if self.total else 0.0,
                    "seconds": round(end - self.started, 3), "error": self.error, "info": dict(self.info),
                    "has_result": self.result is not None}


class JobRunner:
    """Runs jobs in daemon threads; keeps the last ``keep`` finished jobs for status queries.

    Args:
        max_running: how many jobs may run at once (one embedding at a time keeps a 2-core CPU usable
            for previews); starting more raises :class:`InvalidArgumentError`.
        keep: finished jobs remembered (older ones are forgotten, with their results).
    """

    def __init__(self, max_running: int = 1, keep: int = 16) -> None:
        self.max_running = max_running
        self.keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def start(self, kind: str, work: Callable[[JobContext], Any], total: int = 0, result: Any = None,
              info: dict[str, Any] | None = None, after: Sequence[str] = ()) -> str:
        """Start ``work(ctx)`` in a new thread and return the job id at once.

        ``result``: a result the job has from the start, which the page may show while it runs (e.g. an
        encoder's latent before its refinement); the value ``work`` returns replaces it. ``info``: its first
        status info; ``after``: ids of cancelled jobs still finishing their last step - the new thread waits
        for them before ``work`` runs (so the two never share a model), but this call does not.

        Raises:
            InvalidArgumentError: ``max_running`` jobs are already running (jobs asked to stop do not count).
        """
        with self._lock:
            running = [j for j in self._jobs.values() if j.state == "running" and not j.stop.is_set()]
            waits = [self._jobs[i].thread for i in after if i in self._jobs]
            if len(running) >= self.max_running:
                raise InvalidArgumentError(
                    f"{_article(running[0].kind)} {running[0].kind} job ({running[0].id}) is still running; wait for "
                    "it or cancel it first")
            job = Job(id=f"{kind}-{next(self._ids)}", kind=kind, total=total, result=result, info=dict(info or {}))
            self._jobs[job.id] = job
            self._forget_old()
        job.thread = threading.Thread(target=self._run, args=(job, work, waits), name=f"styleblend-{job.id}",
                                      daemon=True)
        job.thread.start()
        return job.id

    def _forget_old(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.state != "running"]
        for key in finished[:max(0, len(finished) - self.keep)]:
            del self._jobs[key]

    def _run(self, job: Job, work: Callable[[JobContext], Any], waits: Sequence[threading.Thread | None] = ()) -> None:
        state, error, result = "done", None, None
        for thread in waits:
            if thread is not None:
                thread.join()
        try:
            result = work(JobContext(job))
        except JobCancelled:
            state = "cancelled"
        except StyleblendError as exc:
            state, error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug in a job must not kill the server; it is logged
            log.exception("job %s failed", job.id)
            state, error = "failed", f"internal error: {type(exc).__name__}: {exc}"
        if state == "done" and job.stop.is_set():
            state = "cancelled"  # the work returned early (with a partial result) because it was asked to
        with job.lock:
            # A job that stopped without a value keeps the result it started with (e.g. the encoder's latent).
            job.state, job.error, job.finished = state, error, time.monotonic()
            if result is not None:
                job.result = result
        log.info("job %s %s after %.1f s", job.id, state, job.finished - job.started)

    def _get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise InvalidArgumentError(f"there is no job {job_id!r} (finished jobs are kept only for a while); "
                                       "start a new one")
        return job

    def status(self, job_id: str) -> dict[str, Any]:
        """The job's :meth:`Job.snapshot`."""
        return self._get(job_id).snapshot()

    def cancel(self, job_id: str, reason: str | None = None) -> dict[str, Any]:
        """Ask a job to stop (it stops at its next progress check); returns its status."""
        job = self._get(job_id)
        job.ask_to_stop(reason)
        return job.snapshot()

    def latest(self, kind: str) -> dict[str, Any] | None:
        """The status of the newest job of ``kind`` still remembered, or None (a reloaded page finds its job)."""
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.kind == kind]
        return jobs[-1].snapshot() if jobs else None

    def cancel_kind(self, kind: str, timeout: float = 0.0, reason: str | None = None) -> list[str]:
        """Ask every running job of ``kind`` to stop and wait up to ``timeout`` seconds in total for them.

        Returns the ids asked to stop (a superseded job: a new photo, or new models, made it stale);
        ``reason`` is what their status says about it.
        """
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.kind == kind and j.state == "running"]
        for job in jobs:
            job.ask_to_stop(reason)
        deadline = time.monotonic() + timeout
        for job in jobs:
            if job.thread is not None and timeout > 0:
                job.thread.join(max(0.0, deadline - time.monotonic()))
        return [j.id for j in jobs]

    def result(self, job_id: str) -> Any:
        """The value the job's callable returned; while it runs, or when it stopped without a value, the result
        it was started with (None if none)."""
        return self._get(job_id).result

    def wait(self, job_id: str, timeout: float | None = None) -> dict[str, Any]:
        """Block until the job finished (or ``timeout`` seconds passed); returns its status."""
        job = self._get(job_id)
        if job.thread is not None:
            job.thread.join(timeout)
        return job.snapshot()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel every running job and wait up to ``timeout`` seconds in total for them to stop."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.ask_to_stop("the server is stopping")
        deadline = time.monotonic() + timeout
        for job in jobs:
            if job.thread is not None:
                job.thread.join(max(0.0, deadline - time.monotonic()))


def _article(word: str) -> str:
    """'a' or 'an' before ``word`` (job kinds: 'embed', 'auto', ...)."""
    return "an" if word[:1].lower() in "aeiou" else "a"
