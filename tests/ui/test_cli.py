"""`styleblend ui`: argument errors in-process, and a real start/stop in a subprocess."""

from __future__ import annotations

import json
import signal
import urllib.request

import pytest

from styleblend.cli.main import main
from styleblend.errors import MissingWeightsError

from .conftest import ui_process


def test_missing_bundled_models_say_what_to_pass(monkeypatch, capsys):
    import styleblend.models

    def missing(name):
        raise MissingWeightsError(f"the bundled model file {name}.safetensors is missing")

    monkeypatch.setattr(styleblend.models, "bundled_checkpoint", missing)
    assert main(["ui", "--port", "0"]) == 1
    assert "pass --base and --transfer" in capsys.readouterr().err


def test_unreadable_checkpoint_is_one_line(tmp_path, capsys):
    assert main(["ui", "--base", str(tmp_path / "nope.pkl"), "--transfer", str(tmp_path / "nope.pkl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("styleblend ui: error:") and "no such file" in err and err.count("\n") == 1


def test_bad_threads(pair_paths, capsys):
    with pytest.raises(SystemExit) as info:
        main(["ui", "--base", str(pair_paths[0]), "--transfer", str(pair_paths[1]), "--threads", "-1"])
    assert info.value.code == 2
    assert "--threads" in capsys.readouterr().err


def test_serves_until_interrupted(pair_paths):
    with ui_process(pair_paths) as (proc, url):
        with urllib.request.urlopen(url + "api/info", timeout=30) as res:
            assert json.loads(res.read())["base"] == "base.safetensors (native)"
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop, exit code 0
        assert proc.wait(timeout=30) == 0


@pytest.mark.parametrize("port", ["70000"])
def test_bad_port(pair_paths, capsys, port):
    assert main(["ui", "--base", str(pair_paths[0]), "--transfer", str(pair_paths[1]), "--port", port]) == 1
    assert "port 70000" in capsys.readouterr().err


def test_an_encoder_that_is_missing_or_does_not_fit_is_one_line(pair_paths, tmp_path, capsys):
    from styleblend.io import Checkpoint, save_checkpoint

    from ..conftest import tiny_checkpoint
    from .conftest import write_encoder

    pair = ["ui", "--base", str(pair_paths[0]), "--transfer", str(pair_paths[1]), "--port", "0"]
    assert main(pair + ["--encoder", str(tmp_path / "nope.safetensors")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("styleblend ui: error:") and "does not exist" in err and err.count("\n") == 1
    small = tiny_checkpoint(seed=2, res=16)
    small_path = save_checkpoint(Checkpoint(g_config=small.g_config, g_ema=small.g_ema), tmp_path / "s.safetensors")
    other = write_encoder(tmp_path / "enc16.safetensors", small_path)
    assert main(pair + ["--encoder", str(other)]) == 1
    err = capsys.readouterr().err
    assert "enc16.safetensors" in err and "train an encoder" in err and err.count("\n") == 1
