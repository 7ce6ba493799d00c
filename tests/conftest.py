"""Shared fixtures: the NVIDIA reference snapshot and tiny random models."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest
import torch

from styleblend.config import DiscriminatorConfig, GeneratorConfig, MappingConfig, SynthesisConfig
from styleblend.io import Checkpoint
from styleblend.nn import Discriminator, Generator

FIXTURES = Path(__file__).parent / "fixtures"
NVIDIA_G64 = FIXTURES / "nvidia-g64"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("STYLEBLEND_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow test; set STYLEBLEND_SLOW=1 to run")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing is downloaded while tests run: styleblend's one network call fails, and downloads are off."""
    def offline(url: str) -> None:
        raise OSError(f"tests never download ({url})")

    monkeypatch.setattr("styleblend.weights._open_url", offline)
    monkeypatch.delenv("STYLEBLEND_ALLOW_DOWNLOAD", raising=False)


@pytest.fixture()
def no_vgg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An environment where no VGG weights can be found."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("DNNLIB_CACHE_DIR", str(tmp_path / "dnnlib"))
    return tmp_path


@pytest.fixture(scope="session")
def nvidia_g64() -> Path:
    """Directory of the real-structure NVIDIA snapshot and the images NVIDIA's generate.py made from it."""
    if not (NVIDIA_G64 / "network-snapshot.pkl").exists():
        pytest.skip("NVIDIA fixture missing")
    return NVIDIA_G64


def tiny_config(res: int = 32, architecture: str = "skip", c_dim: int = 0) -> GeneratorConfig:
    return GeneratorConfig(z_dim=32, w_dim=32, c_dim=c_dim, img_resolution=res,
                           mapping=MappingConfig(num_layers=2),
                           synthesis=SynthesisConfig(channel_base=256, channel_max=32, architecture=architecture))


def tiny_checkpoint(seed: int = 0, res: int = 32, with_d: bool = False, **kwargs) -> Checkpoint:
    """A random tiny model with non-trivial noise strengths, biases and w_avg (so every parameter matters)."""
    torch.manual_seed(seed)
    cfg = tiny_config(res, **kwargs)
    G = Generator(cfg)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith(("noise_strength", "bias")):
                p.add_(torch.randn_like(p) * 0.1)
        G.mapping.w_avg.copy_(torch.randn_like(G.mapping.w_avg) * 0.1)
    state = {k: v.clone() for k, v in G.state_dict().items()}
    d_cfg = d_state = None
    if with_d:
        d_cfg = DiscriminatorConfig(img_resolution=res, channel_base=256, channel_max=32, c_dim=cfg.c_dim)
        d_state = Discriminator(d_cfg).state_dict()
    return Checkpoint(g_config=cfg, g_ema=state, g={k: v.clone() for k, v in state.items()},
                      d_config=d_cfg, d=d_state)


@pytest.fixture
def tiny_ckpt() -> Checkpoint:
    return tiny_checkpoint()


def astronaut_photo() -> Path:
    """scikit-image's `astronaut` photo (Eileen Collins, NASA, public domain), found without importing scikit-image;
    skips the test when it is not installed."""
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("scikit-image (source of the test photo) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "astronaut.png"
    if not path.is_file():
        pytest.skip("scikit-image ships no astronaut.png")
    return path

