"""FID Inception-v3: module layout in pytorch-fid's key names, weight lookup, strict loading, refusals."""

import dataclasses
import pickle
import types

import pytest
import torch

from styleblend.errors import CheckpointError, InvalidArgumentError, MissingWeightsError
from styleblend.metrics.inception import (
    FEATURE_DIM,
    WEIGHTS_FILE,
    WEIGHTS_URL,
    FIDInceptionV3,
    InceptionFeatures,
    _avg_pool_same,
    load_inception,
    load_inception_state_dict,
)
from styleblend.weights import INCEPTION, find_weights, sha256_of


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    """An empty torch hub cache, so no weights this machine may have are found."""
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def random_state():
    """A randomly initialised network's state dict with non-trivial BN statistics, in pytorch-fid layout."""
    torch.manual_seed(0)
    net = FIDInceptionV3()
    with torch.no_grad():
        for name, buf in net.named_buffers():
            if name.endswith("running_mean"):
                buf.normal_(0, 0.1)
            elif name.endswith("running_var"):
                buf.uniform_(0.5, 1.5)
    return {k: v.clone() for k, v in net.state_dict().items()}


def test_key_layout_matches_pytorch_fid(random_state):
    keys = set(random_state)
    # torchvision's Inception3 names (pytorch-fid patches only the forward of some blocks).
    for key in ("Conv2d_1a_3x3.conv.weight", "Conv2d_1a_3x3.bn.running_var", "Conv2d_4a_3x3.bn.bias",
                "Mixed_5b.branch5x5_2.conv.weight", "Mixed_6a.branch3x3dbl_3.conv.weight",
                "Mixed_6e.branch7x7dbl_5.bn.weight", "Mixed_7a.branch7x7x3_4.conv.weight",
                "Mixed_7c.branch3x3dbl_3b.bn.running_mean", "Mixed_7c.branch_pool.conv.weight", "fc.weight", "fc.bias"):
        assert key in keys, key
    assert not any(k.startswith("AuxLogits") for k in keys)
    assert random_state["fc.weight"].shape == (1008, 2048)
    assert random_state["Conv2d_1a_3x3.conv.weight"].shape == (32, 3, 3, 3)
    assert random_state["Mixed_6b.branch7x7_2.conv.weight"].shape == (128, 128, 1, 7)
    assert random_state["Mixed_7b.branch3x3dbl_1.conv.weight"].shape == (448, 1280, 1, 1)
    # 94 conv+BN units (5 stem, 3x7 A, 4 B, 4x10 C, 6 D, 2x9 E), 5 BN tensors each with the counter, 1 conv weight.
    assert sum(k.endswith(".conv.weight") for k in keys) == 94
    assert len(keys) == 94 * 6 + 2
    net = FIDInceptionV3()
    assert net.Mixed_7c.max_pool and not net.Mixed_7b.max_pool
    assert all(m.bn.eps == 1e-3 for m in net.modules() if hasattr(m, "bn"))


def test_average_pool_excludes_padding():
    x = torch.ones(1, 1, 5, 5)
    assert torch.equal(_avg_pool_same(x), x)  # with the padding counted, the corners would be 4/9


def test_save_load_roundtrip_and_features(random_state, tmp_path, torch_home, monkeypatch):
    path = INCEPTION.cache_path()
    assert path == torch_home / "hub" / "checkpoints" / WEIGHTS_FILE
    path.parent.mkdir(parents=True)
    # Old files have no num_batches_tracked counters; they must still load strictly.
    torch.save({k: v for k, v in random_state.items() if not k.endswith("num_batches_tracked")}, path)
    with pytest.raises(MissingWeightsError, match="SHA-256"):  # random weights under the published name
        load_inception()
    monkeypatch.setattr("styleblend.metrics.inception.INCEPTION",
                        dataclasses.replace(INCEPTION, sha256_prefix=sha256_of(path)[:8]))
    extractor = load_inception()
    assert isinstance(extractor, InceptionFeatures) and extractor.feature_dim == FEATURE_DIM
    loaded = extractor.net.state_dict()
    for key, value in random_state.items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(loaded[key], value), key
    images = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    feats = extractor(images)
    assert feats.shape == (2, FEATURE_DIM) and feats.dtype == torch.float32
    assert torch.isfinite(feats).all() and (feats >= 0).all()  # mean of ReLU outputs
    assert not torch.equal(feats[0], feats[1])
    # An explicit path is used as given, and preprocessing is pytorch-fid's.
    assert find_weights(INCEPTION, path) == path
    x = torch.nn.functional.interpolate(images.float() / 255, size=(299, 299), mode="bilinear", align_corners=False)
    with torch.no_grad():
        expected = extractor.net(2 * x - 1)
    torch.testing.assert_close(feats, expected)
    with pytest.raises(InvalidArgumentError, match="uint8"):
        extractor(images.float())


def test_missing_weights_message(torch_home, tmp_path):
    with pytest.raises(MissingWeightsError) as info:
        load_inception()
    msg = str(info.value)
    assert WEIGHTS_URL in msg and WEIGHTS_FILE in msg and str(torch_home / "hub" / "checkpoints") in msg
    assert "`inception_path`" in msg and "allow `download`" in msg
    assert info.value.params == ("inception_path", "download")
    with pytest.raises(MissingWeightsError, match="does not exist"):
        load_inception(tmp_path / "nowhere.pth")


def test_wrong_layout_is_refused(random_state, tmp_path):
    net = FIDInceptionV3()
    partial = {k: v for k, v in random_state.items() if not k.startswith("fc.")}
    with pytest.raises(CheckpointError, match="2 missing"):
        load_inception_state_dict(net, partial)
    extra = dict(random_state, **{"AuxLogits.fc.weight": torch.zeros(1008, 768)})
    with pytest.raises(CheckpointError, match="1 unexpected"):
        load_inception_state_dict(net, extra)
    bad = dict(random_state, **{"fc.bias": torch.zeros(1000)})
    with pytest.raises(CheckpointError, match="fc.bias"):
        load_inception_state_dict(net, bad)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_code_carrying_files_are_refused(tmp_path):
    # A TorchScript archive (like NVIDIA's inception-2015-12-05.pt).
    script = torch.jit.script(torch.nn.Linear(2, 2))
    ts_path = tmp_path / "inception-2015-12-05.pt"
    torch.jit.save(script, str(ts_path))
    with pytest.raises(CheckpointError, match="TorchScript") as info:
        load_inception(ts_path)
    assert "execute code" in str(info.value) and WEIGHTS_URL in str(info.value)
    # A plain pickle of Python objects (like NVIDIA's inception-2015-12-05.pkl).
    pkl_path = tmp_path / "inception-2015-12-05.pkl"
    pkl_path.write_bytes(pickle.dumps(types.SimpleNamespace(weights=[1, 2, 3])))
    with pytest.raises(CheckpointError, match="execute code") as info:
        load_inception(pkl_path)
    assert WEIGHTS_FILE in str(info.value)
    # Garbage.
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a torch file at all")
    with pytest.raises(CheckpointError):
        load_inception(junk)
