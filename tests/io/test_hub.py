"""Hub-style model folders: every format round-trips with identical images; lineage, licence, atomic writes;
Hub repository ids through a local huggingface_hub cache, offline."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys

import numpy as np
import pytest
import torch

from styleblend.errors import CheckpointError, InvalidArgumentError, MissingDependencyError
from styleblend.io import hub, load_checkpoint, save_checkpoint
from styleblend.io.digest import file_sha256
from styleblend.io.hub import load_pretrained, parse_repo_id, save_pretrained
from styleblend.nn import Generator

from ..conftest import tiny_checkpoint
from .formats.conftest import random_checkpoint, tiny_d_config, tiny_g_config
from .formats.test_nvidia_tf import tf_generator, tf_module  # noqa: F401 - tf_module is a fixture
from .formats.test_nvidia_tf import write as write_tf_pickle
from .formats.test_rosinality import random_rosinality_g


def images(ckpt, seed: int = 0, n: int = 3) -> torch.Tensor:
    G = ckpt.generator()
    z = torch.randn([n, G.z_dim], generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return G(z, noise_mode="const", truncation_psi=0.7)


def assert_same_networks(a, b) -> None:
    assert a.g_config == b.g_config and a.d_config == b.d_config
    for part in ("g_ema", "g", "d"):
        x, y = getattr(a, part), getattr(b, part)
        assert (x is None) == (y is None), part
        if x is not None:
            assert set(x) == set(y), part
            assert all(torch.equal(x[k].float(), y[k]) for k in x), part


# ---------------------------------------------------------------------------------------- round trips

def _native(tmp_path, request):
    return save_checkpoint(tiny_checkpoint(seed=3, with_d=True), tmp_path / "tiny.safetensors")


def _nvidia(tmp_path, request):
    nvidia = request.getfixturevalue("nvidia_g64")
    return shutil.copy(nvidia / "network-snapshot.pkl", tmp_path / "network-snapshot.pkl")


def _rosinality(tmp_path, request):
    path = tmp_path / "550000.pt"
    torch.save({"g_ema": random_rosinality_g(4)}, path)
    return path


def _tensorflow(tmp_path, request):
    request.getfixturevalue("tf_module")
    return write_tf_pickle(tmp_path, tf_generator(random_checkpoint(tiny_g_config()).generator()))


@pytest.mark.parametrize("make,fmt", [(_native, "native"), (_nvidia, "nvidia-pkl"), (_rosinality, "rosinality"),
                                      (_tensorflow, "nvidia-tf")])
def test_every_format_round_trips_through_a_folder_with_identical_images(tmp_path, request, make, fmt):
    original = load_checkpoint(make(tmp_path, request))
    assert original.format == fmt
    folder = save_pretrained(original, tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    back = load_checkpoint(folder)
    assert_same_networks(original, back)
    expected = images(original)
    assert expected.std() > 0.05  # not a blank image
    assert torch.equal(images(back), expected)
    # the lineage names the file the weights came from, by content
    lineage = json.loads((folder / "config.json").read_text())["lineage"]
    assert lineage["source"] == {"file": original.source.name, "format": fmt, "sha256": file_sha256(original.source)}


def test_nvidia_fixture_through_a_folder_still_renders_nvidias_images(tmp_path, nvidia_g64):
    back = load_checkpoint(save_pretrained(load_checkpoint(nvidia_g64 / "network-snapshot.pkl"), tmp_path / "m"))
    z = torch.from_numpy(np.load(nvidia_g64 / "z_seeds0-5.npy")[:2]).float()
    with torch.no_grad():
        img = back.generator()(z, noise_mode="const")
    for seed in range(2):
        expected = torch.from_numpy(np.load(nvidia_g64 / "raw" / f"seed{seed:04d}_psi1.0.npy")).reshape(img[seed].shape)
        torch.testing.assert_close(img[seed], expected, atol=1e-4, rtol=0)


def test_config_and_card_state_architecture_and_licence(tmp_path):
    ckpt = tiny_checkpoint(with_d=True)
    folder = save_pretrained(ckpt, tmp_path / "tiny-model", license="cc-by-4.0")
    config = json.loads((folder / "config.json").read_text())
    assert config["library"] == "styleblend" and config["format_version"] == 1
    assert config["g_config"] == ckpt.g_config.to_dict() and config["d_config"] == ckpt.d_config.to_dict()
    assert config["networks"] == ["g_ema", "g", "d"] and config["dtype"] == "float32"
    assert config["license"] == "cc-by-4.0"
    card = (folder / "README.md").read_text()
    front = card.split("---\n")[1]
    assert "library_name: styleblend" in front and "license: cc-by-4.0" in front
    assert card.startswith("---\n") and "# tiny-model" in card
    assert f"| num_ws (W+ entries) | {ckpt.g_config.num_ws} |" in card
    assert "saved from memory without a record" in card  # nothing is known of its origin
    back = load_checkpoint(folder)
    assert back.meta["license"] == "cc-by-4.0"
    # the licence a folder states is kept when it is saved again, and can be replaced
    again = save_pretrained(back, tmp_path / "again")
    assert json.loads((again / "config.json").read_text())["license"] == "cc-by-4.0"
    unstated = save_pretrained(tiny_checkpoint(), tmp_path / "unstated")
    assert "license: other" in (unstated / "README.md").read_text()
    assert "Not stated" in (unstated / "README.md").read_text()


def test_a_generator_ema_only_and_float16(tmp_path):
    ckpt = tiny_checkpoint(with_d=True)
    G = ckpt.generator()
    back = load_checkpoint(save_pretrained(G, tmp_path / "g"))
    assert back.g is None and back.d is None
    assert torch.equal(images(back), images(ckpt))
    ema = load_checkpoint(save_pretrained(ckpt, tmp_path / "ema", ema_only=True))
    assert ema.g is None and ema.d is None and ema.d_config is None
    full, half = save_pretrained(ckpt, tmp_path / "full"), save_pretrained(ckpt, tmp_path / "half", dtype=torch.float16)
    assert json.loads((half / "config.json").read_text())["dtype"] == "float16"
    assert (half / "model.safetensors").stat().st_size < 0.6 * (full / "model.safetensors").stat().st_size
    torch.testing.assert_close(images(load_checkpoint(half)), images(ckpt), atol=2e-2, rtol=0)
    with pytest.raises(InvalidArgumentError, match="Checkpoint or Generator"):
        save_pretrained(torch.nn.Linear(2, 2), tmp_path / "x")
    with pytest.raises(InvalidArgumentError, match="licence id"):
        save_pretrained(G, tmp_path / "y", license="MIT\nlibrary_name: evil")


# ---------------------------------------------------------------------------- overwrite and atomicity

def test_an_existing_path_is_replaced_only_with_overwrite_and_only_if_it_is_a_model_folder(tmp_path):
    a, b = tiny_checkpoint(seed=0), tiny_checkpoint(seed=1)
    folder = save_pretrained(a, tmp_path / "m")
    with pytest.raises(InvalidArgumentError, match="exists"):
        save_pretrained(b, folder)
    assert torch.equal(images(load_checkpoint(folder)), images(a))
    save_pretrained(b, folder, overwrite=True)
    assert torch.equal(images(load_checkpoint(folder)), images(b))
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no leftovers beside it

    precious = tmp_path / "photos"
    precious.mkdir()
    (precious / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(InvalidArgumentError, match="not a model folder"):
        save_pretrained(a, precious, overwrite=True)
    assert (precious / "holiday.jpg").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidArgumentError, match="file or a link"):
        save_pretrained(a, tmp_path / "file", overwrite=True)
    (tmp_path / "empty").mkdir()
    assert load_checkpoint(save_pretrained(a, tmp_path / "empty", overwrite=True)).g_config == a.g_config


def test_an_interrupted_write_leaves_no_folder_and_its_leftovers_are_removed_later(tmp_path, monkeypatch):
    from styleblend.io.formats import native

    def fail(*args, **kwargs):
        (args[1]).write_bytes(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(native, "write", fail)
    with pytest.raises(KeyboardInterrupt):
        save_pretrained(tiny_checkpoint(), tmp_path / "m")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    # a writer that was killed (its pid is gone) left a temporary folder: the next write removes it
    stale = tmp_path / ".m.999999999-abc.tmp"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"partial")
    alive = tmp_path / f".m.{os.getpid()}-xyz.tmp"  # a concurrent writer of this process: left alone
    alive.mkdir()
    save_pretrained(tiny_checkpoint(), tmp_path / "m")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m", alive.name])


# ------------------------------------------------------------------------------------- reading errors

def test_folders_that_do_not_read_give_one_clear_line(tmp_path):
    folder = save_pretrained(tiny_checkpoint(), tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())

    def broken(name: str, text: str | None, match: str) -> None:
        bad = tmp_path / name
        shutil.copytree(folder, bad)
        if text is None:
            (bad / "config.json").unlink()
        else:
            (bad / "config.json").write_text(text)
        with pytest.raises(CheckpointError, match=match) as info:
            load_checkpoint(bad)
        assert "\n" not in str(info.value)

    broken("no-config", None, "has model.safetensors but no config.json")
    broken("not-json", "{", "not valid JSON")
    broken("array", "[]", "JSON list, not an object")
    broken("other-lib", json.dumps(dict(config, library="diffusers")), "not a styleblend model config")
    broken("future", json.dumps(dict(config, format_version=99)), "format_version 99")
    other = dict(config, g_config=dict(config["g_config"], w_dim=64))
    broken("mixed", json.dumps(other), "w_dim: 64 in the config, 32 in the weights")
    broken("bad-arch", json.dumps(dict(config, g_config={"z_dim": "x"})), "invalid 'g_config'")
    (tmp_path / "plain").mkdir()
    with pytest.raises(CheckpointError, match="is a directory"):  # a folder with neither file: as before
        load_checkpoint(tmp_path / "plain")
    only_config = tmp_path / "only-config"
    only_config.mkdir()
    shutil.copy(folder / "config.json", only_config)
    with pytest.raises(CheckpointError, match="has config.json but no model.safetensors"):
        load_checkpoint(only_config)
    with pytest.raises(CheckpointError, match="neither a model folder"):
        load_pretrained(tmp_path / "nothing.pkl")


# ----------------------------------------------------------------------------------- Hub repositories

@pytest.mark.parametrize("text,expected", [
    ("someone/tiny-model", ("someone/tiny-model", None)),
    ("someone/tiny.v2@main", ("someone/tiny.v2", "main")),
    ("someone/tiny@refs/pr/1", ("someone/tiny", "refs/pr/1")),
    ("models/ffhq.pkl", None),           # a missing file, not a repository
    ("a/b/c", None), ("./x/y", None), ("/abs/path", None), ("x", None), ("-a/b", None), ("a--b/c", None),
])
def test_which_strings_are_repository_ids(text, expected):
    assert parse_repo_id(text) == expected


def test_an_existing_path_or_a_local_folder_owner_is_never_a_repository_id(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    assert parse_repo_id("runs/snapshot") is None  # a mistyped path in an existing folder
    (tmp_path / "owner").mkdir()
    (tmp_path / "owner" / "name").write_text("x")
    assert parse_repo_id("owner/name") is None


def build_hub_cache(cache, repo_id: str, folder, revision: str = "main", tag: str | None = None) -> str:
    """Lay ``folder``'s files out as huggingface_hub's cache does after a download: blobs named by content
    hash, a snapshot folder per commit of links to them, and refs naming the commit."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    (repo / "snapshots" / commit).mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    for name in hub.HUB_FILES:
        data = (folder / name).read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        (repo / "snapshots" / commit / name).symlink_to(os.path.relpath(blob, repo / "snapshots" / commit))
    for ref in filter(None, (revision, tag)):
        (repo / "refs" / ref).write_text(commit)
    return commit


def test_a_hub_repository_loads_offline_from_the_cache(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    ckpt = tiny_checkpoint(seed=5)
    folder = save_pretrained(ckpt, tmp_path / "upload", license="apache-2.0")
    cache = tmp_path / "hf-cache"
    commit = build_hub_cache(cache, "someone/tiny-model", folder, tag="v1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may be downloaded
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    for ref in ("someone/tiny-model", "someone/tiny-model@v1", f"someone/tiny-model@{commit}"):
        back = load_checkpoint(ref)
        assert torch.equal(images(back), images(ckpt)), ref
        assert back.meta["license"] == "apache-2.0"
    assert load_pretrained("someone/tiny-model", cache_dir=cache).g_config == ckpt.g_config
    with pytest.raises(CheckpointError, match="not in the Hugging Face cache.*HF_HUB_OFFLINE"):
        load_checkpoint("someone/other-model")
    with pytest.raises(CheckpointError, match="not in the Hugging Face cache"):
        load_checkpoint("someone/tiny-model@v2")


def test_a_cached_repository_without_the_model_files_is_refused(tmp_path, monkeypatch):
    pytest.importorskip("huggingface_hub")
    src = tmp_path / "src"
    src.mkdir()
    for name in hub.HUB_FILES:
        (src / name).write_text("{}")
    build_hub_cache(tmp_path / "cache", "someone/model", src)
    (next((tmp_path / "cache").glob("models--*/snapshots/*")) / "model.safetensors").unlink()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "cache"))
    with pytest.raises(CheckpointError, match="not a styleblend model repository"):
        load_checkpoint("someone/model")


def test_a_repository_id_without_huggingface_hub_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'styleblend\[hub\]'"):
        load_checkpoint("someone/tiny-model")
    with pytest.raises(CheckpointError, match="no such file"):  # a mistyped file is still a missing file
        load_checkpoint("someone/tiny-model.pkl")


def test_generator_built_from_a_folder_is_our_generator(tmp_path):
    folder = save_pretrained(random_checkpoint(tiny_g_config(), tiny_d_config()), tmp_path / "m")
    assert isinstance(load_checkpoint(folder).generator(), Generator)
