"""styleblend export, in-process: hub folders every command reads, ONNX files checked under onnxruntime."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from styleblend.cli.main import main
from styleblend.io import save_checkpoint

from ..conftest import tiny_checkpoint


@pytest.fixture
def network(tmp_path):
    return save_checkpoint(tiny_checkpoint(seed=2, with_d=True), tmp_path / "tiny.safetensors")


def test_hub_folder_is_read_by_every_command_and_never_replaced_without_force(tmp_path, network, capsys):
    folder = tmp_path / "tiny-model"
    args = ["export", "--network", str(network), "--to", "hub", "--out", str(folder), "--license", "apache-2.0"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"wrote {folder} (model.safetensors, config.json, README.md; networks: g_ema, g, d)" in out
    assert "license: apache-2.0" in (folder / "README.md").read_text()
    for source in (network, folder):
        out = tmp_path / ("from-" + source.name)
        assert main(["-q", "generate", "--network", str(source), "--seeds", "0-1", "--outdir", str(out)]) == 0
    for name in ("seed0000.png", "seed0001.png"):
        assert Image.open(tmp_path / "from-tiny-model" / name).tobytes() == \
            Image.open(tmp_path / "from-tiny.safetensors" / name).tobytes()
    assert main(args) == 1
    assert "exists" in capsys.readouterr().err
    # a folder in, the same folder out: replaced only with --force, from the copy read into memory
    again = ["export", "--network", str(folder), "--to", "hub", "--out", str(folder), "--ema-only"]
    assert main(again) == 1
    capsys.readouterr()
    assert main([*again, "--force"]) == 0
    config = json.loads((folder / "config.json").read_text())
    assert config["networks"] == ["g_ema"] and config["license"] == "apache-2.0"
    assert config["lineage"]["source"]["file"] == "model.safetensors"


def test_options_of_the_other_target_are_refused(tmp_path, network, capsys):
    assert main(["export", "--network", str(network), "--to", "onnx", "--out", str(tmp_path / "g.onnx"),
                 "--license", "mit"]) == 1
    assert "--license applies to --to hub" in capsys.readouterr().err
    assert main(["export", "--network", str(network), "--to", "hub", "--out", str(tmp_path / "m"),
                 "--what", "mapping"]) == 1
    assert "--what applies to --to onnx" in capsys.readouterr().err
    assert not (tmp_path / "g.onnx").exists() and not (tmp_path / "m").exists()
    before = network.read_bytes()
    assert main(["export", "--network", str(network), "--to", "onnx", "--out", str(network)]) == 1
    assert "refusing to overwrite the input" in capsys.readouterr().err
    assert network.read_bytes() == before


def test_onnx_export_says_how_far_it_is_from_pytorch(tmp_path, network, capsys):
    for name in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(name)
    out = tmp_path / "mapping.onnx"
    args = ["export", "--network", str(network), "--to", "onnx", "--what", "mapping", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"wrote {out} (mapping: z [N, 32], truncation_psi [] -> ws [N, 8, 32] (opset 18); "
                           "onnxruntime vs PyTorch: max |difference| ")
    assert float(text.rsplit("max |difference| ", 1)[1].split()[0]) < 1e-4
    assert main(args) == 1 and "exists" in capsys.readouterr().err
    assert main(["export", "--network", str(out), "--to", "onnx", "--out", str(out), "--force"]) == 1
    assert "not a checkpoint" in capsys.readouterr().err


@pytest.mark.slow
def test_bundled_base_synthesis_to_onnx(tmp_path, capsys):
    for name in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(name)
    from styleblend.models import bundled_path

    out = tmp_path / "base.onnx"
    assert main(["export", "--network", str(bundled_path("base")), "--to", "onnx", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "synthesis: ws [N, 10, 128] -> img [N, 3, 64, 64]" in text
    assert float(text.rsplit("max |difference| ", 1)[1].split()[0]) < 1e-4


def test_onnx_check_warns_when_far_and_says_when_it_could_not_run(tmp_path, network, capsys, monkeypatch):
    """The command's reporting, with the export itself stubbed (the real one is tested above)."""
    from styleblend.errors import MissingDependencyError
    from styleblend.export import onnx as onnx_export

    def fake_export(G, out, what, **kwargs):
        out.write_bytes(b"onnx")
        return onnx_export.OnnxExport(path=out, what=what, inputs={"ws": ("N", 8, 32)},
                                      outputs={"img": ("N", 3, 32, 32)}, opset=18)

    monkeypatch.setattr(onnx_export, "export_onnx", fake_export)
    monkeypatch.setattr(onnx_export, "check_onnx", lambda *a, **k: 0.25)
    args = ["export", "--network", str(network), "--to", "onnx", "--out", str(tmp_path / "g.onnx"), "--force"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "max |difference| 0.25 on 3 samples" in captured.out
    assert captured.err == "warning: the ONNX graph differs from PyTorch by 0.25 (more than 0.0001)\n"

    def no_runtime(*a, **k):
        raise MissingDependencyError("no onnxruntime")

    monkeypatch.setattr(onnx_export, "check_onnx", no_runtime)
    assert main(args) == 0
    assert "not checked: onnxruntime is not installed" in capsys.readouterr().out
    assert main([*args, "--no-check"]) == 0
    assert capsys.readouterr().out == (f"wrote {tmp_path / 'g.onnx'} (synthesis: ws [N, 8, 32] -> img [N, 3, 32, 32] "
                                       "(opset 18))\n")
