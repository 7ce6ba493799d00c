"""rosinality stylegan2-pytorch checkpoints: mapping proven against an independent forward pass.

The oracle below re-implements rosinality's generator and discriminator from their published math
(EqualLinear, PixelNorm, ModulatedConv2d with conv_transpose2d + blur up-sampling, NoiseInjection,
FusedLeakyReLU, ToRGB with an up-sampled skip, ResBlock, minibatch stddev) directly on a
rosinality-layout state dict. It shares no code with styleblend, so agreement proves the key map,
the layouts and the absence of a weight flip.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os

import pytest
import torch
import torch.nn.functional as F

from styleblend.errors import CheckpointError, InvalidArgumentError, UnsafeCheckpointError, UnsupportedArchitectureError
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.io.detect import detect_format
from styleblend.io.formats.rosinality import channel_multiplier
from styleblend.io.keymaps.common import fit_channels
from styleblend.io.keymaps.rosinality import rosinality_channels

from .conftest import random_checkpoint, tiny_d_config, tiny_g_config

SQRT2 = math.sqrt(2)
CHANNELS = {4: 32, 8: 32, 16: 16, 32: 8}  # fits channel_base=256, channel_max=32


# ------------------------------------------------------------------ oracle: rosinality's math, written from scratch


def make_kernel(taps=(1, 3, 3, 1)) -> torch.Tensor:
    k = torch.tensor(taps, dtype=torch.float32)
    k = k[None, :] * k[:, None]
    return k / k.sum()


def upfirdn(x, kernel, up=1, down=1, pad=(0, 0)):
    """Insert up-1 zeros after each pixel, pad, convolve (true convolution), keep every down-th pixel."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    x = F.conv2d(x, kernel.flip([0, 1])[None, None].repeat(c, 1, 1, 1), groups=c)
    return x[:, :, ::down, ::down]


def lrelu(x, bias):
    shape = [1, -1] + [1] * (x.ndim - 2)
    return F.leaky_relu(x + bias.reshape(shape), 0.2) * SQRT2


def equal_linear(x, sd, prefix, lr_mul=1.0, act=False):
    w, b = sd[f"{prefix}.weight"], sd[f"{prefix}.bias"]
    out = x @ (w * (lr_mul / math.sqrt(w.shape[1]))).t()
    return lrelu(out, b * lr_mul) if act else out + b * lr_mul


def modulated_conv(x, latent, sd, prefix, demodulate=True, upsample=False):
    weight = sd[f"{prefix}.weight"]  # [1, O, I, k, k]
    _, out_c, in_c, k, _ = weight.shape
    style = equal_linear(latent, sd, f"{prefix}.modulation")  # [N, I]
    outs = []
    for n in range(x.shape[0]):
        w = weight[0] / math.sqrt(in_c * k * k) * style[n].reshape(1, in_c, 1, 1)
        if demodulate:
            w = w * torch.rsqrt(w.square().sum([1, 2, 3]) + 1e-8).reshape(out_c, 1, 1, 1)
        xn = x[n:n + 1]
        if upsample:
            y = F.conv_transpose2d(xn, w.transpose(0, 1), stride=2, padding=0)
            y = upfirdn(y, make_kernel() * 4, pad=(1, 1))  # Blur, pad ((4-2)-(3-1)+1)//2+1 and 0//2+1
        else:
            y = F.conv2d(xn, w, padding=k // 2)
        outs.append(y)
    return torch.cat(outs)


def styled_conv(x, latent, sd, prefix, noise, upsample=False):
    out = modulated_conv(x, latent, sd, f"{prefix}.conv", upsample=upsample)
    out = out + sd[f"{prefix}.noise.weight"] * noise
    return lrelu(out, sd[f"{prefix}.activate.bias"])


def to_rgb(x, latent, sd, prefix, skip=None):
    out = modulated_conv(x, latent, sd, f"{prefix}.conv", demodulate=False) + sd[f"{prefix}.bias"]
    if skip is not None:
        out = out + upfirdn(skip, make_kernel() * 4, up=2, pad=(2, 1))
    return out


def rosinality_generate(sd, z, n_mlp, lr_mlp=0.01, truncation=1.0, latent_avg=None):
    """rosinality's Generator.forward([z], randomize_noise=False, truncation, truncation_latent)."""
    x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
    for i in range(1, n_mlp + 1):
        x = equal_linear(x, sd, f"style.{i}", lr_mul=lr_mlp, act=True)
    if truncation < 1:
        x = latent_avg + truncation * (x - latent_avg)
    num_up = len([k for k in sd if k.startswith("to_rgbs.") and k.endswith(".conv.weight")])
    out = sd["input.input"].repeat(z.shape[0], 1, 1, 1)
    out = styled_conv(out, x, sd, "conv1", sd["noises.noise_0"])
    skip = to_rgb(out, x, sd, "to_rgb1")
    for k in range(num_up):
        out = styled_conv(out, x, sd, f"convs.{2 * k}", sd[f"noises.noise_{2 * k + 1}"], upsample=True)
        out = styled_conv(out, x, sd, f"convs.{2 * k + 1}", sd[f"noises.noise_{2 * k + 2}"])
        skip = to_rgb(out, x, sd, f"to_rgbs.{k}", skip)
    return skip


def conv_layer(x, sd, prefix, k, downsample=False, activate=True):
    """rosinality's ConvLayer: [Blur], EqualConv2d, [FusedLeakyReLU] as Sequential indices."""
    idx = 0
    if downsample:
        p = (4 - 2) + (k - 1)
        x = upfirdn(x, make_kernel(), pad=((p + 1) // 2, p // 2))
        idx += 1
    w = sd[f"{prefix}.{idx}.weight"]
    x = F.conv2d(x, w / math.sqrt(w.shape[1] * k * k), stride=2 if downsample else 1,
                 padding=0 if downsample else k // 2)
    return lrelu(x, sd[f"{prefix}.{idx + 1}.bias"]) if activate else x


def rosinality_discriminate(sd, img):
    out = conv_layer(img, sd, "convs.0", 1)
    j = 1
    while f"convs.{j}.conv1.0.weight" in sd:
        y = conv_layer(conv_layer(out, sd, f"convs.{j}.conv1", 3), sd, f"convs.{j}.conv2", 3, downsample=True)
        out = (y + conv_layer(out, sd, f"convs.{j}.skip", 1, downsample=True, activate=False)) / SQRT2
        j += 1
    n, c, h, w = out.shape
    group = min(n, 4)
    std = out.view(group, -1, 1, c, h, w)
    std = torch.sqrt(std.var(0, unbiased=False) + 1e-8).mean([2, 3, 4], keepdim=True).squeeze(2)
    out = torch.cat([out, std.repeat(group, 1, h, w)], 1)
    out = conv_layer(out, sd, "final_conv", 3).view(n, -1)
    out = equal_linear(out, sd, "final_linear.0", act=True)
    return equal_linear(out, sd, "final_linear.1")


# ------------------------------------------------------------------ rosinality-layout files built by hand


def random_rosinality_g(seed, size=32, style_dim=32, n_mlp=2, channels=CHANNELS):
    g = torch.Generator().manual_seed(seed)

    def r(*shape, scale=1.0, offset=0.0):
        return torch.randn(shape, generator=g) * scale + offset

    sd = {}
    for i in range(1, n_mlp + 1):
        sd[f"style.{i}.weight"], sd[f"style.{i}.bias"] = r(style_dim, style_dim, scale=100.0), r(style_dim, scale=30.0)

    def modconv(prefix, cin, cout, k, styled=True):
        sd[f"{prefix}.conv.weight"] = r(1, cout, cin, k, k)
        sd[f"{prefix}.conv.modulation.weight"] = r(cin, style_dim)
        sd[f"{prefix}.conv.modulation.bias"] = r(cin, scale=0.2, offset=1.0)
        if styled:
            sd[f"{prefix}.noise.weight"] = r(1, scale=0.3)
            sd[f"{prefix}.activate.bias"] = r(cout, scale=0.3)
        else:
            sd[f"{prefix}.bias"] = r(1, 3, 1, 1, scale=0.3)

    sd["input.input"] = r(1, channels[4], 4, 4)
    modconv("conv1", channels[4], channels[4], 3)
    modconv("to_rgb1", channels[4], 3, 1, styled=False)
    log_size = int(math.log2(size))
    for k, i in enumerate(range(3, log_size + 1)):
        cin, cout = channels[2 ** (i - 1)], channels[2 ** i]
        modconv(f"convs.{2 * k}", cin, cout, 3)
        sd[f"convs.{2 * k}.conv.blur.kernel"] = make_kernel() * 4
        modconv(f"convs.{2 * k + 1}", cout, cout, 3)
        modconv(f"to_rgbs.{k}", cout, 3, 1, styled=False)
        sd[f"to_rgbs.{k}.upsample.kernel"] = make_kernel() * 4
    for i in range((log_size - 2) * 2 + 1):
        res = 2 ** ((i + 5) // 2)
        sd[f"noises.noise_{i}"] = r(1, 1, res, res)
    return sd


def random_rosinality_d(seed, size=32, channels=CHANNELS):
    g = torch.Generator().manual_seed(seed)
    sd = {"convs.0.0.weight": torch.randn([channels[size], 3, 1, 1], generator=g),
          "convs.0.1.bias": torch.randn([channels[size]], generator=g) * 0.3}
    log_size = int(math.log2(size))
    for j, i in enumerate(range(log_size, 2, -1), start=1):
        cin, cout = channels[2 ** i], channels[2 ** (i - 1)]
        sd[f"convs.{j}.conv1.0.weight"] = torch.randn([cin, cin, 3, 3], generator=g)
        sd[f"convs.{j}.conv1.1.bias"] = torch.randn([cin], generator=g) * 0.3
        sd[f"convs.{j}.conv2.0.kernel"] = make_kernel()
        sd[f"convs.{j}.conv2.1.weight"] = torch.randn([cout, cin, 3, 3], generator=g)
        sd[f"convs.{j}.conv2.2.bias"] = torch.randn([cout], generator=g) * 0.3
        sd[f"convs.{j}.skip.0.kernel"] = make_kernel()
        sd[f"convs.{j}.skip.1.weight"] = torch.randn([cout, cin, 1, 1], generator=g)
    c4 = channels[4]
    sd["final_conv.0.weight"] = torch.randn([c4, c4 + 1, 3, 3], generator=g)
    sd["final_conv.1.bias"] = torch.randn([c4], generator=g) * 0.3
    sd["final_linear.0.weight"] = torch.randn([c4, c4 * 16], generator=g)
    sd["final_linear.0.bias"] = torch.randn([c4], generator=g) * 0.3
    sd["final_linear.1.weight"] = torch.randn([1, c4], generator=g)
    sd["final_linear.1.bias"] = torch.randn([1], generator=g) * 0.3
    return sd


@pytest.fixture(scope="module")
def training_file(tmp_path_factory):
    """A rosinality train.py-style checkpoint (args as a real argparse.Namespace, optimizer states)."""
    path = tmp_path_factory.mktemp("ros") / "010000.pt"
    g_ema, g, d = random_rosinality_g(0), random_rosinality_g(1), random_rosinality_d(2)
    optim = {"state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.zeros(3)}},
             "param_groups": [{"lr": 0.002, "betas": (0.0, 0.99), "params": [0]}]}
    args = argparse.Namespace(size=32, latent=32, n_mlp=2, channel_multiplier=2, path="/data/lmdb", r1=10.0,
                              iter=800000, ckpt=None, distributed=False)
    torch.save({"g": g, "d": d, "g_ema": g_ema, "g_optim": optim, "d_optim": optim, "args": args,
                "ada_aug_p": 0.25}, path)
    return path, g_ema, g, d


# ------------------------------------------------------------------ tests


def test_generator_matches_independent_rosinality_forward(training_file):
    path, g_ema, g, _ = training_file
    ckpt = load_checkpoint(path)
    assert detect_format(path) == "rosinality" and ckpt.format == "rosinality"
    z = torch.randn([3, 32], generator=torch.Generator().manual_seed(5))
    expected = rosinality_generate(g_ema, z, n_mlp=2)
    with torch.no_grad():
        ours = ckpt.generator()(z, noise_mode="const")
        ours_train = ckpt.generator(which="g")(z, noise_mode="const")
    assert expected.abs().mean() > 0.1  # a non-degenerate image
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=0)
    torch.testing.assert_close(ours_train, rosinality_generate(g, z, n_mlp=2), atol=1e-4, rtol=0)


def test_truncation_uses_latent_avg(tmp_path):
    sd = random_rosinality_g(3)
    latent_avg = torch.randn(32)
    path = tmp_path / "converted.pt"
    torch.save({"g_ema": sd, "latent_avg": latent_avg}, path)
    ckpt = load_checkpoint(path)
    torch.testing.assert_close(ckpt.g_ema["mapping.w_avg"], latent_avg, atol=0, rtol=0)
    z = torch.randn([2, 32], generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = ckpt.generator()(z, truncation_psi=0.5, noise_mode="const")
    expected = rosinality_generate(sd, z, n_mlp=2, truncation=0.5, latent_avg=latent_avg)
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=0)


def test_oracle_is_sensitive_to_a_flipped_upsampling_kernel():
    # Guards the test itself: had a flip been needed, the comparison above would have failed.
    sd = random_rosinality_g(0)
    z = torch.randn([1, 32], generator=torch.Generator().manual_seed(5))
    flipped = dict(sd, **{"convs.0.conv.weight": sd["convs.0.conv.weight"].flip([3, 4])})
    assert (rosinality_generate(sd, z, 2) - rosinality_generate(flipped, z, 2)).abs().max() > 1e-2


def test_discriminator_matches_independent_forward(training_file):
    path, _, _, d = training_file
    ckpt = load_checkpoint(path)
    assert ckpt.d_config is not None and ckpt.d_config.architecture == "resnet"
    img = torch.randn([4, 3, 32, 32], generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ours = ckpt.discriminator()(img)
    torch.testing.assert_close(ours, rosinality_discriminate(d, img), atol=1e-4, rtol=1e-5)


def test_meta_reports_what_was_dropped(training_file):
    ckpt = load_checkpoint(training_file[0])
    dropped = " ".join(ckpt.meta["dropped"])
    assert "g_optim" in dropped and "d_optim" in dropped
    assert ckpt.meta["ada_aug_p"] == 0.25 and ckpt.meta["args"]["r1"] == 10.0
    assert "w_avg" in ckpt.meta  # no latent_avg in a training checkpoint: estimated, and said so


def test_architecture_inferred_without_args(tmp_path):
    path = tmp_path / "g_ema_only.pt"
    torch.save({"g_ema": random_rosinality_g(0, size=16)}, path)
    cfg = load_checkpoint(path).g_config
    assert (cfg.img_resolution, cfg.z_dim, cfg.w_dim, cfg.mapping.num_layers) == (16, 32, 32, 2)
    assert [cfg.channels(r) for r in cfg.block_resolutions] == [32, 32, 16]
    assert cfg.mapping.lr_multiplier == 0.01 and cfg.synthesis.resample_filter == (1, 3, 3, 1)


def test_missing_noise_buffers_are_filled_deterministically(tmp_path):
    sd = {k: v for k, v in random_rosinality_g(5, size=16).items() if not k.startswith("noises.")}
    path = tmp_path / "old.pt"
    torch.save({"g_ema": sd, "latent_avg": torch.zeros(32)}, path)
    first, second = load_checkpoint(path), load_checkpoint(path)
    assert "noise_const" in first.meta
    assert torch.equal(first.g_ema["synthesis.b16.conv1.noise_const"], second.g_ema["synthesis.b16.conv1.noise_const"])
    first.generator()(torch.zeros([1, 32]))


def test_psp_style_checkpoint_reads_its_decoder(tmp_path):
    sd = random_rosinality_g(6, size=16)
    latent_avg = torch.randn(32)
    inner = {"encoder.conv.weight": torch.zeros(2, 3), **{f"decoder.{k}": v for k, v in sd.items()}}
    path = tmp_path / "psp.pt"
    torch.save({"state_dict": inner, "latent_avg": latent_avg.repeat(6, 1), "opts": {"lr": 0.1}}, path)
    ckpt = load_checkpoint(path)
    assert torch.equal(ckpt.g_ema["mapping.w_avg"], latent_avg)
    assert any("encoder" in item for item in ckpt.meta["dropped"])


def test_generator_without_noise_round_trips(tmp_path):
    cfg = tiny_g_config(res=16)
    cfg = dataclasses.replace(cfg, synthesis=dataclasses.replace(cfg.synthesis, use_noise=False))
    ckpt = random_checkpoint(cfg)
    back = load_checkpoint(save_checkpoint(ckpt, tmp_path / "n.pt", "rosinality"))
    assert back.g_config == cfg and all(torch.equal(ckpt.g_ema[k], back.g_ema[k]) for k in ckpt.g_ema)


def test_bare_state_dict_and_legacy_torch_format(tmp_path):
    sd = random_rosinality_g(4)
    path = tmp_path / "legacy.pt"
    torch.save(sd, path, _use_new_zipfile_serialization=False)
    assert detect_format(path) == "rosinality"
    ckpt = load_checkpoint(path)
    z = torch.randn([1, 32], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ckpt.generator()(z), rosinality_generate(sd, z, 2), atol=1e-4, rtol=0)


def test_round_trip_ours_rosinality_ours_is_bit_exact(tmp_path):
    ckpt = random_checkpoint(tiny_g_config(), tiny_d_config())
    path = save_checkpoint(ckpt, tmp_path / "out.pt", "rosinality")
    back = load_checkpoint(path)
    assert back.g_config == ckpt.g_config and back.d_config == ckpt.d_config
    for part in ("g_ema", "g", "d"):
        a, b = getattr(ckpt, part), getattr(back, part)
        assert set(a) == set(b)
        for key in a:
            assert torch.equal(a[key], b[key]), f"{part}.{key}"


def test_written_file_is_plain_data_and_renders_like_ours_in_the_oracle(tmp_path):
    ckpt = random_checkpoint(tiny_g_config(), tiny_d_config())
    path = save_checkpoint(ckpt, tmp_path / "out.pt", "rosinality")
    raw = torch.load(path, weights_only=True)  # no safe_globals needed: dicts and tensors only
    assert isinstance(raw["args"], dict) and raw["args"]["size"] == 32 and raw["args"]["n_mlp"] == 2
    z = torch.randn([2, 32], generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        ours = ckpt.generator()(z, noise_mode="const")
        img = torch.randn([4, 3, 32, 32], generator=torch.Generator().manual_seed(3))
        d_ours = ckpt.discriminator()(img)
    torch.testing.assert_close(rosinality_generate(raw["g_ema"], z, 2), ours, atol=1e-4, rtol=0)
    torch.testing.assert_close(rosinality_discriminate(raw["d"], img), d_ours, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(raw["latent_avg"], ckpt.g_ema["mapping.w_avg"], atol=0, rtol=0)


def test_writer_refuses_what_rosinality_cannot_express(tmp_path):
    ckpt = random_checkpoint(tiny_g_config(c_dim=4))
    with pytest.raises(InvalidArgumentError, match="c_dim=4"):
        save_checkpoint(ckpt, tmp_path / "x.pt", "rosinality")
    assert not (tmp_path / "x.pt").exists()
    skip_d = random_checkpoint(tiny_g_config(), tiny_d_config(architecture="skip"))
    path = save_checkpoint(skip_d, tmp_path / "y.pt", "rosinality")
    raw = torch.load(path, weights_only=True)
    assert "d" not in raw and "discriminator" in raw["args"]["styleblend_dropped"][0]


class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg,)


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("func,name", [(os.system, "system"), (eval, "builtins.eval")])
def test_hostile_file_is_refused_without_side_effect(tmp_path, func, name, legacy):
    marker = tmp_path / "pwned"
    arg = f"touch {marker}" if func is os.system else f"open({str(marker)!r}, 'w').close()"
    path = tmp_path / "evil.pt"
    payload = {"g_ema": random_rosinality_g(0, size=8), "args": argparse.Namespace(size=8, hook=_Evil(func, arg))}
    torch.save(payload, path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(UnsafeCheckpointError, match=name):
        load_checkpoint(path)
    assert not marker.exists()


def test_corrupt_and_truncated_files(tmp_path):
    path = tmp_path / "ok.pt"
    torch.save({"g_ema": random_rosinality_g(0, size=8)}, path)
    data = path.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    with pytest.raises(CheckpointError):
        load_checkpoint(garbage)
    other = tmp_path / "other.pt"
    torch.save({"model": {"w": torch.zeros(1)}}, other)
    with pytest.raises(CheckpointError, match="not a rosinality"):
        load_checkpoint(other)


def test_channel_tables():
    for cm, base in ((1, 16384), (2, 32768)):
        table = {r: rosinality_channels(r, cm) for r in (4, 8, 16, 32, 64, 128, 256, 512, 1024)}
        assert fit_channels(table, "t", prefer_base=16384 * cm) == (base, 512)
        assert fit_channels(table, "t") == (base, 512)
    table = {r: rosinality_channels(r, 4) for r in (4, 8, 16, 32, 64, 128)}
    with pytest.raises(UnsupportedArchitectureError, match="channel_base"):
        fit_channels(table, "t")
    assert channel_multiplier(tiny_g_config()) is None


def test_nvidia_snapshot_converted_to_rosinality_renders_nvidia_images(nvidia_g64, tmp_path):
    # NVIDIA pickle -> rosinality file -> the independent rosinality forward == NVIDIA's own generate.py output.
    import numpy as np

    ckpt = load_checkpoint(nvidia_g64 / "network-snapshot.pkl")
    raw = torch.load(save_checkpoint(ckpt, tmp_path / "g64.pt", "rosinality"), weights_only=True)
    assert raw["args"]["n_mlp"] == 4 and raw["args"]["latent"] == 128
    z = torch.from_numpy(np.load(nvidia_g64 / "z_seeds0-5.npy")[:2]).float()
    img = rosinality_generate(raw["g_ema"], z, n_mlp=4)
    for seed in range(2):
        expected = torch.from_numpy(np.load(nvidia_g64 / "raw" / f"seed{seed:04d}_psi1.0.npy")).reshape(img[seed].shape)
        torch.testing.assert_close(img[seed], expected, atol=1e-4, rtol=0)
