"""benchmarks/gpu_check.py, the accelerator check, run on the CPU at tiny sizes (``--quick``): no GPU has been
lent to this project yet, so this is what makes sure the script works the first time one is."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def test_every_section_runs_and_the_fixtures_pass_on_the_cpu(gpu_check, tmp_path, capsys):
    out = tmp_path / "check.json"
    assert gpu_check.main(["--device", "cpu", "--quick", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "gpu_check: 0 failure(s)" in printed and "| nvidia-sg3t32 | 0-3 |" in printed
    results = json.loads(out.read_text())
    assert set(gpu_check.SECTIONS) <= set(results)
    fidelity = results["fidelity"]
    assert all(fidelity[k]["ok"] for k in ("nvidia-g64", "nvidia-sg3t32", "cli_generate"))
    assert fidelity["nvidia-g64"]["raw_max"] < 1e-4
    # On the CPU "device vs CPU" compares the CPU with itself: identical, which the numbers must show.
    assert all(v["raw_max"] == 0.0 for v in results["device vs CPU"].values())
    assert all(rate > 0 for rates in results["speed"].values() for rate in rates.values())
    assert results["projection"]["steps_per_s"] > 0


def test_a_failing_section_is_reported_and_the_others_still_run(gpu_check, monkeypatch, tmp_path, capsys):
    def broken(device, quick):
        raise RuntimeError("no kernel image is available")

    monkeypatch.setitem(gpu_check.SECTIONS, "speed", broken)
    out = tmp_path / "check.json"
    assert gpu_check.main(["--device", "cpu", "--quick", "--only", "speed,projection", "--json", str(out)]) == 1
    results = json.loads(out.read_text())
    assert results["speed"] == {"error": "RuntimeError: no kernel image is available"}
    assert results["projection"]["steps_per_s"] > 0
    assert "gpu_check: 1 failure(s)" in capsys.readouterr().out
