"""BlendSession on a StyleGAN3 pair: sliders per layer group, previews, presets, recipes, downloads, and a
StyleGAN2 model refused beside a StyleGAN3 one."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from styleblend.blend import blend_two
from styleblend.blend.axes import AxisSchedule
from styleblend.errors import ArchitectureMismatchError, InvalidArgumentError
from styleblend.io import load_checkpoint, save_checkpoint
from styleblend.latents.mapping import seeds_to_ws
from styleblend.media.images import to_uint8
from styleblend.nn.build import build_generator
from styleblend.render import render_ws
from styleblend.ui.service import BlendSession

from ..conftest import tiny_checkpoint, tiny_sg3_checkpoint

SIZES = [20, 16]  # the tiny StyleGAN3-T's groups: input + L0-L2 (20 px), L3 + ToRGB (16 px)


@pytest.fixture(scope="module")
def sg3_paths(tmp_path_factory):
    d = tmp_path_factory.mktemp("sg3pair")
    return (save_checkpoint(tiny_sg3_checkpoint(seed=0), d / "base.safetensors"),
            save_checkpoint(tiny_sg3_checkpoint(seed=1), d / "toon.safetensors"))


@pytest.fixture(scope="module")
def sg3(sg3_paths):
    s = BlendSession(load_checkpoint(sg3_paths[0]), load_checkpoint(sg3_paths[1]), embed_steps=3)
    yield s
    s.close()


def _independent(session, alphas, mapping="base", seeds=(1, 2), psi=0.7):
    """The blend rendered without the session: the size table blended by the library into a fresh generator."""
    table = AxisSchedule("size", "table", table=tuple(zip(map(float, SIZES), map(float, alphas))))
    state = blend_two(session._base.g_ema, session._transfer.g_ema, table, session._base.g_config, mapping=mapping)
    G = build_generator(session._base.g_config).eval()
    G.load_state_dict(state)
    return to_uint8(render_ws(G, seeds_to_ws(G, list(seeds), psi)))


def test_info_sends_one_slider_per_layer_group(sg3):
    info = sg3.info()
    assert info["family"] == "stylegan3" and info["resolutions"] == SIZES
    assert [s["label"] for s in info["sliders"]] == ["sampling rate 16 · 20 px", "sampling rate 16 · 16 px"]
    assert info["sliders"][0]["layers"] == ["input", "L0_20_16", "L1_20_16", "L2_20_13"]
    assert info["ws_layers"]["owner"] == [20, 20, 20, 20, 16, 16]
    json.dumps(info)


def test_preview_is_base_transfer_and_the_blend_of_the_groups(sg3):
    zeros = sg3.preview_images([0, 0], "1,2", 0.7)
    np.testing.assert_array_equal(zeros[:, 2], zeros[:, 0])
    ones = sg3.preview_images([1, 1], "1,2", 0.7, mapping="transfer")
    np.testing.assert_array_equal(ones[:, 2], ones[:, 1])
    mixed = sg3.preview_images([1, 0.3], "1,2", 0.7, mapping="base")
    np.testing.assert_array_equal(mixed[:, 2], _independent(sg3, [1, 0.3]))
    assert not np.array_equal(mixed[:, 2], mixed[:, 0]) and not np.array_equal(mixed[:, 2], mixed[:, 1])
    assert sg3.preview([0.5, 0.5], "3", 0.7)[:8] == b"\x89PNG\r\n\x1a\n"
    assert sg3.stats["live_blocks"] == 0  # the live renderer is StyleGAN2-only: full renders here


def test_presets_run_over_the_groups_in_order(sg3):
    assert sg3.preset("swap", res=20) == [1.0, 0.0]
    assert sg3.preset("swap", res=20, flip=True) == [0.0, 1.0]
    assert sg3.preset("linear", from_res=20, to_res=16) == [1.0, 0.0]
    with pytest.raises(InvalidArgumentError, match="output sizes 20, 16"):
        sg3.preset("swap", res=32)


def test_recipe_names_the_size_table_and_reads_back(sg3):
    recipe = sg3.recipe([1, 0.25], "base")
    assert recipe["schedule"] == "size:table:20:1,16:0.25"
    assert "--spec size:table:20:1,16:0.25" in recipe["command"]
    back = sg3.apply_recipe(recipe)
    assert back["alphas"] == [1.0, 0.25] and back["mapping"] == "base"
    assert sg3.apply_recipe({"schedule": "swap:16"})["alphas"] == [1.0, 1.0]  # by sampling rate: both groups
    with pytest.raises(InvalidArgumentError, match="per resolution|slider"):
        sg3.apply_recipe({"schedule": "index:table:0:1,*:0"})  # one layer of a group: not expressible


def test_download_is_the_blend(sg3, tmp_path):
    data, name = sg3.download_blend([1, 0.5], "base")
    (tmp_path / name).write_bytes(data)
    got = load_checkpoint(tmp_path / name)
    table = AxisSchedule("size", "table", table=((20.0, 1.0), (16.0, 0.5)))
    want = blend_two(sg3._base.g_ema, sg3._transfer.g_ema, table, sg3._base.g_config)
    assert got.g_config == sg3._base.g_config
    for key, value in want.items():
        assert torch.equal(got.g_ema[key], value), key


def test_mix_and_morph_render_through_the_blend(sg3):
    assert sg3.mix_images(1, 2, "0-2", 0.7, "blend", [1, 0]).shape == (3, 16, 16, 3)
    assert sg3.morph_images(1, 2, 3, 0.7, "blend", [1, 0]).shape == (3, 16, 16, 3)


def test_a_stylegan2_model_is_refused_beside_a_stylegan3_one(sg3_paths, tmp_path):
    sg2 = save_checkpoint(tiny_checkpoint(res=16), tmp_path / "sg2.safetensors").read_bytes()
    with BlendSession(load_checkpoint(sg3_paths[0]), load_checkpoint(sg3_paths[1])) as s:
        with pytest.raises(ArchitectureMismatchError, match="StyleGAN2 and StyleGAN3"):
            s.load_uploaded("transfer", sg2, "sg2.safetensors")
        assert s.info()["family"] == "stylegan3"  # the old pair is kept
        out = s.load_uploaded("base", sg2, "sg2.safetensors")  # kept, blending blocked until a match comes
        assert "StyleGAN2 and StyleGAN3" in out["warning"] and out["pair_error"] == out["warning"]
        assert out["family"] == "stylegan2"
        with pytest.raises(ArchitectureMismatchError, match="StyleGAN2 and StyleGAN3"):
            s.preview_images(None, "1", 0.7)
    with pytest.raises(ArchitectureMismatchError, match="StyleGAN2 and StyleGAN3"):
        BlendSession(load_checkpoint(sg3_paths[0]), tiny_checkpoint(res=16))
