"""A training step driven by hand: the loop is nothing but these steps, and lazy phases keep their interval."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from styleblend.errors import InvalidArgumentError
from styleblend.train import checkpointing as ckpt_io
from styleblend.train.distributed import DistInfo
from styleblend.train.loop import train
from styleblend.train.options import TrainOptions
from styleblend.train.progress import StatAverager
from styleblend.train.state import Counters, open_run, plan_phases, split_batch, training_state
from styleblend.train.step import train_step

from .conftest import blob_images

CPU = torch.device("cpu")


def _options(tmp_path: Path, name: str, steps: int, **kw) -> TrainOptions:
    base = dict(data=str(tmp_path / "data"), outdir=str(tmp_path / name), cfg="tiny32", batch=8, batch_gpu=4,
                kimg=steps * 8 / 1000, snap=0, tick=0.008, grid=4, g_reg_interval=2, d_reg_interval=3,
                augment="ada", ada_interval=1, ada_kimg=0.05, ada_target=0.0, seed=5)
    return TrainOptions(**{**base, **kw})


def _assert_same_tensors(a: dict, b: dict, what: str) -> None:
    assert a.keys() == b.keys(), what
    for key in a:
        assert torch.equal(a[key], b[key]), f"{what}.{key}"


def test_steps_driven_by_hand_are_the_loop_bit_for_bit(tmp_path):
    """open_run + train_step, with no loop around them, reach the weights, optimiser states,
    path-length mean, ADA p and accumulator that train() saves after the same steps."""
    blob_images(tmp_path / "data", count=10, seed=1)
    steps = 4  # step 0 has every phase, 1 none of the lazy ones, 2 Greg, 3 Dreg
    train(_options(tmp_path, "loop", steps), show_progress=False)
    saved = ckpt_io.load_training_state(tmp_path / "loop")

    run, counters = open_run(_options(tmp_path, "hand", steps), DistInfo(), CPU, None)
    averager = StatAverager()
    for _ in range(steps):
        train_step(run, counters, averager)
    assert (counters.step, counters.cur_nimg) == (saved["step"], saved["cur_nimg"]) == (steps, steps * 8)
    mine = training_state(run, counters, elapsed=0.0)
    for name in ("G", "G_ema", "D"):
        _assert_same_tensors(mine[name], saved[name], name)
    for name in ("opt_G", "opt_D"):
        assert mine[name]["state"].keys() == saved[name]["state"].keys()
        for i, slot in mine[name]["state"].items():
            _assert_same_tensors(slot, saved[name]["state"][i], f"{name}[{i}]")
    assert torch.equal(mine["pl_mean"], saved["pl_mean"]) and float(mine["pl_mean"]) > 0
    assert torch.equal(mine["augment_p"], saved["augment_p"]) and float(mine["augment_p"]) > 0
    assert mine["ada_acc"] == saved["ada_acc"]


def test_lazy_phases_run_on_their_interval_with_the_index_of_the_full_plan(tmp_path):
    blob_images(tmp_path / "data", count=10, seed=1)
    opts = _options(tmp_path, "lazy", steps=7)
    assert plan_phases(opts) == [("Gmain", "G", 1), ("Greg", "G", 2), ("Dmain", "D", 1), ("Dreg", "D", 3)]
    run, counters = open_run(opts, DistInfo(), CPU, None)
    assert [p.index for p in run.phases] == [0, 1, 2, 3]
    assert run.phases[0].params is run.phases[1].params and run.phases[1].opt is run.opt_G
    seen = []
    for _ in range(7):
        averager = StatAverager()
        train_step(run, counters, averager)
        stats = averager.means()
        seen.append(("pl_length" in stats, "r1" in stats, "loss_G" in stats and "loss_D_real" in stats))
    assert [s[0] for s in seen] == [step % 2 == 0 for step in range(7)]
    assert [s[1] for s in seen] == [step % 3 == 0 for step in range(7)]
    assert all(s[2] for s in seen)
    assert counters == Counters(7, 56, [0.0, 0.0])  # ADA adjusts (and empties the accumulator) every step


@pytest.mark.parametrize("reg, expected", [
    (dict(pl_weight=0.0, r1_gamma=0.0), [("Gmain", "G", 1), ("Dmain", "D", 1)]),
    (dict(g_reg_interval=0, d_reg_interval=0), [("Gboth", "G", 1), ("Dboth", "D", 1)]),
])
def test_phase_plan_without_lazy_regularisation(tmp_path, reg, expected):
    assert plan_phases(_options(tmp_path, "x", 1, **reg)) == expected


def test_split_batch_over_processes(tmp_path):
    opts = _options(tmp_path, "x", 1, batch=16, batch_gpu=4)
    assert split_batch(opts, 1) == (4, 4) and split_batch(opts, 2) == (4, 2)
    assert split_batch(opts.replace(batch_gpu=0), 2) == (8, 1)
    with pytest.raises(InvalidArgumentError, match="divisible by the number of processes"):
        split_batch(opts, 3)
