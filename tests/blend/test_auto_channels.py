"""Channel-dependent automatic α (styleblend.blend.auto_channels) on tiny generators."""

from __future__ import annotations

import pytest
import torch

from styleblend.blend.auto import AlphaObjective
from styleblend.blend.auto_channels import (
    ChannelRenderer,
    channel_masks,
    render_channel_blend,
    score_channel_latents,
    search_channels,
)
from styleblend.blend.core import blend_two
from styleblend.blend.schedules import Table
from styleblend.errors import InvalidArgumentError
from styleblend.io.checkpoint import load_state_dict_strict
from styleblend.nn import Generator
from styleblend.render import render_ws

from .conftest import finetuned, tiny_checkpoint

RES = (4, 8, 16)


class TickClock:
    """A clock that moves ``step`` seconds every time it is read: a budget then bounds the number of steps."""

    def __init__(self, step: float = 0.25) -> None:
        self.t, self.step = 0.0, step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


@pytest.fixture(scope="module")
def pair():
    base = tiny_checkpoint(0, res=16, with_d=True)
    return base, finetuned(base, 0.3)


def objective(pair, seeds=range(8)) -> AlphaObjective:
    base, transfer = pair
    return AlphaObjective(base.g_ema, transfer.g_ema, base.g_config, transfer.discriminator(), list(seeds),
                          structure_res=4)


def random_channels(obj: AlphaObjective, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    sizes = ChannelRenderer(obj).channel_sizes
    return tuple((layer, tuple(torch.rand([n], generator=gen).tolist())) for layer, n in sizes.items())


def test_a_channel_blend_renders_what_the_written_blend_renders_and_scores_it(pair):
    obj = objective(pair)
    base, transfer = pair
    channels = random_channels(obj)
    layers = [layer for layer, _ in channels]
    assert "b4.const" in layers and "b16.torgb" in layers and "b8.conv0" in layers
    table = (0.2, 0.7, 0.4)
    img = render_channel_blend(obj, table, channels)
    G = Generator(base.g_config).eval()
    state = blend_two(base.g_ema, transfer.g_ema, Table(tuple(zip(RES, table))), base.g_config,
                      channels=channel_masks(channels))
    load_state_dict_strict(G, state, what="blend")
    ref = render_ws(G, obj.ws)
    assert torch.allclose(img, ref, atol=1e-5)
    realism, distance = score_channel_latents(obj, table, channels)
    with torch.no_grad():
        expected = obj._realism(ref).numpy()
    assert realism == pytest.approx(expected, abs=1e-4)
    low = torch.nn.functional.adaptive_avg_pool2d
    ref_base = render_ws(base.generator(), obj.ws)
    assert distance == pytest.approx(((low(ref, 4) - low(ref_base, 4)).abs().mean((1, 2, 3)) * 127.5).numpy(),
                                     abs=1e-3)
    # All channels at the table's α are the table itself.
    flat = tuple((layer, (table[RES.index(int(layer.split(".")[0][1:]))],) * len(v)) for layer, v in channels)
    assert score_channel_latents(obj, table, flat)[0] == pytest.approx(obj.score_latents(table)[0], abs=1e-4)
    with pytest.raises(InvalidArgumentError, match="does not fit this pair"):
        score_channel_latents(obj, table, (("b8.conv0", (0.5,)),))


def test_both_scores_have_gradients_in_every_alpha(pair):
    obj = objective(pair)
    renderer = ChannelRenderer(obj)
    table = torch.full([3], 0.5, requires_grad=True)
    channels = {layer: torch.full([n], 0.5, requires_grad=True) for layer, n in renderer.channel_sizes.items()}
    realism, distance = renderer.scores(table, channels)
    (realism.mean() + distance.mean()).backward()
    assert table.grad is not None and bool((table.grad != 0).all())
    assert all(t.grad is not None and bool((t.grad != 0).any()) for t in channels.values())


def test_the_search_climbs_the_critic_within_the_distance_and_the_budget(pair):
    obj = objective(pair)
    clock = TickClock()
    result = search_channels(obj, 5.0, clock=clock, every=2, lr=0.2)
    # The clock moves when read, so the last reading (the elapsed time itself) may pass the budget by one tick.
    assert result.elapsed_s <= 5.0 + clock.step and result.settings["family"] == "channels"
    assert result.settings["steps"] >= 4
    fixed = result.candidates[:2 + len(result.swaps)]
    assert [c.label for c in fixed[:2]] == ["base", "transfer"] and all(c.channels is None for c in fixed)
    found = [c for c in result.candidates if c.label == "channels"]
    assert len(found) >= 2 and all(len(c.channels) == len(ChannelRenderer(obj).channel_sizes) for c in found)
    closest = min(result.swaps, key=lambda c: c.distance)
    assert result.settings["target_distance"] == pytest.approx(0.9 * closest.distance)
    # Gradient ascent on the critic's logit: the last candidate is more realistic than the first.
    assert found[-1].realism > found[0].realism
    assert result.chosen in result.front
    # A candidate's recorded scores are the scores of its α (scored again through the renderer).
    c = found[-1]
    again = score_channel_latents(obj, c.alphas, c.channels)
    assert float(again[0].mean()) == pytest.approx(c.realism, abs=1e-3)
    assert float(again[1].mean()) == pytest.approx(c.distance, abs=1e-2)
    report = result.to_dict()
    if result.chosen.channels is not None:
        assert len(report["chosen"]["channels"]["b8.conv0"]) == dict(result.chosen.channels)["b8.conv0"].__len__()


def test_validated_search_chooses_on_other_latents_with_paired_bounds(pair):
    obj, val = objective(pair), objective(pair, range(8, 16))
    result = search_channels(obj, 8.5, clock=TickClock(), validation=val, confidence=0.95, every=2, validate_top=2)
    checked = result.validation
    assert checked is not None and checked.samples == 8 and len(checked.margins) == len(result.swaps)
    assert result.chosen.key == checked.chosen.key
    again = score_channel_latents(val, checked.chosen.alphas, checked.chosen.channels)
    assert float(again[0].mean()) == pytest.approx(checked.chosen.realism, abs=1e-6)


def test_bad_settings_are_refused(pair):
    obj = objective(pair)
    with pytest.raises(InvalidArgumentError, match="budget_s"):
        search_channels(obj, 0.0)
    with pytest.raises(InvalidArgumentError, match="target_distance"):
        search_channels(obj, 10.0, target_distance=-1.0)
    with pytest.raises(InvalidArgumentError, match="too short"):
        search_channels(obj, 0.5, clock=TickClock(0.2))
    with pytest.raises(InvalidArgumentError, match="no time for a gradient step"):
        search_channels(obj, 3.2, clock=TickClock())
    base, transfer = pair
    faces = AlphaObjective(base.g_ema, transfer.g_ema, base.g_config, transfer.discriminator(), list(range(4)),
                           structure_res=4, structure=lambda refs: (lambda imgs: 0.0))
    with pytest.raises(InvalidArgumentError, match="has none"):
        search_channels(faces, 10.0)
