"""The demo on two tiny models standing in for the bundled pair (the bundled pair itself: tests/models)."""

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.blend import blend_checkpoints, parse_multi_schedule
from styleblend.blend.preview import render_model
from styleblend.cli.common import torch_threads
from styleblend.cli.main import main
from styleblend.demo import DEMO_SEEDS, TRUNCATION_PSI, run_demo
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.models import bundled_checkpoint

from .conftest import tiny_checkpoint


def _fine_tune(base, seed: int):
    """A stand-in fine-tune: the base with every float tensor perturbed (seeded)."""
    gen = torch.Generator().manual_seed(seed)
    tuned = tiny_checkpoint(seed=0)
    tuned.g_ema = {k: v + 0.05 * torch.randn(v.shape, generator=gen) if v.is_floating_point() else v
                   for k, v in base.g_ema.items()}
    return tuned


def test_demo_writes_every_product(tmp_path):
    base = tiny_checkpoint(seed=0)
    paths = [save_checkpoint(ckpt, tmp_path / f"{name}.safetensors")
             for name, ckpt in [("base", base), ("transfer", _fine_tune(base, 1)), ("third", _fine_tune(base, 2))]]
    base_path, transfer_path, third_path = paths
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--outdir", str(out), "--base", str(base_path), "--transfer", str(transfer_path),
                 "--third", str(third_path), "--steps", "20", "--threads", "1"]) == 0
    grid = np.asarray(Image.open(out / "blend-grid.png"))
    # 6 seeds x (base, swaps at 4/8/16, transfer) plus a label strip.
    assert grid.shape[1] == 5 * 32 and grid.shape[0] == 6 * 32 + 14
    first_col, last_col = grid[14:, :32], grid[14:, -32:]
    assert not np.array_equal(first_col, last_col)
    assert Image.open(out / "style-mixing.png").size == (4 * 32, 4 * 32)
    assert Image.open(out / "morph.png").size == (8 * 32, 3 * 32)
    assert (out / "blend-swap8.safetensors").exists() and (out / "blend-swap8.safetensors.recipe.json").exists()

    # The 3-model grid: base | transfer | third | 4 blends (structure/mid/rendering), each column exactly
    # the blend under the schedule written out here by hand (4-8 px, 16 px, 32 px over [base, transfer, third]).
    grid3 = np.asarray(Image.open(out / "blend-grid-3models.png").convert("RGB"))
    assert grid3.shape[:2] == (6 * 32 + 14, 7 * 32)
    models = [load_checkpoint(p) for p in paths]
    specs = ["weights:4:0/1/0,8:0/1/0,16:0/0/1,32:1/0/0",   # structure transfer, mid third, rendering base
             "weights:4:0/0/1,8:0/0/1,16:0/1/0,32:1/0/0",   # structure third, mid transfer, rendering base
             "weights:4:1/0/0,8:1/0/0,16:0/1/0,32:0/0/1",   # structure base, mid transfer, rendering third
             "weights:4:1/0/0,8:1/0/0,16:0/0/1,32:0/1/0"]   # structure base, mid third, rendering transfer
    # The demo renders with one thread (its --threads default); rendered with another count, the sums can round
    # differently and move a pixel by a level, so the expected columns use the same count.
    with torch_threads(1):
        columns = [render_model(m, DEMO_SEEDS, TRUNCATION_PSI) for m in models]
        for spec in specs:
            blended, _ = blend_checkpoints(models[0], models[1:], parse_multi_schedule(spec), hash_inputs=False)
            columns.append(render_model(blended, DEMO_SEEDS, TRUNCATION_PSI))
    for i, expected in enumerate(columns):
        cells = grid3[14:, i * 32:(i + 1) * 32].reshape(len(DEMO_SEEDS), 32, 32, 3)
        np.testing.assert_array_equal(cells, expected[..., :3], err_msg=f"column {i}")
    # The blends differ from every input model and from each other.
    for i in range(3, 7):
        for j in range(i):
            assert not np.array_equal(columns[i], columns[j]), (i, j)


def test_demo_without_a_third_model_skips_the_3_model_grid(tmp_path):
    base = tiny_checkpoint(seed=0)
    base_path = save_checkpoint(base, tmp_path / "base.safetensors")
    transfer_path = save_checkpoint(_fine_tune(base, 1), tmp_path / "transfer.safetensors")
    out = tmp_path / "demo"
    assert main(["-q", "demo", "--outdir", str(out), "--base", str(base_path), "--transfer", str(transfer_path),
                 "--steps", "0"]) == 0
    assert (out / "blend-grid.png").exists() and not (out / "blend-grid-3models.png").exists()


@pytest.mark.slow
def test_demo_on_the_bundled_models_includes_the_third_style(tmp_path):
    written = run_demo(tmp_path, embed_steps=0)
    names = [path.name for path, _ in written]
    assert "blend-grid-3models.png" in names
    grid = np.asarray(Image.open(tmp_path / "blend-grid-3models.png").convert("RGB"))
    assert grid.shape[:2] == (len(DEMO_SEEDS) * 64 + 14, 7 * 64)
    # The bundled Fluent 3D column is its own model, not a copy of the base or the transfer.
    fl = render_model(bundled_checkpoint("fluent3d"), DEMO_SEEDS, TRUNCATION_PSI)
    np.testing.assert_array_equal(grid[14:, 128:192].reshape(len(DEMO_SEEDS), 64, 64, 3), fl[..., :3])


def test_demo_refuses_a_third_model_that_does_not_fit_before_writing(tmp_path, capsys):
    base = tiny_checkpoint(seed=0)
    base_path = save_checkpoint(base, tmp_path / "base.safetensors")
    transfer_path = save_checkpoint(_fine_tune(base, 1), tmp_path / "transfer.safetensors")
    other_path = save_checkpoint(tiny_checkpoint(seed=0, architecture="orig"), tmp_path / "other.safetensors")
    out = tmp_path / "demo"
    assert main(["demo", "--outdir", str(out), "--base", str(base_path), "--transfer", str(transfer_path),
                 "--third", str(other_path), "--steps", "0"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "third model" in err[0]
    assert not out.exists()


def test_the_feature_strip_renders_the_head_s_prediction_through_each_model(tmp_path):
    from importlib import resources

    from styleblend.demo import HELDOUT, feature_embedding
    from styleblend.media.images import to_uint8
    from styleblend.media.load import load_target
    from styleblend.nn.feature_space import blend_features, synthesize_from_features
    from styleblend.project.encoder import Encoder, EncoderConfig, save_encoder
    from styleblend.project.feature_encoder import (
        FeatureHead,
        FeatureHeadConfig,
        encode_features,
        save_feature_head,
    )

    base = tiny_checkpoint(seed=0)
    transfer = _fine_tune(base, 1)
    G = base.generator()
    torch.manual_seed(0)
    E = Encoder(EncoderConfig.for_generator(G, 16))
    head = FeatureHead(FeatureHeadConfig.for_generator(G, 8, width=16, depth=2))
    with torch.no_grad():
        E.w_avg.copy_(G.mapping.w_avg)
        head.out.weight.normal_(std=0.05)
    enc_path = save_encoder(tmp_path / "enc.safetensors", E)
    head_path = save_feature_head(tmp_path / "head.safetensors", head)
    written = feature_embedding(base, [("base", base), ("transfer", transfer)], tmp_path, enc_path, head_path)
    assert [p.name for p, _ in written] == ["embedding-features.png"] and "not a pure latent" in written[0][1]
    grid = np.asarray(Image.open(tmp_path / "embedding-features.png").convert("RGB"))[14:]  # below the labels
    res = G.img_resolution
    T = transfer.generator()
    for i, name in enumerate(HELDOUT):
        with resources.as_file(resources.files("styleblend.data") / name) as path:
            target = load_target(path, res)
        with torch.no_grad():
            ws, feats = encode_features(E, head, G, target)
            expected = [to_uint8(synthesize_from_features(G, ws, feats, 8))[0],
                        to_uint8(synthesize_from_features(T, ws, blend_features(G, T, ws, feats, 8), 8))[0]]
        for j, image in enumerate(expected, start=1):
            cell = grid[i * res:(i + 1) * res, j * res:(j + 1) * res]
            # one batch of two in the demo, one image here: equal up to float rounding in the last bit
            assert np.abs(cell.astype(int) - image.astype(int)).max() <= 1
