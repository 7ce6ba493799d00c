"""Widening a generator: the wider G renders the same images, its new channels learn, a run continues."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from styleblend.config import GeneratorConfig, MappingConfig, SynthesisConfig
from styleblend.errors import ArchitectureMismatchError
from styleblend.nn import Generator
from styleblend.train import checkpointing as ckpt_io
from styleblend.train.loop import train
from styleblend.train.widen import widen_generator_state, widen_training_state, wider_config

from .test_loop import make_images, options


def small_config(architecture: str = "skip") -> GeneratorConfig:
    # 16 channels at 4-8 px, 8 at 16 px
    return GeneratorConfig(z_dim=16, w_dim=16, img_resolution=16, mapping=MappingConfig(num_layers=2),
                           synthesis=SynthesisConfig(channel_base=128, channel_max=16, architecture=architecture))


def trained_looking(cfg: GeneratorConfig, seed: int) -> Generator:
    """A G whose biases, noise strengths and weights are all non-zero, as after training."""
    torch.manual_seed(seed)
    G = Generator(cfg)
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith("bias") or name.endswith("noise_strength"):
                p.copy_(torch.randn_like(p) * 0.3 + (1.0 if "affine" in name else 0.0))
    return G


def widened(G: Generator, channel_base: int, channel_max: int, seed: int = 1) -> Generator:
    cfg = wider_config(G.cfg, channel_base, channel_max)
    torch.manual_seed(seed)
    fresh = Generator(cfg)
    wide = Generator(cfg)
    wide.load_state_dict(widen_generator_state(G.state_dict(), fresh.state_dict()))
    return wide


@pytest.mark.parametrize("channel_base, channel_max", [(128, 32), (256, 16), (256, 32)])
def test_widened_generator_renders_the_same_images(channel_base, channel_max):
    G = trained_looking(small_config(), seed=0)
    wide = widened(G, channel_base, channel_max)
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in G.parameters())
    z = torch.randn(6, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        for fused in (True, False):  # inference and training paths
            a = G(z, None, noise_mode="const", fused_modconv=fused)
            b = wide(z, None, noise_mode="const", fused_modconv=fused)
            assert a.abs().max() > 0.1
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)
        # random noise: both draw the same [N, 1, r, r] maps in the same order
        torch.manual_seed(5)
        a = G(z, None, noise_mode="random", fused_modconv=False)
        torch.manual_seed(5)
        b = wide(z, None, noise_mode="random", fused_modconv=False)
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_new_channels_compute_features_and_their_zero_weights_learn():
    G = trained_looking(small_config(), seed=0)
    wide = widened(G, 256, 32)  # 4-8 px: 16 -> 32 channels, 16 px: 8 -> 16
    conv = wide.synthesis.b8.conv0  # 16 px block's input comes from here, toRGB too
    w = conv.weight
    assert torch.count_nonzero(w[:16, 16:]) == 0 and torch.count_nonzero(w[16:]) == w[16:].numel()
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(0))
    img = wide(z, None, noise_mode="const", fused_modconv=False)
    img.square().mean().backward()
    for name in ("b8.conv1.weight", "b16.conv0.weight", "b8.torgb.weight"):
        grad = dict(wide.synthesis.named_parameters())[name].grad
        assert grad is not None
        old_out = {"b8.conv1.weight": 16, "b16.conv0.weight": 8, "b8.torgb.weight": 3}[name]
        # every layer here had 16 inputs: the weights from the new ones are zero now, not for good
        assert grad[:old_out, 16:].abs().sum() > 0, name


def test_same_width_is_an_exact_copy_and_narrower_or_resnet_is_refused():
    G = trained_looking(small_config(), seed=0)
    same = widen_generator_state(G.state_dict(), Generator(small_config()).state_dict())
    assert all(torch.equal(same[k], v) for k, v in G.state_dict().items())
    with pytest.raises(ArchitectureMismatchError, match="fewer than"):
        wider_config(small_config(), 64, 16)
    with pytest.raises(ArchitectureMismatchError, match="resnet"):
        wider_config(small_config("resnet"), 256, 32)
    other = dataclasses.replace(small_config(), mapping=MappingConfig(num_layers=3))
    with pytest.raises(ArchitectureMismatchError, match="more than width"):
        widen_generator_state(G.state_dict(), Generator(other).state_dict())


def test_widened_training_state_continues_the_run(tmp_path: Path):
    make_images(tmp_path / "data")
    opts = options(tmp_path, "run", steps=3)
    train(opts, max_steps=2, show_progress=False)
    state = ckpt_io.load_training_state(Path(opts.outdir))
    cfg = GeneratorConfig.from_dict(state["g_config"])
    wide = widen_training_state(state, cfg.synthesis.channel_base * 2, cfg.synthesis.channel_max * 2,
                                outdir=str(tmp_path / "wide"))
    assert wide["cur_nimg"] == state["cur_nimg"] and wide["options"]["outdir"] == str(tmp_path / "wide")
    assert all(torch.equal(wide["D"][k], v) for k, v in state["D"].items())
    # Adam: old moments in the leading slice, new first moments 0, new second moments the old mean, step kept
    old_m, new_m = state["opt_G"]["state"], wide["opt_G"]["state"]
    grown = [i for i in old_m if old_m[i]["exp_avg"].shape != new_m[i]["exp_avg"].shape]
    assert grown
    for i in grown:
        region = tuple(slice(0, n) for n in old_m[i]["exp_avg"].shape)
        assert torch.equal(new_m[i]["exp_avg"][region], old_m[i]["exp_avg"])
        assert torch.equal(new_m[i]["exp_avg_sq"][region], old_m[i]["exp_avg_sq"])
        outside = torch.ones(new_m[i]["exp_avg"].shape, dtype=torch.bool)
        outside[region] = False
        assert torch.count_nonzero(new_m[i]["exp_avg"][outside]) == 0
        assert torch.allclose(new_m[i]["exp_avg_sq"][outside], old_m[i]["exp_avg_sq"].mean())
        assert torch.equal(new_m[i]["step"], old_m[i]["step"])
    result = train(opts.replace(outdir=str(tmp_path / "wide")), resume_state=wide, show_progress=False)
    assert result.finished and result.step == 3
    after = ckpt_io.load_training_state(tmp_path / "wide")
    assert after["g_config"] == wide["g_config"] != state["g_config"]
    assert not torch.equal(after["G"]["synthesis.b4.const"], wide["G"]["synthesis.b4.const"])
