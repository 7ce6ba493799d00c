"""JobRunner: progress, cancellation, failures and the one-at-a-time rule, with fake long jobs."""

from __future__ import annotations

import threading
import time

import pytest

from styleblend.errors import ImageError, InvalidArgumentError
from styleblend.ui.jobs import JobContext, JobRunner


def counting(steps: int, delay: float = 0.005):
    def work(ctx: JobContext) -> int:
        for i in range(steps):
            ctx.check()
            time.sleep(delay)
            ctx.report(i + 1, steps, last=i)
        return steps

    return work


def test_progress_and_result():
    runner = JobRunner()
    job = runner.start("count", counting(10), total=10)
    status = runner.wait(job, timeout=10)
    assert status["state"] == "done" and status["done"] == 10 and status["fraction"] == 1.0
    assert status["info"] == {"last": 9} and status["has_result"]
    assert runner.result(job) == 10


def test_cancel_stops_a_long_job():
    runner = JobRunner()
    job = runner.start("count", counting(100_000), total=100_000)
    while runner.status(job)["done"] < 3:
        time.sleep(0.005)
    runner.cancel(job)
    status = runner.wait(job, timeout=10)
    assert status["state"] == "cancelled" and 3 <= status["done"] < 100_000


def test_work_that_returns_early_when_cancelled_is_cancelled_with_its_result():
    def polite(ctx: JobContext) -> str:
        while not ctx.cancelled:
            time.sleep(0.005)
        return "partial"

    runner = JobRunner()
    job = runner.start("polite", polite)
    runner.cancel(job)
    assert runner.wait(job, timeout=10)["state"] == "cancelled"
    assert runner.result(job) == "partial"


def test_failures_become_messages():
    def user_error(ctx):
        raise ImageError("photo.png is not an image")

    def bug(ctx):
        raise ZeroDivisionError("oops")

    runner = JobRunner(max_running=2)
    a, b = runner.start("a", user_error), runner.start("b", bug)
    assert runner.wait(a, 10)["error"] == "photo.png is not an image"
    status = runner.wait(b, 10)
    assert status["state"] == "failed" and status["error"] == "internal error: ZeroDivisionError: oops"


def test_one_job_at_a_time_and_unknown_ids():
    runner = JobRunner(max_running=1)
    job = runner.start("count", counting(100_000))
    with pytest.raises(InvalidArgumentError, match="still running"):
        runner.start("count", counting(1))
    runner.shutdown(timeout=10)
    assert runner.status(job)["state"] == "cancelled"
    runner.wait(runner.start("count", counting(1)), 10)  # free again
    with pytest.raises(InvalidArgumentError, match="no job"):
        runner.status("nope")


def test_old_finished_jobs_are_forgotten():
    runner = JobRunner(keep=2)
    ids = []
    for _ in range(4):
        ids.append(runner.start("count", counting(1)))
        runner.wait(ids[-1], 10)
    runner.start("count", counting(1))
    with pytest.raises(InvalidArgumentError):
        runner.status(ids[0])
    assert runner.status(ids[-1])["state"] == "done"


def test_a_result_given_at_the_start_is_there_while_running_and_replaced_at_the_end():
    gate = threading.Event()

    def refine(ctx: JobContext) -> str:
        gate.wait(10)
        return "best"

    runner = JobRunner()
    job = runner.start("embed", refine, result="first", info={"stage": "encoder"})
    status = runner.status(job)
    assert status["state"] == "running" and status["has_result"] and status["info"] == {"stage": "encoder"}
    assert runner.result(job) == "first"
    gate.set()
    assert runner.wait(job, 10)["state"] == "done" and runner.result(job) == "best"


def test_a_job_stopped_without_a_value_keeps_its_early_result():
    runner = JobRunner(max_running=2)
    cancelled = runner.start("embed", counting(100_000), result="encoder")
    runner.cancel(cancelled)
    assert runner.wait(cancelled, 10)["state"] == "cancelled" and runner.result(cancelled) == "encoder"

    def broken(ctx):
        raise ImageError("gone")

    failed = runner.start("embed", broken, result="encoder")
    assert runner.wait(failed, 10)["state"] == "failed" and runner.result(failed) == "encoder"


def test_cancel_kind_stops_only_that_kind_and_a_successor_waits_for_it():
    runner = JobRunner(max_running=2)
    old = runner.start("embed", counting(100_000))
    other = runner.start("train", counting(100_000))
    while runner.status(old)["done"] < 2:
        time.sleep(0.005)
    assert runner.cancel_kind("embed") == [old]
    # A job asked to stop no longer counts against max_running, but its successor's work starts only once
    # it has finished (they may share a model).
    seen = {}

    def successor(ctx: JobContext) -> str:
        seen["old"] = runner.status(old)["state"]
        return "ok"

    new = runner.start("embed", successor, after=[old])
    assert runner.wait(new, 10)["state"] == "done" and seen["old"] == "cancelled"
    assert runner.status(other)["state"] == "running"
    assert runner.cancel_kind("embed", timeout=5) == []  # nothing of that kind runs now
    assert runner.cancel_kind("train", timeout=10) == [other] and runner.status(other)["state"] == "cancelled"


def test_a_stopping_job_says_so_and_why_and_the_newest_of_a_kind_is_found():
    runner = JobRunner(max_running=2)
    assert runner.latest("embed") is None
    first = runner.start("embed", counting(100_000))
    runner.start("train", counting(100_000))
    assert runner.latest("embed")["id"] == first and not runner.latest("embed")["stopping"]
    runner.cancel_kind("embed", reason="the models changed")
    status = runner.status(first)
    assert status["stopped_because"] == "the models changed"
    assert status["stopping"] == (status["state"] == "running")  # asked to stop, maybe still in its last step
    runner.cancel(first)  # a later Cancel keeps the first reason
    final = runner.wait(first, 10)
    assert final["state"] == "cancelled" and not final["stopping"] and final["stopped_because"] == "the models changed"
    second = runner.start("embed", counting(100_000))
    assert runner.latest("embed")["id"] == second
    assert runner.cancel(second)["stopped_because"] is None  # the Cancel button gives no reason
    runner.shutdown(10)
