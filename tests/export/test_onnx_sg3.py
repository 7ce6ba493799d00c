"""ONNX export of StyleGAN3 generators: the export module (unfused modulated convolutions, float32) renders what
the default path renders, and onnxruntime runs the exported graph to the same images for any batch size."""

from __future__ import annotations

import pytest
import torch

from styleblend.export.onnx import check_onnx, describe_file, example_inputs, export_graph, export_onnx
from styleblend.render import set_user_transform

from ..conftest import tiny_sg3_checkpoint

TOLERANCE = 1e-4


@pytest.mark.parametrize("kind", ["T", "R"])
def test_export_module_equals_default_rendering(kind):
    G = tiny_sg3_checkpoint(seed=2, kind=kind).generator()
    ws = example_inputs(G, "synthesis", batch=3)["ws"]
    with torch.no_grad():
        expected = G.synthesis(ws)
        got = export_graph(G, "synthesis")(ws)
        z = torch.randn(2, G.z_dim)
        img, mapped = export_graph(G, "both", truncation_cutoff=2)(z, torch.tensor(0.5))
        ws_ref = G.mapping(z, truncation_psi=0.5, truncation_cutoff=2)
    assert expected.std() > 0.05
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    assert torch.equal(mapped, ws_ref)
    torch.testing.assert_close(img, G.synthesis(ws_ref), atol=1e-5, rtol=0)


@pytest.mark.slow  # an export of the 5-layer 16 px model takes a minute of CPU (the exporter, not the model)
@pytest.mark.parametrize("kind", ["T", "R"])
def test_onnxruntime_renders_the_stylegan3_images(tmp_path, kind):
    for name in ("onnx", "onnxscript", "onnxruntime"):
        pytest.importorskip(name)
    G = tiny_sg3_checkpoint(seed=1, kind=kind).generator()
    if kind == "R":  # the user transform is a buffer: the graph renders the moved and turned images
        set_user_transform(G, (0.1, -0.05), 20.0)
    done = export_onnx(G, tmp_path / "g.onnx", "both")
    assert describe_file(done.path) == "z [N, 16], truncation_psi [] -> img [N, 3, 16, 16], ws [N, 6, 16]"
    for batch, psi in ((1, 1.0), (2, 0.7), (5, 0.5)):  # the export traced batch 2
        diff = check_onnx(done.path, G, "both", batch=batch, seed=batch, truncation_psi=psi)
        assert diff < TOLERANCE, (batch, diff)
    assert check_onnx(done.path, tiny_sg3_checkpoint(seed=7, kind=kind), "both") > 1e-2  # another model differs
    if kind == "R":
        assert check_onnx(done.path, tiny_sg3_checkpoint(seed=1, kind=kind).generator(), "both") > 1e-2
