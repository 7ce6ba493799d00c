"""StyleGAN3's float16 layers emulated in float32 (``fp16_path='emulated'``, and 'auto' off CUDA) against the
true float16 path (``fp16_path='float16'``, NVIDIA's CUDA computation forced on the CPU).

NVIDIA's ``gen_images.py`` renders on CUDA, where a layer marked float16 computes a float16 convolution (input
and demodulated weights cast to float16, float32 sums rounded once), then its fused filtered_lrelu kernel in
float32 between float16 data (with a float16 bias) and a float16 output. The emulation rounds at those points
and nowhere else; summing each convolution in the CPU kernel's order, it is the float16 path bit for bit.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest
import torch

from styleblend.errors import InvalidArgumentError
from styleblend.io import Checkpoint
from styleblend.latents.mapping import seeds_to_ws
from styleblend.media.images import to_uint8
from styleblend.nn import stylegan3
from styleblend.nn.build import build_generator
from styleblend.ops import half

from ..conftest import tiny_sg3_checkpoint, tiny_sg3_config


def _render(ckpt, ws, fp16_path: str, mixed: bool = True, fused: bool = True) -> torch.Tensor:
    return ckpt.generator(mixed_precision=mixed, fp16_path=fp16_path).synthesis(ws, fused_modconv=fused)


@pytest.mark.slow
def test_emulation_in_the_kernels_order_is_float16_on_nvidias_snapshot(nvidia_sg3t32, monkeypatch):
    """The same on NVIDIA's 32 px snapshot: 15 float16 layers of up to 48 channels, stored filters."""
    from styleblend.io import load_checkpoint

    monkeypatch.setattr(stylegan3, "conv2d_fp16", functools.partial(half.conv2d_fp16, tie_band=half.EXACT_TIE_BAND))
    ckpt = load_checkpoint(nvidia_sg3t32 / "network-snapshot.pkl")
    ws = seeds_to_ws(ckpt.generator(), [0, 1])
    assert torch.equal(_render(ckpt, ws, "emulated"), _render(ckpt, ws, "float16"))


@pytest.mark.parametrize("kind", ["T", "R"])
def test_emulation_rounds_exactly_where_the_float16_path_rounds(kind, monkeypatch):
    """Every rounding point, checked at once: with the convolution sums in the CPU float16 kernel's order (the
    emulation's only freedom), the emulated image is the float16 one bit for bit; a missing or extra rounding
    anywhere in 5 layers of float16 values would show."""
    monkeypatch.setattr(stylegan3, "conv2d_fp16", functools.partial(half.conv2d_fp16, tie_band=half.EXACT_TIE_BAND))
    ckpt = tiny_sg3_checkpoint(kind=kind)
    assert all(s.use_fp16 for s in ckpt.g_config.layers)  # 16 px with num_fp16_res=4: every layer
    ws = seeds_to_ws(ckpt.generator(), [0, 1, 2], 0.8)
    native = _render(ckpt, ws, "float16")
    emulated = _render(ckpt, ws, "emulated")
    assert emulated.dtype == torch.float32 and torch.equal(emulated, native)
    assert not torch.equal(_render(ckpt, ws, "float16", mixed=False), native)  # float16 matters


@pytest.mark.parametrize("kind,fused", [("T", True), ("R", True), ("T", False)])
def test_emulation_at_float32_speed_is_far_closer_to_float16_than_float32_is(kind, fused):
    """The default emulation (fast float32 sums, rounded once) differs from the float16 path only where the
    order of the float32 sums decides a rounding. The unfused modulated convolution (ONNX export's) too: its
    ungrouped float16 CPU convolution sums in another order than the lanes ops/half.py follows, so it is
    checked here and not bit for bit."""
    ckpt = tiny_sg3_checkpoint(kind=kind)
    ws = seeds_to_ws(ckpt.generator(), list(range(8)), 0.8)
    native = _render(ckpt, ws, "float16", fused=fused)
    emulated = _render(ckpt, ws, "emulated", fused=fused)
    float32 = _render(ckpt, ws, "auto", mixed=False, fused=fused)
    err_emulated, err_float32 = (emulated - native).abs().mean(), (float32 - native).abs().mean()
    assert err_emulated < err_float32 / 10, (float(err_emulated), float(err_float32))
    assert (emulated == native).float().mean() > 0.9  # float32 matches none of them
    levels = np.abs(to_uint8(emulated).astype(int) - to_uint8(native).astype(int))
    assert levels.max() <= 1 and (levels > 0).mean() <= 0.02


def test_float32_layers_are_unchanged_bit_for_bit():
    """At 32 px with num_fp16_res=1 only the last layers are float16: the others compute as without mixed
    precision (bit for bit), and a model without float16 layers renders the same in every mode."""
    torch.manual_seed(0)
    cfg = tiny_sg3_config("T", res=32)
    cfg = dataclasses.replace(cfg, synthesis=dataclasses.replace(cfg.synthesis, num_fp16_res=1))
    flags = [s.use_fp16 for s in cfg.layers]
    assert any(flags) and not all(flags)
    ckpt = Checkpoint(g_config=cfg, g_ema=build_generator(cfg).state_dict())
    G = ckpt.generator(mixed_precision=True, fp16_path="emulated")
    ws = seeds_to_ws(G, [3, 4])
    x = G.synthesis.input(ws[:, 0])
    for i, name in enumerate(G.synthesis.layer_names):
        layer = getattr(G.synthesis, name)
        plain = layer(x, ws[:, i + 1])
        emulated = layer(x, ws[:, i + 1], mixed_precision=True, emulate_fp16=True)
        assert torch.equal(emulated, plain) != layer.use_fp16, name
        x = emulated
    fp32 = dataclasses.replace(ckpt, g_config=dataclasses.replace(cfg, synthesis=dataclasses.replace(
        cfg.synthesis, num_fp16_res=0)))
    expected = fp32.generator().synthesis(ws)
    for path in ("auto", "emulated", "float16"):
        assert torch.equal(fp32.generator(mixed_precision=True, fp16_path=path).synthesis(ws), expected), path


def test_auto_is_float16_on_cuda_and_float32_elsewhere_as_nvidias_code():
    cpu, cuda, mps = torch.device("cpu"), torch.device("cuda", 1), torch.device("mps")
    assert [stylegan3.uses_fp16("auto", d) for d in (cpu, cuda, mps)] == [False, True, False]
    assert all(stylegan3.uses_fp16(p, d) for p in ("emulated", "float16") for d in (cpu, cuda, mps))
    assert all(stylegan3.emulates_fp16("emulated", d) for d in (cpu, cuda, mps))
    assert not any(stylegan3.emulates_fp16(p, d) for p in ("auto", "float16") for d in (cpu, cuda, mps))
    with pytest.raises(InvalidArgumentError, match="fp16_path 'half' is unknown"):
        stylegan3.emulates_fp16("half", cpu)
    with pytest.raises(InvalidArgumentError, match="fp16_path 'half' is unknown"):
        stylegan3.uses_fp16("half", cpu)
    ckpt = tiny_sg3_checkpoint(kind="R", c_dim=3)
    ws = seeds_to_ws(ckpt.generator(), [5], class_idx=0)
    # On the CPU, mixed precision's default is NVIDIA's own CPU render (float32: how NVIDIA's images of the shared
    # fixture were made); what gen_images.py writes on CUDA is fp16_path='emulated' (--precision nvidia-cuda).
    assert torch.equal(_render(ckpt, ws, "auto"), _render(ckpt, ws, "auto", mixed=False))
    assert not torch.equal(_render(ckpt, ws, "auto"), _render(ckpt, ws, "emulated"))
