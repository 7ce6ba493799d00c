"""VGG-16 module, weight lookup order, TorchScript reading without execution, and the visible fallback."""

from __future__ import annotations

import dataclasses
import logging
import zipfile

import pytest
import torch

from styleblend.errors import CheckpointError, MissingWeightsError
from styleblend.perceptual.lpips import LPIPS
from styleblend.perceptual.vgg import CONV_INDEX, VGG16Features, load_vgg16, read_torchscript_tensors
from styleblend.project.losses import (
    IMAGE2STYLEGAN_LAYERS,
    LPIPSLoss,
    VGGPerceptualLoss,
    image2stylegan_loss,
    resolve_loss,
)
from styleblend.weights import VGG16, find_weights, sha256_of, torch_hub_dir


def _random_torchvision_state(seed=0):
    """Random weights in torchvision's vgg16 key layout, including classifier keys we must ignore."""
    torch.manual_seed(seed)
    state = {k: torch.randn_like(v) * 0.05 for k, v in VGG16Features().state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)
    return state


def test_module_has_torchvision_keys():
    keys = set(VGG16Features().state_dict())
    expected = {f"features.{i}.{p}" for i in CONV_INDEX.values() for p in ("weight", "bias")}
    assert keys == expected
    net = VGG16Features()
    feats = net(torch.zeros(1, 3, 32, 32), IMAGE2STYLEGAN_LAYERS)
    assert feats["conv1_1"].shape == (1, 64, 32, 32) and feats["conv4_2"].shape == (1, 512, 4, 4)
    assert all((v >= 0).all() for v in feats.values())  # post-ReLU


def test_loads_explicit_pth(tmp_path, no_vgg):
    state = _random_torchvision_state()
    torch.save(state, tmp_path / "vgg.pth")
    net = load_vgg16(tmp_path / "vgg.pth")
    assert torch.equal(net.features[19].weight, state["features.19.weight"])
    assert not any(p.requires_grad for p in net.parameters()) and not net.training
    assert net.lpips_weights is None


def test_hub_cache_respects_torch_home(no_vgg, monkeypatch):
    cache = torch_hub_dir() / "checkpoints" / VGG16.filename
    assert str(cache).startswith(str(no_vgg / "torch_home"))
    with pytest.raises(MissingWeightsError, match="allow `download`"):
        find_weights(VGG16)
    cache.parent.mkdir(parents=True)
    torch.save(_random_torchvision_state(1), cache)
    # a random file under the published name fails the SHA-256 check; one with that hash is used
    with pytest.raises(MissingWeightsError, match="SHA-256"):
        find_weights(VGG16)
    monkeypatch.setattr("styleblend.perceptual.vgg.VGG16",
                        dataclasses.replace(VGG16, sha256_prefix=sha256_of(cache)[:8]))
    assert torch.equal(load_vgg16().features[0].bias, _random_torchvision_state(1)["features.0.bias"])


def test_missing_explicit_path_is_an_error(tmp_path):
    with pytest.raises(MissingWeightsError, match="does not exist"):
        find_weights(VGG16, tmp_path / "nope.pth")


def test_bad_files_are_refused(tmp_path, no_vgg):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        load_vgg16(tmp_path / "junk.pth")
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match="lack"):
        load_vgg16(tmp_path / "partial.pth")


class _LPIPSLike(torch.nn.Module):
    """A stand-in for NVIDIA's vgg16.pt: VGG convs plus LPIPS 1x1 linear layers, saved as TorchScript."""

    def __init__(self, state):
        super().__init__()
        self.vgg = VGG16Features()
        self.vgg.load_state_dict({k: v for k, v in state.items() if k.startswith("features.")})
        self.lin = torch.nn.ModuleList(torch.nn.Conv2d(c, 1, 1, bias=False) for c in (64, 128, 256, 512, 512))
        with torch.no_grad():
            for i, lin in enumerate(self.lin):
                lin.weight.fill_(0.1 * (i + 1))

    def forward(self, x):
        return self.vgg.features(x).sum() + sum(lin.weight.sum() for lin in self.lin)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_weights_read_without_executing(tmp_path, no_vgg, monkeypatch):
    state = _random_torchvision_state(2)
    traced = torch.jit.trace(_LPIPSLike(state).eval(), torch.zeros(1, 3, 32, 32))
    path = tmp_path / "vgg16.pt"
    traced.save(str(path))

    def boom(*args, **kwargs):
        raise AssertionError("torch.jit.load must never be called")

    monkeypatch.setattr(torch.jit, "load", boom)
    names = dict(read_torchscript_tensors(path))
    assert any(n.endswith("features.0.weight") for n in names)
    net = load_vgg16(path)
    assert torch.equal(net.features[28].weight, state["features.28.weight"])
    assert net.lpips_weights is not None and float(net.lpips_weights[4][0]) == pytest.approx(0.5)
    assert LPIPS(net).learned and LPIPSLoss(net).learned


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_that_is_not_vgg_is_refused(tmp_path, no_vgg):
    traced = torch.jit.trace(torch.nn.Conv2d(3, 4, 3).eval(), torch.zeros(1, 3, 8, 8))
    traced.save(str(tmp_path / "other.pt"))
    with pytest.raises(CheckpointError, match="not VGG-16"):
        load_vgg16(tmp_path / "other.pt")


def test_fallback_warns_visibly(no_vgg, caplog):
    with caplog.at_level(logging.WARNING):
        loss, vgg, warning = resolve_loss("image2stylegan")
    assert vgg is None and warning and "MS-SSIM" in warning
    assert "no VGG-16 weights" in caplog.text
    assert [t.name for t in loss.terms] == ["mse", "ms_ssim"]


def test_explicit_vgg_or_download_failures_do_not_fall_back(no_vgg, tmp_path):
    with pytest.raises(MissingWeightsError):
        resolve_loss("image2stylegan", vgg_path=str(tmp_path / "missing.pth"))


def test_perceptual_losses_are_zero_on_identical_images_and_cache_target(tmp_path, no_vgg):
    torch.save(_random_torchvision_state(3), tmp_path / "vgg.pth")
    net = load_vgg16(tmp_path / "vgg.pth")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    y = torch.rand(1, 3, 32, 32) * 2 - 1
    perc = VGGPerceptualLoss(net, size=64)
    assert perc(x, x).item() == pytest.approx(0.0, abs=1e-8)
    assert perc(y, x).item() > 0
    lp = LPIPSLoss(net)
    assert lp(x, x).item() == pytest.approx(0.0, abs=1e-6) and lp(y, x).item() > 0
    total, parts = image2stylegan_loss(net)(y, x)
    assert set(parts) == {"perceptual", "mse"} and total.item() == pytest.approx(sum(parts.values()), rel=1e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("old,new,match", [
    # a 4x3x3x3 weight turned into a 2**24x3x3x3 view with stride 0: 1.8 GB on clone, from a few KB
    (b"(K\x04K\x03K\x03K\x03t(K\x1bK\tK\x03K\x01t", b"(J\x00\x00\x00\x01K\x03K\x03K\x03t(K\x00K\x00K\x00K\x00t",
     "overlapping"),
    (b"K\x00(K\x04K\x03K\x03K\x03t", b"K\x10(K\x04K\x03K\x03K\x03t", "reaches element"),  # offset past the end
    (b"KltQ", b"J\x00\x00\x00\x40tQ", "announces"),  # storage numel 2**30 > its record
    (b"\x81}(X", b"\x81c__torch__\nx\n}b0}(X", "shared"),  # BUILD on the shared stand-in class
])
def test_tampered_torchscript_is_refused_before_allocating(tmp_path, no_vgg, old, new, match):
    traced = torch.jit.trace(torch.nn.Conv2d(3, 4, 3).eval(), torch.zeros(1, 3, 8, 8))
    path = tmp_path / "ts.pt"
    traced.save(str(path))
    with zipfile.ZipFile(path) as zin:
        records = [(info, zin.read(info)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w") as zout:
        for info, data in records:
            if info.filename.endswith("/data.pkl"):
                assert old in data
                data = data.replace(old, new, 1)
            zout.writestr(info, data)
    with pytest.raises(CheckpointError, match=match) as info:
        read_torchscript_tensors(path)
    assert "\n" not in str(info.value)
