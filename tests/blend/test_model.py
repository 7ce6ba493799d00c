"""Model-level blending: formats, recipes, atomic writes, NVIDIA pickles in and out, sweeps."""

import dataclasses
import json

import pytest
import torch

from styleblend.blend.model import blend_checkpoints, save_blend, swap_sweep
from styleblend.blend.multi import Bands
from styleblend.blend.recipe import format_alpha_table, recipe_path
from styleblend.blend.schedules import Swap, parse_schedule
from styleblend.errors import ArchitectureMismatchError, InvalidArgumentError
from styleblend.io import Checkpoint, load_checkpoint, save_checkpoint
from styleblend.io.digest import file_sha256
from styleblend.nn.naming import param_info

from .conftest import finetuned, images, tiny_checkpoint


@pytest.fixture
def native_pair(tmp_path):
    base = tiny_checkpoint(seed=0, with_d=True)
    transfer = finetuned(base, scale=0.3)
    return (load_checkpoint(save_checkpoint(base, tmp_path / "base.safetensors")),
            load_checkpoint(save_checkpoint(transfer, tmp_path / "transfer.safetensors")))


def hand_swap(base: dict, transfer: dict, res: int) -> dict:
    """An independent layer swap: every synthesis tensor of blocks <= res from the transfer."""
    out = {}
    for key, value in base.items():
        block = key.split(".")[1] if key.startswith("synthesis.") else None
        low = block is not None and int(block[1:]) <= res and not key.endswith("resample_filter")
        out[key] = transfer[key] if low else value
    return out


def test_native_blend_with_recipe(tmp_path, native_pair):
    base, transfer = native_pair
    ckpt, recipe = blend_checkpoints(base, [transfer], parse_schedule("swap:8;noise=0"))
    assert ckpt.format == "native" and ckpt.d is base.d
    assert recipe.networks == {"g_ema": "blended", "g": "blended", "d": "base"}
    assert torch.equal(ckpt.g["synthesis.b8.conv0.weight"], transfer.g["synthesis.b8.conv0.weight"])
    out, rfile = save_blend(ckpt, recipe, tmp_path / "out.safetensors")
    assert rfile == recipe_path(out) == tmp_path / "out.safetensors.recipe.json"
    data = json.loads(rfile.read_text())
    assert data["schedule"] == "swap:8;noise=0" and data["mapping"] == "base"
    assert data["inputs"][0]["sha256"] == file_sha256(base.source)
    assert data["inputs"][1]["role"] == "transfer" and data["output"]["format"] == "native"
    layers = {lw["layer"]: lw for lw in data["layers"]}
    assert layers["b8.conv0"]["weights"] == {"conv": 1.0, "affine": 1.0, "bias": 1.0, "noise": 0.0}
    assert layers["b16.conv1"]["weights"]["conv"] == 0.0 and layers["b4.const"]["ws_index"] is None
    reloaded = load_checkpoint(out)
    assert all(torch.equal(reloaded.g_ema[k], ckpt.g_ema[k]) for k in ckpt.g_ema)
    assert reloaded.meta["blend"]["schedule"] == "swap:8;noise=0"
    table = format_alpha_table(recipe.layers)
    assert "b8.conv0" in table and "noise=0" in table


def test_reproducing_from_the_recipe(tmp_path, native_pair):
    base, transfer = native_pair
    ckpt, recipe = blend_checkpoints(base, [transfer], parse_schedule("sigmoid:8:0.5;torgb=1"), mapping=0.25)
    again, _ = blend_checkpoints(base, [transfer], parse_schedule(recipe.schedule), mapping=recipe.mapping)
    assert all(torch.equal(ckpt.g_ema[k], again.g_ema[k]) for k in ckpt.g_ema)


def test_interrupted_write_leaves_nothing(tmp_path, native_pair, monkeypatch):
    base, transfer = native_pair
    ckpt, recipe = blend_checkpoints(base, [transfer], Swap(8))
    from styleblend.io.formats import native

    def broken(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(native, "save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        save_blend(ckpt, recipe, tmp_path / "out.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base.safetensors", "transfer.safetensors"]


def test_lower_resolution_and_n_model_checkpoints(native_pair):
    base, transfer = native_pair
    low = finetuned(tiny_checkpoint(seed=0, res=16))
    ckpt, recipe = blend_checkpoints(base, [low], Swap(32))
    assert recipe.networks["g"] == "blended"
    assert torch.equal(ckpt.g_ema["synthesis.b32.conv1.weight"], base.g_ema["synthesis.b32.conv1.weight"])
    assert torch.equal(ckpt.g_ema["synthesis.b16.conv1.weight"], low.g_ema["synthesis.b16.conv1.weight"])
    three, recipe3 = blend_checkpoints(base, [transfer, low], Bands((8, 16)), hash_inputs=False)
    assert torch.equal(three.g_ema["synthesis.b16.conv1.weight"], low.g_ema["synthesis.b16.conv1.weight"])
    assert [r["role"] for r in recipe3.inputs] == ["base", "transfer1", "transfer2"]
    with pytest.raises(InvalidArgumentError, match="N-model schedule"):
        blend_checkpoints(base, [transfer, low], Swap(8))
    with pytest.raises(InvalidArgumentError, match="over 3 models"):
        blend_checkpoints(base, [transfer], Bands((8, 16)))
    with pytest.raises(ArchitectureMismatchError, match="use the higher-resolution model as the base"):
        blend_checkpoints(low, [base], Swap(8))
    other = tiny_checkpoint(seed=3)
    other = Checkpoint(g_config=dataclasses.replace(other.g_config, w_dim=16), g_ema=other.g_ema)
    with pytest.raises(ArchitectureMismatchError, match="w_dim=16"):
        blend_checkpoints(base, [other], Swap(8))


def test_sweep_yields_one_blend_per_resolution(native_pair):
    base, transfer = native_pair
    results = list(swap_sweep(base, transfer))
    assert [r for r, _, _ in results] == [4, 8, 16, 32]
    last = results[-1][1]
    assert all(torch.equal(last.g_ema[k], transfer.g_ema[k]) for k in last.g_ema
               if k.startswith("synthesis.") and not k.endswith("resample_filter"))
    assert torch.equal(last.g_ema["mapping.fc0.weight"], base.g_ema["mapping.fc0.weight"])


def test_nvidia_pickles_in_and_out(tmp_path, nvidia_g64):
    """Blend two NVIDIA pickles; the output is an NVIDIA pickle whose images equal a hand-made layer swap."""
    src = nvidia_g64 / "network-snapshot.pkl"
    base = load_checkpoint(src)
    gen = torch.Generator().manual_seed(5)

    def perturb(state):
        return {k: v if k.endswith(("resample_filter", "noise_const")) else
                v + 0.1 * (v.std() if v.numel() > 1 else 1.0) * torch.randn(v.shape, generator=gen)
                for k, v in state.items()}

    tuned = Checkpoint(g_config=base.g_config, g_ema=perturb(base.g_ema), g=perturb(base.g), d_config=base.d_config,
                       d=perturb(base.d), format="nvidia-pkl", source=src, meta=base.meta)
    transfer = load_checkpoint(save_checkpoint(tuned, tmp_path / "transfer.pkl", "nvidia-pkl"))
    ckpt, recipe = blend_checkpoints(base, [transfer], Swap(16))
    out, _ = save_blend(ckpt, recipe, tmp_path / "blend.pkl")
    blended = load_checkpoint(out)
    assert blended.format == "nvidia-pkl" and recipe.output["format"] == "nvidia-pkl"
    assert blended.g_config == base.g_config
    by_hand = hand_swap(base.g_ema, transfer.g_ema, 16)
    assert all(torch.equal(blended.g_ema[k], by_hand[k]) for k in by_hand)
    assert torch.equal(images(blended, seeds=(0, 1, 2), psi=0.7),
                       images(by_hand, seeds=(0, 1, 2), psi=0.7, cfg=base.g_config))
    hand_g = hand_swap(base.g, transfer.g, 16)
    assert all(torch.equal(blended.g[k], hand_g[k]) for k in hand_g)
    assert all(torch.equal(blended.d[k], base.d[k]) for k in base.d)
    assert not torch.equal(images(blended, seeds=(0,)), images(base, seeds=(0,)))
    low = [k for k in by_hand if (param_info(k).resolution or 0) == 16 and k.endswith("conv1.weight")]
    assert low and not torch.equal(blended.g_ema[low[0]], base.g_ema[low[0]])


def test_nvidia_blend_writes_without_parsing_the_base_again(tmp_path, nvidia_g64, monkeypatch):
    """The blend keeps the base's tensor layout, so writing it does not unpickle the source a second time
    (which cost a whole extra file of memory on big snapshots)."""
    from styleblend.io.formats import nvidia_pkl

    base = load_checkpoint(nvidia_g64 / "network-snapshot.pkl")
    transfer = Checkpoint(g_config=base.g_config, g_ema={k: v + 1 for k, v in base.g_ema.items()})
    ckpt, recipe = blend_checkpoints(base, [transfer.generators_only()], Swap(16), hash_inputs=False)

    def no_second_parse(path):
        raise AssertionError(f"{path} was unpickled again")

    monkeypatch.setattr(nvidia_pkl, "_load", no_second_parse)
    out, _ = save_blend(ckpt, recipe, tmp_path / "blend.pkl")
    monkeypatch.undo()
    blended = load_checkpoint(out)
    coarse, fine = "synthesis.b8.conv1.weight", "synthesis.b64.conv1.weight"  # swap at 16: coarse from the transfer
    assert torch.equal(blended.g_ema[coarse], base.g_ema[coarse] + 1)
    assert torch.equal(blended.g_ema[fine], base.g_ema[fine])


def test_generators_only_drops_the_discriminator(nvidia_g64):
    import gc
    import weakref

    ckpt = load_checkpoint(nvidia_g64 / "network-snapshot.pkl")
    slim = ckpt.generators_only()
    assert slim.d is None and slim.d_config is None and ckpt.d is not None
    assert slim.g_ema is ckpt.g_ema and slim.g is ckpt.g
    # The source layout held every storage of the file: it goes too, so the discriminator's memory is freed
    # once the full checkpoint is gone.
    assert slim.source_layout is None
    largest = max(ckpt.d.values(), key=lambda tensor: tensor.numel())
    d_weight = weakref.ref(largest)
    del ckpt, largest
    gc.collect()
    assert d_weight() is None and slim.generator() is not None


def test_output_format_follows_the_suffix_then_the_base(native_pair):
    from styleblend.blend.model import output_format

    base, _ = native_pair
    assert output_format(base, "x.safetensors") == "native"
    assert output_format(base, "x.pkl") == "nvidia-pkl"
    assert output_format(base, "x.bin") == "native"
    assert output_format(Checkpoint(g_config=base.g_config, g_ema=base.g_ema, format="nvidia-tf")) == "native"


def test_conditional_models_blend_and_summarise():
    base = tiny_checkpoint(seed=0, c_dim=2)
    ckpt, recipe = blend_checkpoints(base, [finetuned(base)], Swap(8), mapping="transfer")
    assert [lw.layer for lw in recipe.layers][:4] == ["mapping.embed", "mapping.fc0", "mapping.fc1", "mapping.w_avg"]
    assert recipe.layers[0].weights == {"mapping": 1.0}
