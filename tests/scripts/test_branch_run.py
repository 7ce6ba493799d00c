"""scripts/branch_run.py: a branch continues a run's state with new settings, as a new run with them would."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from styleblend.io.safe_torch_load import safe_torch_load
from styleblend.train.loop import train
from tests.train.test_loop import BATCH, make_images, options

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "branch_run.py"


def _branch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


@pytest.fixture
def run(tmp_path: Path) -> Path:
    make_images(tmp_path / "data")
    opts = options(tmp_path, steps=2, keep_last=2)
    assert train(opts, show_progress=False).finished
    return Path(opts.outdir)


def test_branch_sets_options_and_adam_groups_and_keeps_the_source(run, tmp_path):
    before = (run / "training-state.pt").read_bytes()
    dest = tmp_path / "branch"
    done = _branch(str(run), str(dest), "--lr", "0.001", "--set", "pl_weight=0", "--set", "ada_kimg=7")
    assert done.returncode == 0, done.stderr
    assert (run / "training-state.pt").read_bytes() == before
    state = safe_torch_load(dest / "training-state.pt")
    stored = json.loads((dest / "options.json").read_text())
    for opts in (stored, state["options"]):
        assert (opts["lr_g"], opts["lr_d"], opts["pl_weight"], opts["ada_kimg"]) == (0.001, 0.001, 0.0, 7.0)
        assert opts["outdir"] == str(dest)
    # G's path-length regulariser is off, so G's Adam has no lazy-regularisation factor; D's R1 is on (interval 2).
    (g,), (d,) = state["opt_G"]["param_groups"], state["opt_D"]["param_groups"]
    assert g["lr"] == pytest.approx(0.001) and tuple(g["betas"]) == pytest.approx((0.0, 0.99))
    assert d["lr"] == pytest.approx(0.001 * 2 / 3) and tuple(d["betas"]) == pytest.approx((0.0, 0.99 ** (2 / 3)))
    source = safe_torch_load(run / "training-state.pt")
    assert all(torch.equal(source["G"][k], state["G"][k]) for k in source["G"])
    # The branch continues: one more step, and the path-length term is gone from its log.
    kimg = (2 + 1) * BATCH / 1000
    cont = subprocess.run([sys.executable, "-m", "styleblend.cli.main", "train", "--resume-run", str(dest), "--kimg",
                           str(kimg), "--threads", "1", "-q"], capture_output=True, text=True)
    assert cont.returncode == 0, cont.stderr
    last = json.loads((dest / "log.jsonl").read_text().splitlines()[-1])
    assert last["kimg"] == pytest.approx(kimg) and "pl_length" not in last


@pytest.mark.parametrize("args", [["--set", "r1_gamma"], ["--set", "resolution=128"], ["--set", "pl_weight=-1"],
                                  ["--lr", "2"], []])
def test_bad_settings_are_refused(tmp_path, monkeypatch, args):
    # Checked before the source is read, so no run is needed; in-process, as a subprocess per case is slow.
    spec = importlib.util.spec_from_file_location("branch_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["branch_run.py", str(tmp_path / "no-run"), str(tmp_path / "branch"), *args])
    with pytest.raises(SystemExit) as exc:
        module.main()
    assert exc.value.code not in (0, None) and not (tmp_path / "branch").exists()
