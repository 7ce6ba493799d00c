"""ONNX export: the exported graphs under onnxruntime match PyTorch's default rendering within 1e-4, for any
batch size; the export-friendly module equals the default rendering in PyTorch too."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch

from styleblend.errors import InvalidArgumentError, MissingDependencyError
from styleblend.export import onnx as onnx_export
from styleblend.export.onnx import check_onnx, describe_file, example_inputs, export_graph, export_onnx

from ..conftest import tiny_checkpoint

TOLERANCE = 1e-4


def needs_onnx():
    for name in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(name)


@pytest.mark.parametrize("architecture", ["skip", "resnet", "orig"])
def test_export_module_equals_default_rendering(architecture):
    """The graph takes the unfused modulated convolutions (a dynamic batch cannot have one conv group per
    sample); in PyTorch it must still render what the default, fused path renders."""
    G = tiny_checkpoint(seed=2, architecture=architecture).generator()
    ws = example_inputs(G, "synthesis", batch=3)["ws"]
    with torch.no_grad():
        expected = G.synthesis(ws, noise_mode="const")
        got = export_graph(G, "synthesis")(ws)
    assert expected.std() > 0.05
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    z = torch.randn(2, G.z_dim)
    with torch.no_grad():
        mapped = export_graph(G, "both", truncation_cutoff=4)(z, torch.tensor(0.5))
        ws_ref = G.mapping(z, truncation_psi=0.5, truncation_cutoff=4)
    assert torch.equal(mapped[1], ws_ref)
    assert not torch.equal(ws_ref[:, 4:], G.mapping(z, truncation_psi=0.5)[:, 4:])  # the cutoff matters


@pytest.fixture(scope="module")
def both_file(tmp_path_factory):
    """A 16 px generator's mapping + synthesis as one graph (exported once: an export takes seconds of CPU,
    more for every block)."""
    needs_onnx()
    ckpt = tiny_checkpoint(seed=1, res=16)
    path = tmp_path_factory.mktemp("onnx") / "g.onnx"
    return ckpt, export_onnx(ckpt, path, "both", truncation_cutoff=4)


def test_both_graph_matches_pytorch_for_any_batch(both_file):
    ckpt, done = both_file
    assert done.path.is_file() and done.what == "both"
    assert describe_file(done.path) == "z [N, 32], truncation_psi [] -> img [N, 3, 16, 16], ws [N, 6, 32]"
    assert done.describe().startswith("both: z [N, 32], truncation_psi [] -> img [N, 3, 16, 16], ws [N, 6, 32]")
    for batch, psi in ((1, 1.0), (2, 0.7), (5, 0.5)):  # the export traced batch 2
        diff = check_onnx(done.path, ckpt, "both", batch=batch, seed=batch, truncation_psi=psi, truncation_cutoff=4)
        assert diff < TOLERANCE, (batch, diff)


def test_check_onnx_sees_a_different_model_or_cutoff(both_file):
    ckpt, done = both_file
    assert check_onnx(done.path, tiny_checkpoint(seed=9, res=16), "both") > 1e-2
    with pytest.raises(InvalidArgumentError,
                       match=r"outputs shape \(3, 3, 16, 16\) where this model gives \(3, 3, 32, 32\)"):
        check_onnx(done.path, tiny_checkpoint(seed=1), "both")
    assert check_onnx(done.path, ckpt, "both", truncation_cutoff=None) > 1e-3  # exported with cutoff 4
    with pytest.raises(InvalidArgumentError, match="2 outputs, but a 'mapping' graph has 1"):
        check_onnx(done.path, ckpt, "mapping")


def test_onnxruntime_renders_the_images_generate_renders(both_file):
    import onnxruntime

    ckpt, done = both_file
    session = onnxruntime.InferenceSession(str(done.path), providers=["CPUExecutionProvider"])
    z = np.random.RandomState(3).randn(4, 32).astype(np.float32)
    img, ws = session.run(None, {"z": z, "truncation_psi": np.array(1.0, dtype=np.float32)})
    with torch.no_grad():
        expected = ckpt.generator()(torch.from_numpy(z), noise_mode="const")
    assert img.shape == (4, 3, 16, 16) and ws.shape == (4, 6, 32)
    np.testing.assert_allclose(img, expected.numpy(), atol=TOLERANCE, rtol=0)


def test_conditional_mapping_takes_the_label(tmp_path):
    needs_onnx()
    ckpt = tiny_checkpoint(seed=4, c_dim=3)
    done = export_onnx(ckpt, tmp_path / "map.onnx", "mapping")
    assert describe_file(done.path) == "z [N, 32], truncation_psi [], c [N, 3] -> ws [N, 8, 32]"
    assert check_onnx(done.path, ckpt, "mapping", batch=4) < TOLERANCE


@pytest.mark.slow
def test_bundled_base_synthesis(tmp_path):
    needs_onnx()
    from styleblend.models import bundled_checkpoint

    ckpt = bundled_checkpoint("base")
    done = export_onnx(ckpt, tmp_path / "base.onnx")
    assert describe_file(done.path) == "ws [N, 10, 128] -> img [N, 3, 64, 64]"
    assert check_onnx(done.path, ckpt, "synthesis", batch=4) < TOLERANCE


def test_bad_requests_are_refused_before_exporting(tmp_path, monkeypatch):
    ckpt = tiny_checkpoint()
    with pytest.raises(InvalidArgumentError, match="choose one of"):
        export_onnx(ckpt, tmp_path / "g.onnx", "discriminator")
    with pytest.raises(InvalidArgumentError, match="belongs to the mapping graph"):
        export_onnx(ckpt, tmp_path / "g.onnx", "synthesis", truncation_cutoff=2)
    with pytest.raises(InvalidArgumentError, match=r"must lie in \[0, num_ws=8\]"):
        export_onnx(ckpt, tmp_path / "g.onnx", "mapping", truncation_cutoff=9)
    with pytest.raises(InvalidArgumentError, match="opset 12"):
        export_onnx(ckpt, tmp_path / "g.onnx", opset=12)
    with pytest.raises(InvalidArgumentError, match="Generator or Checkpoint"):
        export_onnx(torch.nn.Linear(1, 1), tmp_path / "g.onnx")  # type: ignore[arg-type]
    (tmp_path / "old.onnx").write_bytes(b"keep")
    with pytest.raises(InvalidArgumentError, match="exists"):
        export_onnx(ckpt, tmp_path / "old.onnx")
    assert (tmp_path / "old.onnx").read_bytes() == b"keep"
    with pytest.raises(InvalidArgumentError, match="is a folder"):
        export_onnx(ckpt, tmp_path, overwrite=True)
    monkeypatch.setitem(sys.modules, "onnxscript", None)
    monkeypatch.setattr(onnx_export.importlib.util, "find_spec",
                        lambda name, *a: None if name == "onnxscript" else object())
    with pytest.raises(MissingDependencyError, match=r"needs onnxscript.*pip install 'styleblend\[onnx\]'"):
        export_onnx(ckpt, tmp_path / "g.onnx")
    assert not (tmp_path / "g.onnx").exists()
