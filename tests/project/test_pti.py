"""Pivotal tuning as a low-rank delta: tuning lowers the loss, the delta fits its budget, follows the base into
blends by α, survives a file round trip, refuses other bases and exports to every writable format."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors import safe_open

from styleblend.blend.channels import ChannelMask
from styleblend.blend.core import blend_two
from styleblend.blend.model import blend_checkpoints, save_blend
from styleblend.blend.schedules import parse_schedule
from styleblend.errors import CheckpointError, InvalidArgumentError
from styleblend.io import Checkpoint, load_checkpoint, save_checkpoint
from styleblend.project.losses import LossTerm, WeightedLoss, pixel_mse
from styleblend.project.pti import (
    Delta,
    DeltaMismatchError,
    PTISettings,
    apply_delta,
    check_delta_base,
    choose_rank,
    delta_size,
    export_tuned,
    load_delta,
    pivotal_tuning,
    save_delta,
    weights_sha256,
    writable_formats,
)
from styleblend.project.pti_blend import base_weights, blend_base_weights, check_blend_of_base

from ..blend.conftest import finetuned
from ..conftest import tiny_checkpoint

MSE = WeightedLoss([LossTerm("mse", 1.0, pixel_mse)])  # cheaper than MS-SSIM on a busy test machine


def _random_delta(ckpt: Checkpoint, rank: int = 2, seed: int = 0) -> Delta:
    """A delta of random factors over conv/bias/torgb tensors of ``ckpt`` (no tuning needed to test algebra)."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {k: tuple(v.shape) for k, v in ckpt.g_ema.items() if k.startswith("synthesis.")
              and k.endswith(("conv0.weight", "conv1.weight", "conv1.bias", "torgb.weight"))}
    low, full = {}, {}
    for key, shape in shapes.items():
        if key.endswith("conv0.weight") or key.endswith("conv1.weight"):
            rows, cols = shape[0], math.prod(shape[1:])
            low[key] = (torch.randn([rows, rank], generator=gen) * 0.1, torch.randn([rank, cols], generator=gen))
        else:
            full[key] = torch.randn(shape, generator=gen) * 0.1
    return Delta(shapes=shapes, low_rank=low, full=full, rank=rank,
                 meta={"base_weights_sha256": weights_sha256(ckpt.g_ema), "photo_sha256": "ab" * 32,
                       "base_sha256": "cd" * 32})


def test_tuning_lowers_the_loss_within_the_budget():
    ckpt = tiny_checkpoint(seed=0)
    G = ckpt.generator()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        ws = G.mapping(torch.randn([1, G.z_dim], generator=gen), None)
        # The target is another image: no latent edit can reach it, a generator change can come closer.
        target = G.synthesis(G.mapping(torch.randn([1, G.z_dim], generator=gen), None), noise_mode="const")
    before = {k: v.clone() for k, v in G.state_dict().items()}
    # The tiny test model has 32 channels: rank 1 needs ~5 % of it (2 % holds for real widths, see below).
    result = pivotal_tuning(G, ws, target, MSE, PTISettings(steps=10, budget=0.1), meta={"photo_sha256": "x"})
    assert result.final_loss < 0.9 * result.initial_loss
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())  # G itself is untouched
    g_params = sum(p.numel() for p in G.parameters())
    delta = result.delta
    assert delta.num_params <= 0.1 * g_params and delta.rank >= 1 and delta.low_rank
    assert delta.meta["photo_sha256"] == "x" and delta.meta["base_weights_sha256"] == weights_sha256(ckpt.g_ema)
    # The delta really is what was tuned: rendering base + delta gives the final loss.
    G2 = Checkpoint(g_config=ckpt.g_config, g_ema=apply_delta(ckpt.g_ema, delta)).generator()
    with torch.no_grad():
        mse = float(((G2.synthesis(ws, noise_mode="const") - target) / 2).square().mean())
    assert mse < float(((G.synthesis(ws, noise_mode="const") - target) / 2).square().mean())


def test_the_default_delta_is_within_2_percent_of_the_bundled_generator():
    from styleblend.models import bundled_checkpoint

    G = bundled_checkpoint("base").generator()
    shapes = {f"synthesis.{k}": tuple(v.shape) for k, v in G.synthesis.named_parameters()}
    total = sum(p.numel() for p in G.parameters())
    targets = ("conv", "bias", "torgb")
    r = choose_rank(shapes, total, PTISettings())
    assert 1 <= r and delta_size(shapes, r, targets) <= 0.02 * total
    assert r == 8 or delta_size(shapes, r + 1, targets) > 0.02 * total
    with pytest.raises(InvalidArgumentError, match="budget"):
        choose_rank(shapes, total, PTISettings(rank=64))
    targets = ("conv", "bias", "torgb")


def test_the_delta_on_a_blend_equals_blending_the_tuned_base():
    base = tiny_checkpoint(seed=0)
    transfer = finetuned(base, scale=0.3)
    delta = _random_delta(base)
    cfg = base.g_config
    schedule = parse_schedule("linear:8:32")  # fractional α in the middle resolutions
    masks = [ChannelMask("b16.conv1", (0, 3, 5), 0.25)]  # and per-channel α in one layer
    tuned_base = apply_delta(base.g_ema, delta)
    expected = blend_two(tuned_base, transfer.g_ema, schedule, cfg, channels=masks)
    blended = blend_two(base.g_ema, transfer.g_ema, schedule, cfg, channels=masks)
    w0 = base_weights(cfg, blended, schedule, channels=masks)
    got = apply_delta(blended, delta, scale=w0)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=1e-5, atol=1e-6)
    assert not torch.equal(got["synthesis.b16.conv1.weight"], blended["synthesis.b16.conv1.weight"])
    # Tensors the blend takes wholly from the transfer get nothing.
    assert isinstance(w0["synthesis.b8.conv1.weight"], float) and w0["synthesis.b8.conv1.weight"] == 0.0
    assert got["synthesis.b8.conv1.weight"] is blended["synthesis.b8.conv1.weight"]


def test_blend_weights_come_from_the_recipe_beside_the_file(tmp_path):
    base = load_checkpoint(save_checkpoint(tiny_checkpoint(seed=0), tmp_path / "base.safetensors"))
    transfer = load_checkpoint(save_checkpoint(finetuned(base, scale=0.3), tmp_path / "t.safetensors"))
    delta = _random_delta(base)
    schedule = parse_schedule("sigmoid:16:1;noise=0")
    ckpt, recipe = blend_checkpoints(base, [transfer], schedule)
    out, _ = save_blend(ckpt, recipe, tmp_path / "blend.safetensors")
    blend = load_checkpoint(out)
    w0 = blend_base_weights(blend, out, base_sha256=recipe.inputs[0]["sha256"])
    tuned_blend, _ = blend_checkpoints(Checkpoint(g_config=base.g_config, g_ema=apply_delta(base.g_ema, delta)),
                                       [transfer], schedule)
    got = apply_delta(blend.g_ema, delta, scale=w0)
    for key in got:
        torch.testing.assert_close(got[key], tuned_blend.g_ema[key], rtol=1e-5, atol=1e-6)
    check_blend_of_base(blend.g_ema, base.g_ema, w0)
    with pytest.raises(DeltaMismatchError, match="made from a base with"):  # the recipe names another base
        blend_base_weights(blend, out, base_sha256="0" * 64)
    with pytest.raises(DeltaMismatchError, match="another base"):  # the tensors say another base
        check_blend_of_base(blend.g_ema, tiny_checkpoint(seed=4).g_ema, w0)
    # Without its recipe the checkpoint's own blend metadata gives the same weights.
    (tmp_path / "blend.safetensors.recipe.json").unlink()
    assert blend_base_weights(blend, out) == w0


def test_a_blend_without_any_record_needs_a_schedule():
    base = tiny_checkpoint(seed=0)
    with pytest.raises(InvalidArgumentError, match="pti_schedule"):
        blend_base_weights(base)
    w0 = blend_base_weights(base, schedule="swap:8")
    assert w0["synthesis.b8.conv0.weight"] == 0.0 and w0["synthesis.b32.conv0.weight"] == 1.0


def test_delta_file_round_trip_and_metadata(tmp_path):
    base = tiny_checkpoint(seed=0)
    delta = _random_delta(base, rank=3)
    path = save_delta(delta, tmp_path / "d.safetensors")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["rank"] == "3" and meta["photo_sha256"] == "ab" * 32 and meta["base_sha256"] == "cd" * 32
    back = load_delta(path)
    assert back.keys() == delta.keys() and back.rank == 3
    for key in delta.keys():
        assert torch.equal(back.tensor(key), delta.tensor(key))


def test_bad_delta_files_are_refused(tmp_path):
    base = tiny_checkpoint(seed=0)
    delta = _random_delta(base)
    check_delta_base(delta, base.g_ema)
    with pytest.raises(DeltaMismatchError, match="tuned on a base"):
        check_delta_base(delta, tiny_checkpoint(seed=1).g_ema)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a delta")
    with pytest.raises(CheckpointError, match="not a readable PTI delta"):
        load_delta(junk)
    # A file whose header promises a shape its tensors do not have.
    from safetensors.torch import save_file

    key = delta.keys()[0]
    save_file({f"full.{key}": torch.zeros(2)}, str(tmp_path / "bad.safetensors"),
              metadata={"styleblend_delta": '{"format_version": 1, "rank": 1, "shapes": {"' + key + '": [4, 4]}}'})
    with pytest.raises(CheckpointError, match="damaged"):
        load_delta(tmp_path / "bad.safetensors")


def test_export_to_every_format_of_the_base(tmp_path, nvidia_g64):
    for ckpt in (load_checkpoint(save_checkpoint(tiny_checkpoint(seed=0), tmp_path / "b.safetensors")),
                 load_checkpoint(nvidia_g64 / "network-snapshot.pkl")):
        delta = _random_delta(ckpt)
        expected = apply_delta(ckpt.g_ema, delta)
        formats = writable_formats(ckpt)
        assert ("nvidia-pkl" in formats) == (ckpt.format == "nvidia-pkl")
        for fmt in formats:
            out = export_tuned(ckpt, delta, tmp_path / f"tuned-{ckpt.format}-{fmt}.bin", fmt)
            back = load_checkpoint(out)
            assert back.format == fmt
            for key in delta.keys():
                torch.testing.assert_close(back.g_ema[key], expected[key])
        with pytest.raises(DeltaMismatchError):
            export_tuned(ckpt, _random_delta(tiny_checkpoint(seed=3)), tmp_path / "x.safetensors")


def test_locality_regulariser_keeps_other_latents_closer():
    ckpt = tiny_checkpoint(seed=0)
    G = ckpt.generator()
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        ws = G.mapping(torch.randn([1, G.z_dim], generator=gen), None)
        target = G.synthesis(G.mapping(torch.randn([1, G.z_dim], generator=gen), None), noise_mode="const")
        others = G.mapping(torch.randn([8, G.z_dim], generator=gen), None)
        ref = G.synthesis(others, noise_mode="const")

    def drift(weight: float) -> float:
        delta = pivotal_tuning(G, ws, target, MSE, PTISettings(steps=10, budget=0.1, locality_weight=weight,
                                                                   locality_radius=3.0)).delta
        G2 = Checkpoint(g_config=ckpt.g_config, g_ema=apply_delta(ckpt.g_ema, delta)).generator()
        with torch.no_grad():
            return float((G2.synthesis(others, noise_mode="const") - ref).square().mean())

    assert drift(10.0) < drift(0.0)


def test_n_model_blends_take_the_delta_by_the_base_share(tmp_path):
    from styleblend.blend.multi import parse_multi_schedule

    base = tiny_checkpoint(seed=0)
    t1, t2 = finetuned(base, scale=0.3, seed=1), finetuned(base, scale=0.3, seed=2)
    delta = _random_delta(base)
    schedule = parse_multi_schedule("weights:4:0/1/0,8:0.2/0.5/0.3,*:1/0/0")
    blended, recipe = blend_checkpoints(base, [t1, t2], schedule)
    tuned, _ = blend_checkpoints(Checkpoint(g_config=base.g_config, g_ema=apply_delta(base.g_ema, delta)), [t1, t2],
                                 schedule)
    w0 = base_weights(base.g_config, blended.g_ema, recipe.schedule)
    assert w0["synthesis.b8.conv1.weight"] == pytest.approx(0.2)
    got = apply_delta(blended.g_ema, delta, scale=w0)
    for key in got:
        torch.testing.assert_close(got[key], tuned.g_ema[key], rtol=1e-5, atol=1e-6)
