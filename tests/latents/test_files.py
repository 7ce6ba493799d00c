"""Latent files: shapes validated against the network, the spec resolver, and load_ws."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from styleblend.errors import InvalidArgumentError
from styleblend.latents.files import (
    latent_source,
    latent_source_z,
    load_ws,
    parse_latent_spec,
    read_latent_file,
    save_latents,
)
from styleblend.latents.mapping import seeds_to_ws

from ..conftest import tiny_checkpoint, tiny_config

CFG = tiny_config()  # z_dim = w_dim = 32, num_ws = 8


@pytest.fixture(scope="module")
def G():
    return tiny_checkpoint().generator()


@pytest.mark.parametrize("shape,kind,expected", [
    ((32,), "z", (1, 32)),
    ((5, 32), "z", (5, 32)),
    ((32,), "w", (1, 8, 32)),
    ((5, 32), "w", (5, 8, 32)),
    ((3, 8, 32), "w", (3, 8, 32)),
])
def test_npy_shapes(tmp_path, shape, kind, expected):
    np.save(tmp_path / "x.npy", np.random.randn(*shape))
    lf = read_latent_file(tmp_path / "x.npy", CFG, kind=kind)
    assert lf.kind == kind and lf.data.shape == expected and lf.data.dtype == np.float32
    if kind == "w" and len(shape) == 2:  # rows of W are copied to every layer
        assert np.array_equal(lf.data[:, 0], lf.data[:, -1])


def test_projection_npz_is_one_wplus_code_with_metadata(tmp_path):
    w = np.random.randn(8, 32).astype(np.float32)
    np.savez(tmp_path / "proj.npz", w=w, method="image2stylegan", steps=np.int64(1000), loss=0.25)
    lf = read_latent_file(tmp_path / "proj.npz", CFG)
    assert lf.kind == "w" and lf.data.shape == (1, 8, 32) and np.array_equal(lf.data[0], w)
    assert lf.meta == {"method": "image2stylegan", "steps": 1000, "loss": 0.25}
    # The same array in a .npy is 8 rows of W unless told otherwise.
    np.save(tmp_path / "rows.npy", w)
    assert read_latent_file(tmp_path / "rows.npy", CFG).data.shape == (8, 8, 32)
    assert read_latent_file(tmp_path / "rows.npy", CFG, layout="w+").data.shape == (1, 8, 32)
    np.savez(tmp_path / "nv.npz", w=w[None])  # NVIDIA's projected_w.npz layout
    assert read_latent_file(tmp_path / "nv.npz", CFG).data.shape == (1, 8, 32)


@pytest.mark.parametrize("make,message", [
    (lambda p: np.save(p / "f.npy", np.zeros((2, 16))), "w_dim=32"),
    (lambda p: np.save(p / "f.npy", np.zeros((2, 6, 32))), "num_ws=8"),
    (lambda p: np.save(p / "f.npy", np.zeros((2, 2, 8, 32))), "expected"),
    (lambda p: np.save(p / "f.npy", np.full((2, 32), np.nan)), "NaN"),
    (lambda p: np.save(p / "f.npy", np.array(["a", "b"])), "real numbers"),
    (lambda p: np.save(p / "f.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True), "pickled"),
    (lambda p: np.savez(p / "f.npy", other=np.zeros(3)), "none of"),
    (lambda p: np.savez(p / "f.npy", z=np.zeros((1, 32)), w=np.zeros((1, 32))), "several"),
    (lambda p: (p / "f.npy").write_bytes(b"garbage"), "cannot read"),
])
def test_bad_files_give_clear_errors(tmp_path, make, message):
    make(tmp_path)
    (path,) = tmp_path.iterdir()  # np.savez appends .npz
    with pytest.raises(InvalidArgumentError, match=message):
        read_latent_file(path, CFG)


def test_z_file_shape_and_kind_conflicts(tmp_path):
    np.save(tmp_path / "z.npy", np.zeros((2, 31)))
    with pytest.raises(InvalidArgumentError, match=r"\[n, 32\]"):
        read_latent_file(tmp_path / "z.npy", CFG, kind="z")
    np.savez(tmp_path / "z.npz", z=np.zeros((2, 32)))
    with pytest.raises(InvalidArgumentError, match="z-file"):
        read_latent_file(tmp_path / "z.npz", CFG, kind="w")
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        read_latent_file(tmp_path / "missing.npy", CFG)
    (tmp_path / "face.png").write_bytes(b"\x89PNG")
    with pytest.raises(InvalidArgumentError, match="embed it first"):
        read_latent_file(tmp_path / "face.png", CFG)


def test_save_round_trip(tmp_path):
    ws = torch.randn(3, 8, 32)
    path = save_latents(tmp_path / "out.npz", ws, "w", meta={"note": "x", "psi": 0.7})
    lf = read_latent_file(path, CFG)
    assert np.array_equal(lf.data, ws.numpy()) and lf.meta == {"note": "x", "psi": pytest.approx(0.7)}
    assert list(tmp_path.iterdir()) == [path]  # no temporary files left


def test_resolver_seeds_files_and_truncation(tmp_path, G):
    ref = seeds_to_ws(G, [3, 4], truncation_psi=0.5)
    assert torch.equal(latent_source("seeds:3-4", G, truncation_psi=0.5), ref)
    assert torch.equal(latent_source("3,4", G, truncation_psi=0.5), ref)
    assert torch.allclose(latent_source("seed:3", G, 0.5), ref[:1], atol=1e-6)  # batch size changes rounding
    # z-file of the same seeds through load_ws equals the seeds.
    from styleblend.latents.seeds import z_from_seeds

    np.save(tmp_path / "z.npy", z_from_seeds([3, 4], 32).numpy())
    assert torch.equal(load_ws(tmp_path / "z.npy", G, 0.5, kind="z"), ref)
    assert torch.equal(latent_source(f"z:{tmp_path / 'z.npy'}", G, 0.5), ref)
    # A w-file of untruncated ws, truncated on load, equals truncated seeds.
    np.save(tmp_path / "w.npy", seeds_to_ws(G, [3, 4]).numpy())
    assert torch.allclose(load_ws(tmp_path / "w.npy", G, 0.5), ref, atol=1e-6)
    assert torch.equal(latent_source_z("seeds:3-4", G), z_from_seeds([3, 4], 32))
    with pytest.raises(InvalidArgumentError, match="no z"):
        latent_source_z(str(tmp_path / "w.npy"), G)
    with pytest.raises(InvalidArgumentError, match="neither a seed list"):
        parse_latent_spec("not-a-file.npz")


def test_one_layout_written_and_old_layouts_still_read(tmp_path):
    ws = torch.randn(1, 8, 32)
    noise = {"synthesis.b8.conv0.noise_const": torch.randn(8, 8)}
    meta = {"method": "fast", "steps": 5, "settings": {"lr": 0.1}, "strengths": np.array([-1.0, 1.0]),
            "network": Path("/models/a.pkl")}
    path = save_latents(tmp_path / "p.npz", ws, "w", meta, noise)
    with np.load(path, allow_pickle=False) as raw:
        assert raw["w"].shape == (1, 8, 32)  # 3-D: NVIDIA's projected_w.npz layout
        assert str(raw["method"]) == "fast" and json.loads(str(raw["meta_json"]))["strengths"] == [-1.0, 1.0]
    lf = read_latent_file(path, CFG)
    assert np.array_equal(lf.data, ws.numpy()) and lf.noise.keys() == noise.keys()
    assert lf.meta == {"method": "fast", "steps": 5, "settings": {"lr": 0.1}, "strengths": [-1.0, 1.0],
                       "network": "/models/a.pkl"}
    # A projection written by the old project writer: w [num_ws, w_dim], scalars, meta_json, noise maps.
    np.savez(tmp_path / "old_proj.npz", w=ws[0].numpy(), method="fast", steps=np.int64(5),
             meta_json=json.dumps({"method": "fast", "steps": 5, "seed": 3}), **{"noise.b8": np.zeros((8, 8))})
    old = read_latent_file(tmp_path / "old_proj.npz", CFG)
    assert np.array_equal(old.data, ws.numpy()) and old.meta == {"method": "fast", "steps": 5, "seed": 3}
    assert list(old.noise) == ["b8"]
    # An edit written by the old latents writer: w [n, num_ws, w_dim] and metadata as separate arrays.
    np.savez(tmp_path / "old_edit.npz", w=torch.randn(3, 8, 32).numpy(), component=np.int64(2),
             strengths=np.array([-2.0, 2.0], dtype=np.float32))
    edit = read_latent_file(tmp_path / "old_edit.npz", CFG)
    assert edit.data.shape == (3, 8, 32) and edit.meta["component"] == 2
    assert edit.meta["strengths"].tolist() == [-2.0, 2.0]
    with pytest.raises(InvalidArgumentError, match="reserved"):
        save_latents(tmp_path / "x.npz", ws, "w", {"meta_json": "x"})
    with pytest.raises(InvalidArgumentError, match=r"\[n, num_ws, w_dim\]"):
        save_latents(tmp_path / "x.npz", torch.randn(8), "w")


def test_features_round_trip_and_older_files_have_none(tmp_path):
    from styleblend.latents.files import read_latent_file, save_latents

    cfg = tiny_config()
    ws = torch.randn(2, cfg.num_ws, cfg.w_dim)
    feats = torch.randn(2, cfg.channels(8), 8, 8)
    path = save_latents(tmp_path / "fs.npz", ws, meta={"method": "encoder"}, features=feats, feature_block=8)
    got = read_latent_file(path, cfg)
    assert got.feature_block == 8 and np.array_equal(got.features, feats.numpy())
    assert np.array_equal(got.data, ws.numpy()) and got.meta["method"] == "encoder" and "features" not in got.meta
    plain = read_latent_file(save_latents(tmp_path / "w.npz", ws), cfg)
    assert plain.features is None and plain.feature_block is None
    np.savez(tmp_path / "old.npz", w=ws[0].numpy(), method=np.array("fast"))  # an older projection file
    assert read_latent_file(tmp_path / "old.npz", cfg).features is None


def test_features_that_do_not_fit_the_network_are_refused(tmp_path):
    from styleblend.latents.files import read_latent_file, save_latents

    cfg = tiny_config()
    ws = torch.randn(1, cfg.num_ws, cfg.w_dim)
    with pytest.raises(InvalidArgumentError, match="one map per latent"):
        save_latents(tmp_path / "a.npz", ws, features=torch.randn(2, 32, 8, 8), feature_block=8)
    with pytest.raises(InvalidArgumentError, match="one map per latent"):
        save_latents(tmp_path / "a.npz", ws, features=torch.randn(1, 32, 8, 8))  # no block
    np.savez(tmp_path / "b.npz", w=ws.numpy(), features=np.zeros([1, 32, 4, 4], np.float32),
             meta_json=np.array(json.dumps({"feature_block": 8})))
    with pytest.raises(InvalidArgumentError, match="features of shape"):
        read_latent_file(tmp_path / "b.npz", cfg)
    np.savez(tmp_path / "c.npz", w=ws.numpy(), features=np.zeros([1, 32, 32, 32], np.float32),
             meta_json=np.array(json.dumps({"feature_block": 32})))
    with pytest.raises(InvalidArgumentError, match="not an inner block"):
        read_latent_file(tmp_path / "c.npz", cfg)
    bad = np.full([1, 32, 8, 8], np.nan, np.float32)
    np.savez(tmp_path / "d.npz", w=ws.numpy(), features=bad, meta_json=np.array(json.dumps({"feature_block": 8})))
    with pytest.raises(InvalidArgumentError, match="NaN"):
        read_latent_file(tmp_path / "d.npz", cfg)
