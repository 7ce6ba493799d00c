"""safe_torch_load: plain data comes back, stand-ins replace argparse/pathlib, anything else is refused by name."""

import argparse
import pathlib
import pickle

import pytest
import torch

from styleblend.errors import CheckpointError, UnsafeCheckpointError
from styleblend.io.safe_torch_load import safe_torch_load
from styleblend.io.safe_unpickle import NamespaceStandIn


@pytest.mark.parametrize("legacy", [False, True])
def test_plain_data_and_stand_ins(tmp_path, legacy):
    path = tmp_path / "a.pt"
    obj = {"w": torch.arange(6.0).reshape(2, 3)[:, 1:], "n": 3, "s": {1, 2}, "dev": torch.device("cpu"),
           "sd": torch.nn.Linear(2, 2).state_dict(), "p": torch.nn.Parameter(torch.ones(2)),
           "args": argparse.Namespace(lr=0.002, data=pathlib.PurePosixPath("/data/ffhq"))}
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    out = safe_torch_load(path)
    assert torch.equal(out["w"], obj["w"]) and out["n"] == 3 and out["s"] == {1, 2}
    assert torch.equal(out["sd"]["weight"], obj["sd"]["weight"]) and torch.equal(out["p"], obj["p"])
    assert isinstance(out["args"], NamespaceStandIn)
    assert out["args"].values == {"lr": 0.002, "data": "/data/ffhq"}


def test_unknown_global_is_named(tmp_path):
    path = tmp_path / "b.pt"
    torch.save({"x": pickle.PickleError("boom")}, path)
    with pytest.raises(UnsafeCheckpointError, match="PickleError"):
        safe_torch_load(path)


def test_not_a_torch_file(tmp_path):
    path = tmp_path / "c.pkl"
    path.write_bytes(pickle.dumps({"a": 1}, protocol=2))
    with pytest.raises(CheckpointError, match="not a PyTorch"):
        safe_torch_load(path)
    with pytest.raises(CheckpointError):
        safe_torch_load(tmp_path / "missing.pt")
