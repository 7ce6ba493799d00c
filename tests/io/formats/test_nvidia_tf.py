"""NVIDIA TensorFlow StyleGAN2(-ADA) pickles, built by hand in TF's structure and layouts.

``to_tf_*`` below is an inverse mapping written from the TensorFlow code's conventions (dense [in, out],
conv [k, k, in, out], mod_bias stored without the +1, up-sampling kernels stored as TF applies them,
i.e. flipped relative to a PyTorch conv_transpose2d), independently of styleblend's key map. The
oracle test then evaluates TF's up-sampling modulated convolution on those TF variables and compares
it with our converted layer, which pins down the flip and the +1 independently of both mappings.
"""

from __future__ import annotations

import math
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from styleblend.errors import CheckpointError, UnsafeCheckpointError, UnsupportedArchitectureError
from styleblend.io import load_checkpoint
from styleblend.io.detect import detect_format

from ..conftest import Reduce, dumps
from .conftest import random_discriminator, random_generator, tiny_d_config, tiny_g_config


class Network:
    """Pickles like dnnlib.tflib.network.Network: NEWOBJ of that class, then BUILD with a state dict."""

    __module__ = "dnnlib.tflib.network"  # the name pickle writes; the tf_module fixture makes it resolvable

    def __init__(self, state):
        self._state = state

    def __getstate__(self):
        return self._state


@pytest.fixture
def tf_module(monkeypatch):
    """Make ``Network`` picklable under the name dnnlib.tflib.network.Network (restored after the test)."""
    for name in ("dnnlib", "dnnlib.tflib", "dnnlib.tflib.network"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setattr(sys.modules["dnnlib.tflib.network"], "Network", Network, raising=False)
    return Network


def net(name, func, kwargs, variables, components=None, source="import os\nos.system('touch /tmp/x')\n"):
    return Network({"version": 4, "name": name, "static_kwargs": dict(kwargs), "components": components or {},
                    "build_module_src": source, "build_func_name": func, "variables": list(variables.items())})


def _np(t):
    return t.detach().numpy().astype(np.float32)


def to_tf_generator(G):
    """Our generator -> TF variables (top, mapping, synthesis), following TF's storage conventions."""
    sd = {k: _np(v) for k, v in G.state_dict().items()}
    cfg = G.cfg
    mapping = {}
    for i in range(cfg.mapping.num_layers):
        mapping[f"Dense{i}/weight"] = sd[f"mapping.fc{i}.weight"].T.copy()
        mapping[f"Dense{i}/bias"] = sd[f"mapping.fc{i}.bias"]
    if cfg.c_dim:
        mapping["LabelEmbed/weight"] = sd["mapping.embed.weight"].T.copy()
        mapping["LabelEmbed/bias"] = sd["mapping.embed.bias"]
    synthesis = {"4x4/Const/const": sd["synthesis.b4.const"][None]}
    for res in cfg.block_resolutions:
        layers = [("Conv", "conv1", 0)] if res == 4 else [("Conv0_up", "conv0", 2 * int(math.log2(res)) - 5),
                                                          ("Conv1", "conv1", 2 * int(math.log2(res)) - 4)]
        for tf_name, ours, noise_index in layers:
            p, q = f"{res}x{res}/{tf_name}", f"synthesis.b{res}.{ours}"
            w = sd[f"{q}.weight"].transpose(2, 3, 1, 0)  # [O, I, k, k] -> [k, k, I, O]
            synthesis[f"{p}/weight"] = (w[::-1, ::-1] if tf_name == "Conv0_up" else w).copy()
            synthesis[f"{p}/mod_weight"] = sd[f"{q}.affine.weight"].T.copy()
            synthesis[f"{p}/mod_bias"] = sd[f"{q}.affine.bias"] - 1  # TF adds the 1 at run time
            synthesis[f"{p}/noise_strength"] = np.float32(sd[f"{q}.noise_strength"])  # a numpy scalar, as TF returns
            synthesis[f"{p}/bias"] = sd[f"{q}.bias"]
            synthesis[f"noise{noise_index}"] = sd[f"{q}.noise_const"][None, None]
        if f"synthesis.b{res}.torgb.weight" in sd:
            p, q = f"{res}x{res}/ToRGB", f"synthesis.b{res}.torgb"
            synthesis[f"{p}/weight"] = sd[f"{q}.weight"].transpose(2, 3, 1, 0).copy()
            synthesis[f"{p}/mod_weight"] = sd[f"{q}.affine.weight"].T.copy()
            synthesis[f"{p}/mod_bias"] = sd[f"{q}.affine.bias"] - 1
            synthesis[f"{p}/bias"] = sd[f"{q}.bias"]
        if f"synthesis.b{res}.skip.weight" in sd:
            skip = sd[f"synthesis.b{res}.skip.weight"].transpose(2, 3, 1, 0)
            synthesis[f"{res}x{res}/Skip/weight"] = skip[::-1, ::-1].copy()  # up-sampling conv: flipped, as Conv0_up
    top = {"lod": np.float32(0), "dlatent_avg": sd["mapping.w_avg"]}
    return top, mapping, synthesis


def to_tf_discriminator(D):
    sd = {k: _np(v) for k, v in D.state_dict().items()}
    out = {}
    for key, value in sd.items():
        if key.endswith("resample_filter"):
            continue
        block, layer, param = key.split(".")
        res = int(block[1:])
        if block == "b4" and layer in ("fc", "out"):
            name = "4x4/Dense0" if layer == "fc" else "Output"
            out[f"{name}/{param}"] = value.T.copy() if param == "weight" else value
            continue
        tf_layer = {"fromrgb": "FromRGB", "conv0": "Conv0", "conv1": "Conv1_down", "skip": "Skip",
                    "conv": "Conv"}[layer]
        out[f"{res}x{res}/{tf_layer}/{param}"] = value.transpose(2, 3, 1, 0).copy() if param == "weight" else value
    return out


def g_kwargs(cfg, **extra):
    kw = {"num_channels": cfg.img_channels, "resolution": cfg.img_resolution, "label_size": cfg.c_dim,
          "latent_size": cfg.z_dim, "dlatent_size": cfg.w_dim, "mapping_layers": cfg.mapping.num_layers,
          "fmap_base": cfg.synthesis.channel_base // 2, "fmap_max": cfg.synthesis.channel_max,
          "architecture": cfg.synthesis.architecture, "truncation_psi": 0.5}
    kw.update(extra)
    return kw


def tf_generator(G, name="Gs", synthesis_func="G_synthesis_stylegan2", **extra):
    top, mapping, synthesis = to_tf_generator(G)
    kw = g_kwargs(G.cfg, **extra)
    comps = {"mapping": net("G_mapping", "G_mapping", dict(kw, dlatent_broadcast=G.cfg.num_ws), mapping),
             "synthesis": net("G_synthesis", synthesis_func, kw, synthesis)}
    return net(name, "G_main", kw, top, comps)


def tf_discriminator(D, func="D_stylegan2", **extra):
    cfg = D.cfg
    kw = {"num_channels": 3, "resolution": cfg.img_resolution, "label_size": 0, "fmap_base": cfg.channel_base // 2,
          "fmap_max": cfg.channel_max, "architecture": cfg.architecture, "mbstd_group_size": cfg.mbstd_group_size}
    kw.update(extra)
    return net("D", func, kw, to_tf_discriminator(D))


@pytest.fixture
def models():
    cfg = tiny_g_config()
    return random_generator(cfg, 0), random_generator(cfg, 1), random_discriminator(tiny_d_config(), 2)


def write(tmp_path, obj, name="network.pkl"):
    path = tmp_path / name
    path.write_bytes(dumps(obj, protocol=3))
    return path


def test_images_and_scores_equal_ours(tmp_path, tf_module, models):
    gs, g, d = models
    path = write(tmp_path, (tf_generator(g, "G"), tf_discriminator(d), tf_generator(gs)))
    assert detect_format(path) == "nvidia-tf"
    ckpt = load_checkpoint(path)
    assert ckpt.format == "nvidia-tf" and ckpt.g_config == gs.cfg and ckpt.d_config == d.cfg
    z = torch.randn([3, 32], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ckpt.generator()(z), gs(z), atol=1e-5, rtol=0)
        torch.testing.assert_close(ckpt.generator(which="g")(z), g(z), atol=1e-5, rtol=0)
        torch.testing.assert_close(ckpt.generator()(z, truncation_psi=0.6), gs(z, truncation_psi=0.6),
                                   atol=1e-5, rtol=0)
        img = torch.randn([4, 3, 32, 32], generator=torch.Generator().manual_seed(1))
        torch.testing.assert_close(ckpt.discriminator()(img), d(img), atol=1e-5, rtol=1e-5)
    assert not (tmp_path / "x").exists()
    assert any("source" in item for item in ckpt.meta["dropped"])


@pytest.mark.parametrize("architecture", ["resnet", "orig"])
def test_other_synthesis_architectures_and_ada_names(tmp_path, tf_module, architecture):
    gs = random_generator(tiny_g_config(architecture=architecture), 3)
    path = write(tmp_path, tf_generator(gs, synthesis_func="G_synthesis", conv_clamp=256, num_fp16_res=2))
    ckpt = load_checkpoint(path)
    assert ckpt.g_config.synthesis.architecture == architecture and ckpt.g_config.synthesis.conv_clamp == 256
    z = torch.randn([2, 32], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = random_generator(ckpt.g_config, 3)(z)  # same seed -> same weights, same conv_clamp
        torch.testing.assert_close(ckpt.generator()(z), expected, atol=1e-5, rtol=0)


def test_conditional_stylegan2_ada_generator(tmp_path, tf_module):
    gs = random_generator(tiny_g_config(c_dim=5), 4)
    path = write(tmp_path, tf_generator(gs, synthesis_func="G_synthesis"))
    ckpt = load_checkpoint(path)
    z, c = torch.randn([2, 32]), torch.eye(5)[:2]
    with torch.no_grad():
        torch.testing.assert_close(ckpt.generator()(z, c), gs(z, c), atol=1e-5, rtol=0)


def tf_modulated_upconv(x, w, tf_vars, prefix, noise):
    """TF's layer(): modulated_conv2d_layer(up=True) + noise + bias + lrelu, on TF-layout variables.

    upsample_conv_2d flips the [k, k, I, O] kernel, runs conv2d_transpose(stride 2, VALID), then FIRs with
    the [1,3,3,1] filter times 4 padded ((p+1)//2 + 1, p//2 + 1) with p = (4 - 2) - (k - 1).
    """
    weight = torch.from_numpy(tf_vars[f"{prefix}/weight"].copy())  # [k, k, I, O]
    k, _, in_c, _ = weight.shape
    mod_w = torch.from_numpy(tf_vars[f"{prefix}/mod_weight"].copy())
    s = w @ (mod_w / math.sqrt(mod_w.shape[0])) + torch.from_numpy(tf_vars[f"{prefix}/mod_bias"].copy()) + 1
    ww = weight[None] / math.sqrt(k * k * in_c) * s[:, None, None, :, None]  # [N, k, k, I, O]
    ww = ww * torch.rsqrt(ww.square().sum(dim=[1, 2, 3]) + 1e-8)[:, None, None, None, :]
    taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
    fir = torch.outer(taps, taps) / 64 * 4
    outs = []
    for n in range(x.shape[0]):
        filt = ww[n].flip([0, 1]).permute(2, 3, 0, 1)  # TF's flip, then conv2d_transpose's [I, O, k, k] in torch
        y = F.conv_transpose2d(x[n:n + 1], filt, stride=2)
        p = (4 - 2) - (k - 1)
        y = F.pad(y, [(p + 1) // 2 + 1, p // 2 + 1] * 2)
        outs.append(F.conv2d(y, fir[None, None].repeat(y.shape[1], 1, 1, 1), groups=y.shape[1]))
    y = torch.cat(outs) + float(tf_vars[f"{prefix}/noise_strength"]) * torch.from_numpy(noise.copy())
    return F.leaky_relu(y + torch.from_numpy(tf_vars[f"{prefix}/bias"].copy()).reshape(1, -1, 1, 1), 0.2) * math.sqrt(2)


def test_upsampling_layer_matches_tensorflow_semantics(tmp_path, tf_module, models):
    gs = models[0]
    _, _, synthesis = to_tf_generator(gs)
    ckpt = load_checkpoint(write(tmp_path, tf_generator(gs)))
    G = ckpt.generator()
    x = torch.randn([2, 32, 8, 8], generator=torch.Generator().manual_seed(7))
    w = torch.randn([2, 32], generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        ours = G.synthesis.b16.conv0(x, w, noise_mode="const")
    expected = tf_modulated_upconv(x, w, synthesis, "16x16/Conv0_up", synthesis["noise3"])
    torch.testing.assert_close(ours, expected, atol=1e-4, rtol=0)


@pytest.mark.parametrize("kwarg,value", [("randomize_noise", False), ("fused_modconv", True), ("dtype", "float16"),
                                         ("num_fp16_res", 4), ("resolution_w", 32), ("style_mixing_prob", 0.9)])
def test_harmless_kwargs_are_accepted(tmp_path, tf_module, models, kwarg, value):
    ckpt = load_checkpoint(write(tmp_path, tf_generator(models[0], **{kwarg: value})))
    assert ckpt.g_config.img_resolution == 32


@pytest.mark.parametrize("kwarg,value", [("resolution_w", 64), ("normalize_latents", False), ("fmap_decay", 0.5),
                                         ("my_fork_option", 1), ("mapping_nonlinearity", "mish")])
def test_kwargs_that_change_the_math_are_refused_by_name(tmp_path, tf_module, models, kwarg, value):
    with pytest.raises(UnsupportedArchitectureError, match=kwarg):
        load_checkpoint(write(tmp_path, tf_generator(models[0], **{kwarg: value})))


def test_unconvertible_discriminator_is_dropped_not_fatal(tmp_path, tf_module, models):
    gs, g, d = models
    path = write(tmp_path, (tf_generator(g, "G"), tf_discriminator(d, use_spectral_norm=True), tf_generator(gs)))
    ckpt = load_checkpoint(path)
    assert ckpt.d is None and any("use_spectral_norm" in item for item in ckpt.meta["dropped"])


@pytest.mark.parametrize("global_name", [("os", "system"), ("builtins", "eval"), ("numpy", "load"),
                                         ("dnnlib.tflib.network", "Runner")])
def test_hostile_or_unknown_globals_are_refused(tmp_path, tf_module, models, global_name):
    marker = tmp_path / "pwned"
    gs = tf_generator(models[0], truncation_psi=Reduce(*global_name, f"touch {marker}"))
    with pytest.raises(UnsafeCheckpointError, match=".".join(global_name)):
        load_checkpoint(write(tmp_path, (gs, gs, gs)))
    assert not marker.exists()


def test_not_stylegan2_or_corrupt(tmp_path, tf_module, models):
    gs = tf_generator(models[0])
    gs._state["build_func_name"] = "G_style"
    with pytest.raises(UnsupportedArchitectureError, match="StyleGAN \\(version 1\\)"):
        load_checkpoint(write(tmp_path, gs))
    data = dumps(tf_generator(models[0]), protocol=3)
    (tmp_path / "cut.pkl").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(tmp_path / "cut.pkl")


def test_nvidia_snapshot_in_tf_layout_renders_nvidia_images(nvidia_g64, tmp_path, tf_module):
    G = load_checkpoint(nvidia_g64 / "network-snapshot.pkl").generator()
    ckpt = load_checkpoint(write(tmp_path, tf_generator(G)))
    z = torch.from_numpy(np.load(nvidia_g64 / "z_seeds0-5.npy")[:2]).float()
    with torch.no_grad():
        img = ckpt.generator()(z, noise_mode="const")
    for seed in range(2):
        expected = torch.from_numpy(np.load(nvidia_g64 / "raw" / f"seed{seed:04d}_psi1.0.npy")).reshape(img[seed].shape)
        torch.testing.assert_close(img[seed], expected, atol=1e-4, rtol=0)


def test_seed_noise_mode_draws_the_noise_from_each_seed_like_nvidias_tf_tools(tmp_path, tf_module, models):
    """StyleGAN2's TF run_generator.py: rnd = RandomState(seed); z = rnd.randn(1, z_dim); then every
    ``noise{i}`` variable (in index order) = rnd.randn(1, 1, r, r); render with that noise held constant.
    Simulate it by writing, per seed, a TF pickle whose noise variables hold those draws."""
    from styleblend.cli.main import main

    G = models[0]
    top, mapping, synthesis = to_tf_generator(G)
    path = write(tmp_path, tf_generator(G))
    assert main(["-q", "generate", "--network", str(path), "--seeds", "3,7", "--noise-mode", "seed",
                 "--outdir", str(tmp_path / "out")]) == 0
    for seed in (3, 7):
        rnd = np.random.RandomState(seed)
        rnd.randn(1, G.cfg.z_dim)
        noise_names = sorted((k for k in synthesis if k.startswith("noise")), key=lambda k: int(k[5:]))
        seeded = dict(synthesis, **{k: rnd.randn(*synthesis[k].shape) for k in noise_names})
        kw = g_kwargs(G.cfg)
        comps = {"mapping": net("G_mapping", "G_mapping", dict(kw, dlatent_broadcast=G.cfg.num_ws), mapping),
                 "synthesis": net("G_synthesis", "G_synthesis_stylegan2", kw, seeded)}
        seeded_path = write(tmp_path, net("Gs", "G_main", kw, top, comps), f"seed{seed}.pkl")
        outdir = tmp_path / f"const{seed}"
        assert main(["-q", "generate", "--network", str(seeded_path), "--seeds", str(seed), "--noise-mode", "const",
                     "--outdir", str(outdir)]) == 0
        ours = np.asarray(Image.open(tmp_path / "out" / f"seed{seed:04d}.png"))
        tf_way = np.asarray(Image.open(outdir / f"seed{seed:04d}.png"))
        np.testing.assert_array_equal(ours, tf_way)
    stored = tmp_path / "stored"  # the default: stored noise, as NVIDIA's PyTorch generate.py renders TF pickles
    assert main(["-q", "generate", "--network", str(path), "--seeds", "3", "--outdir", str(stored)]) == 0
    assert not np.array_equal(np.asarray(Image.open(stored / "seed0003.png")),
                              np.asarray(Image.open(tmp_path / "out" / "seed0003.png")))


def test_seed_noise_needs_seeds(tmp_path, tf_module, models):
    from styleblend.cli.main import main

    path = write(tmp_path, tf_generator(models[0]))
    w = tmp_path / "w.npy"
    np.save(w, np.zeros([1, models[0].cfg.w_dim], np.float32))
    assert main(["-q", "generate", "--network", str(path), "--w-file", str(w), "--noise-mode", "seed",
                 "--outdir", str(tmp_path / "o")]) == 1


@pytest.mark.parametrize("component,name,shape", [("mapping", "Dense0/weight", (32,)),
                                                  ("synthesis", "4x4/Conv/weight", (3, 3, 32)),
                                                  ("synthesis", "8x8/Conv1/mod_bias", (32, 1)),
                                                  ("synthesis", "noise0", (4, 4))])
def test_variables_of_the_wrong_rank_are_named(tmp_path, tf_module, models, component, name, shape):
    gs = tf_generator(models[0])
    variables = dict(gs._state["components"][component]._state["variables"])
    assert name in variables
    variables[name] = np.zeros(shape, np.float32)
    gs._state["components"][component]._state["variables"] = list(variables.items())
    with pytest.raises(CheckpointError, match=f"'{name}' has shape .* dimensions") as info:
        load_checkpoint(write(tmp_path, gs))
    assert "\n" not in str(info.value) and "network.pkl" in str(info.value)


def test_block_resolution_out_of_range_is_refused(tmp_path, tf_module, models):
    gs = tf_generator(models[0])
    synthesis = gs._state["components"]["synthesis"]._state
    synthesis["variables"].append(("8192x8192/Conv1/bias", np.zeros(8, np.float32)))
    with pytest.raises(CheckpointError, match="8192x8192 block"):
        load_checkpoint(write(tmp_path, gs))
