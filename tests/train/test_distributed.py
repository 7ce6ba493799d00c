"""Data parallelism: two gloo processes (launched by torchrun) train exactly like one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import styleblend
from styleblend.train import checkpointing as ckpt_io
from styleblend.train import distributed as ddp

SRC = Path(styleblend.__file__).resolve().parents[1]


def _images(folder: Path, count: int = 12, res: int = 16) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for i in range(count):
        img = np.full([res, res, 3], 255, np.uint8)
        y, x = rng.integers(2, res - 6, 2)
        img[y:y + 4, x:x + 4] = rng.integers(0, 255, 3)
        Image.fromarray(img).save(folder / f"{i:02d}.png")
    return folder


def _train(args: list[str], nproc: int, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    if nproc == 1:
        cmd = [sys.executable, "-m", "styleblend.cli.main", "train", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
               "-m", "styleblend.cli.main", "train", *args]
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_two_gloo_processes_match_one_process_with_the_same_total_batch(tmp_path):
    data = _images(tmp_path / "data")
    # 2 steps of total batch 8: step 0 runs all four phases (both regularisers), step 1 the main ones.
    # One process splits the batch in two rounds of 4 (gradient accumulation); two processes take
    # one round each; minibatch-stddev groups (4) stay inside a round either way.
    common = ["--data", str(data), "--cfg", "tiny32", "--batch", "8", "--batch-gpu", "4", "--kimg", "0.016",
              "--snap", "0", "--tick", "0.008", "--grid", "4", "--no-progress", "--aug", "fixed", "--p", "0.5",
              "--seed", "3"]
    _train(["--outdir", str(tmp_path / "one"), *common], 1, tmp_path)
    _train(["--outdir", str(tmp_path / "two"), *common], 2, tmp_path)
    one = ckpt_io.load_training_state(tmp_path / "one")
    two = ckpt_io.load_training_state(tmp_path / "two")
    assert one["step"] == two["step"] == 2
    for net in ("G", "D", "G_ema"):
        for key, a in one[net].items():
            if key.endswith("w_avg"):
                continue  # a running statistic: per-process updates averaged, not a gradient step
            b = two[net][key]
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5), f"{net}.{key}: {float((a - b).abs().max()):g}"
    assert torch.allclose(one["pl_mean"], two["pl_mean"], rtol=1e-5)
    # Only rank 0 wrote files: one snapshot, one log line per tick.
    assert len(ckpt_io.list_snapshots(tmp_path / "two")) == 1
    assert len((tmp_path / "two" / "log.jsonl").read_text().splitlines()) == 2


def test_single_process_helpers_are_no_ops():
    info = ddp.DistInfo()
    assert info.is_main and not info.enabled
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.tensor([float("nan"), float("inf"), 2.0])
    ddp.reduce_gradients([p], info)
    assert p.grad.tolist() == [0.0, 1e5, 2.0]
    q = torch.nn.Parameter(torch.ones(2))
    ddp.reduce_gradients([q], info)
    assert q.grad.tolist() == [0.0, 0.0]
    assert ddp.all_reduce_sum([1.0, 2.0], info, torch.device("cpu")) == [1.0, 2.0]
    assert ddp.check_consistency(torch.nn.Linear(2, 2), info, "x") == 0.0


def test_init_from_env_without_variables_is_single_process(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert ddp.init_from_env(torch.device("cpu")) == ddp.DistInfo()
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert ddp.init_from_env(torch.device("cpu")) == ddp.DistInfo()


@pytest.mark.parametrize("batch,batch_gpu,msg", [(6, 4, "must divide"), (12, 6, "minibatch-stddev"), (12, 12, "minibatch-stddev")])
def test_batch_split_is_validated(tmp_path, batch, batch_gpu, msg):
    from styleblend.errors import InvalidArgumentError
    from styleblend.train.loop import train
    from styleblend.train.options import TrainOptions

    data = _images(tmp_path / "data")
    opts = TrainOptions(data=str(data), outdir=str(tmp_path / "o"), cfg="tiny32", batch=batch, batch_gpu=batch_gpu,
                        kimg=0.01)
    with pytest.raises(InvalidArgumentError, match=msg):
        train(opts, show_progress=False)
