import pytest
import torch

from styleblend.blend.core import blend_two
from styleblend.blend.live import LiveBlend
from styleblend.blend.schedules import Table
from styleblend.errors import InvalidArgumentError
from styleblend.io.checkpoint import load_state_dict_strict
from styleblend.latents.mapping import seeds_to_ws
from styleblend.nn import Generator

from .conftest import finetuned, tiny_checkpoint


def _pair(**kwargs):
    base = tiny_checkpoint(0, **kwargs)
    return base, finetuned(base)


def _reference(base, transfer, alphas, ws, mapping="base"):
    """The blended generator rendered whole: what the live renderer must equal."""
    res = base.g_config.block_resolutions
    state = blend_two(base.g_ema, transfer.g_ema, Table(tuple(zip(res, alphas))), base.g_config, mapping=mapping)
    G = Generator(base.g_config).eval()
    load_state_dict_strict(G, state, what="reference")
    with torch.no_grad():
        return G.synthesis(ws, noise_mode="const"), G


def test_matches_the_blended_generator_through_a_sequence_of_moves() -> None:
    base, transfer = _pair()
    live = LiveBlend(base.g_ema, transfer.g_ema, base.g_config)
    ws = live.latents([3, 7], 0.7)
    n = len(live.resolutions)  # 4, 8, 16, 32
    moves = [[0.0] * n, [1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.5], [0.25, 1.0, 0.0, 0.5], [0.25, 1.0, 0.0, 0.5]]
    for alphas in moves:
        stage = live.render("a", ws, alphas)
        expected, _ = _reference(base, transfer, alphas, ws)
        assert stage.final and stage.resolution == 32
        assert torch.equal(stage.image, expected)


def test_a_move_reruns_only_the_blocks_from_its_resolution_up() -> None:
    base, transfer = _pair()
    live = LiveBlend(base.g_ema, transfer.g_ema, base.g_config)
    ws = live.latents([1], 1.0)
    assert live.render("s", ws, [0, 0, 0, 0]).blocks_run == 4
    assert live.render("s", ws, [0, 0, 0, 1]).blocks_run == 1  # the last slider: the last block only
    assert live.render("s", ws, [0, 0.5, 0, 1]).blocks_run == 3  # 8 px and every block after it
    assert live.render("s", ws, [0, 0.5, 0, 1]).blocks_run == 0  # nothing changed: the cached image
    other = live.latents([2], 1.0)
    assert live.render("t", other, [0, 0.5, 0, 1]).blocks_run == 4  # a new latent starts from the first block
    assert live.render("s", other, [0, 0.5, 0, 1]).blocks_run == 4  # same key, new latent: nothing reused
    assert live.blocks_run == 16


def test_a_preview_stops_early_and_the_next_render_continues() -> None:
    base, transfer = _pair()
    live = LiveBlend(base.g_ema, transfer.g_ema, base.g_config)
    ws = live.latents([5], 0.7)
    alphas = [1.0, 0.0, 0.5, 0.0]
    preview = live.render("s", ws, alphas, stop_resolution=8)
    assert (preview.resolution, preview.final, preview.blocks_run) == (8, False, 2)
    assert preview.image.shape == (1, 3, 8, 8)
    full = live.render("s", ws, alphas)
    assert full.blocks_run == 2
    expected, G = _reference(base, transfer, alphas, ws)
    assert torch.equal(full.image, expected)
    # The preview is the skip image the full network has after its 8 px block.
    with torch.no_grad():
        x, img = G.synthesis.b4(None, None, ws[:, 0:2], noise_mode="const", fused=True)
        _, img = G.synthesis.b8(x, img, ws[:, 1:4], noise_mode="const", fused=True)
    assert torch.equal(preview.image, img)


def test_mapping_choice_sets_the_latents() -> None:
    base, transfer = _pair()
    live = LiveBlend(base.g_ema, transfer.g_ema, base.g_config, mapping="transfer")
    ws = live.latents([4], 0.5)
    alphas = [0.0, 1.0, 1.0, 0.0]
    expected_G = _reference(base, transfer, alphas, ws, mapping="transfer")[1]
    assert torch.equal(ws, seeds_to_ws(expected_G, [4], 0.5))
    assert not torch.equal(ws, LiveBlend(base.g_ema, transfer.g_ema, base.g_config).latents([4], 0.5))
    assert torch.equal(live.render(0, ws, alphas).image, _reference(base, transfer, alphas, ws, "transfer")[0])


def test_resnet_generators_render_whole_but_refuse_previews() -> None:
    base, transfer = _pair(architecture="resnet")
    live = LiveBlend(base.g_ema, transfer.g_ema, base.g_config)
    ws = live.latents([0], 1.0)
    alphas = [0.0, 0.0, 1.0, 0.0]
    assert torch.equal(live.render("r", ws, alphas).image, _reference(base, transfer, alphas, ws)[0])
    assert live.render("r", ws, [0.0, 0.0, 1.0, 1.0]).blocks_run == 1
    with pytest.raises(InvalidArgumentError, match="skip generators"):
        live.render("r", ws, alphas, stop_resolution=8)


def test_bad_arguments_are_refused() -> None:
    base, transfer = _pair()
    live = LiveBlend(base.g_ema, transfer.g_ema, base.g_config, max_latents=1)
    ws = live.latents([0], 1.0)
    with pytest.raises(InvalidArgumentError, match="one per resolution"):
        live.render("k", ws, [0.0, 1.0])
    with pytest.raises(InvalidArgumentError, match=r"must be in \[0, 1\]"):
        live.render("k", ws, [0.0, 0.0, 0.0, 1.5])
    with pytest.raises(InvalidArgumentError, match="not one of the model's block resolutions"):
        live.render("k", ws, [0.0] * 4, stop_resolution=12)
    with pytest.raises(InvalidArgumentError, match="max_latents"):
        LiveBlend(base.g_ema, transfer.g_ema, base.g_config, max_latents=0)
    live.render("k", ws, [0.0] * 4)
    live.render("j", ws, [0.0] * 4)  # max_latents=1: 'k' is dropped
    assert live.render("k", ws, [0.0] * 4).blocks_run == 4


def test_a_stopped_render_keeps_its_blocks_and_the_next_one_continues() -> None:
    from styleblend.blend.live import RenderStopped

    base, transfer = _pair()
    live = LiveBlend(base.g_ema, transfer.g_ema, base.g_config)
    ws = live.latents([4], 0.7)
    asked = []

    def stop_after_two() -> bool:
        asked.append(1)
        return len(asked) > 2

    assert live.start_resolution("k", ws, [0.5] * 4) == 4
    with pytest.raises(RenderStopped):
        live.render("k", ws, [0.5] * 4, should_stop=stop_after_two)
    assert live.blocks_run == 2 and live.start_resolution("k", ws, [0.5] * 4) == 16
    stage = live.render("k", ws, [0.5] * 4)
    assert stage.blocks_run == 2 and live.start_resolution("k", ws, [0.5] * 4) is None
    assert torch.equal(stage.image, _reference(base, transfer, [0.5] * 4, ws)[0])
    assert live.start_resolution("k", ws, [0.5, 0.5, 0.5, 1.0]) == 32
