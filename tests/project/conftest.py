"""Tiny models and images for projection tests (32 px, 32 channels: a step takes milliseconds)."""

from __future__ import annotations

import pytest
import torch

from styleblend.config import DiscriminatorConfig, GeneratorConfig, MappingConfig, SynthesisConfig
from styleblend.io import Checkpoint
from styleblend.nn import Discriminator, Generator


def tiny_config(res: int = 32) -> GeneratorConfig:
    return GeneratorConfig(z_dim=32, w_dim=32, img_resolution=res, mapping=MappingConfig(num_layers=2),
                           synthesis=SynthesisConfig(channel_base=256, channel_max=32))


def tiny_checkpoint(seed: int = 0, res: int = 32) -> Checkpoint:
    torch.manual_seed(seed)
    cfg = tiny_config(res)
    G = Generator(cfg)
    # Random noise strengths are 0 at init; give them a little weight so noise paths are exercised.
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("noise_strength"):
                p.fill_(0.05)
    return Checkpoint(g_config=cfg, g_ema={k: v.clone() for k, v in G.state_dict().items()})


def tiny_d_config(res: int = 32) -> DiscriminatorConfig:
    return DiscriminatorConfig(img_resolution=res, channel_base=256, channel_max=32)


def tiny_checkpoint_with_d(seed: int = 0, res: int = 32) -> Checkpoint:
    """The tiny generator plus a (random) discriminator, as a training snapshot carries one."""
    ckpt = tiny_checkpoint(seed, res)
    torch.manual_seed(seed + 1000)
    D = Discriminator(tiny_d_config(res))
    return Checkpoint(g_config=ckpt.g_config, g_ema=ckpt.g_ema, d_config=D.cfg,
                      d={k: v.clone() for k, v in D.state_dict().items()})


@pytest.fixture(scope="session")
def tiny_ckpt() -> Checkpoint:
    return tiny_checkpoint()


@pytest.fixture(scope="session")
def tiny_ckpt_d() -> Checkpoint:
    return tiny_checkpoint_with_d()


@pytest.fixture()
def tiny_G(tiny_ckpt):
    return tiny_ckpt.generator("cpu")


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread; on a busy 2-core machine more threads only contend."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_encoder_files(folder) -> tuple:
    """The tiny base written to ``folder``, an untrained one-shot encoder for it (it predicts near the mean w,
    enough to test what sits on top of it) written beside: (network path, encoder path, G, encoder)."""
    from styleblend.io import save_checkpoint
    from styleblend.project.encoder import Encoder, EncoderConfig, save_encoder

    ckpt = tiny_checkpoint()
    network = save_checkpoint(ckpt, folder / "tiny.safetensors")
    G = ckpt.generator("cpu")
    torch.manual_seed(0)
    E = Encoder(EncoderConfig.for_generator(G, 16))
    with torch.no_grad():
        E.w_avg.copy_(G.mapping.w_avg)
    return network, save_encoder(folder / "enc.safetensors", E), G, E
