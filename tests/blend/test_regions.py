"""Parts, channel scores and region channel masks (styleblend.blend.regions) on planted data and tiny generators."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from styleblend.blend.model import blend_checkpoints
from styleblend.blend.regions import (
    assign_parts,
    find_parts,
    layer_activations,
    mark_region,
    parse_layer,
    plan_region_blend,
    region_channel_masks,
    region_scores,
    resize_mask,
    select_channels,
    spherical_kmeans,
)
from styleblend.blend.schedules import Constant
from styleblend.errors import InvalidArgumentError
from styleblend.latents.mapping import seeds_to_ws

from .conftest import finetuned, tiny_checkpoint


def planted(k: int = 3, per: int = 40, dim: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Points near k random directions, with lengths spread over two orders of magnitude (only direction counts)."""
    gen = torch.Generator().manual_seed(seed)
    directions = torch.nn.functional.normalize(torch.randn(k, dim, generator=gen), dim=1)
    truth = torch.arange(k).repeat_interleave(per)
    noise = 0.05 * torch.randn(k * per, dim, generator=gen)
    lengths = 10 ** (2 * torch.rand(k * per, 1, generator=gen) - 1)
    return (directions[truth] + noise) * lengths, truth


def same_partition(a: torch.Tensor, b: torch.Tensor) -> bool:
    pairs = set(zip(a.tolist(), b.tolist()))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def test_kmeans_finds_planted_clusters_whatever_the_lengths():
    x, truth = planted()
    labels, centroids = spherical_kmeans(x, 3, seed=0)
    assert same_partition(labels, truth)
    assert torch.allclose(centroids.norm(dim=1), torch.ones(3), atol=1e-5)


def test_kmeans_is_deterministic_and_seeded():
    x, _ = planted(k=5, dim=8, seed=3)
    a = spherical_kmeans(x, 5, seed=7)
    b = spherical_kmeans(x.clone(), 5, seed=7)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


@pytest.mark.parametrize("k", [1, 0, 200])
def test_kmeans_refuses_bad_k(k):
    x, _ = planted(per=10)
    with pytest.raises(InvalidArgumentError, match="parts"):
        spherical_kmeans(x, k)


def test_parts_of_converged_kmeans_are_its_own_assignment():
    gen = torch.Generator().manual_seed(0)
    acts = torch.randn(2, 6, 8, 8, generator=gen)
    parts = find_parts(acts, 3, "b8")
    assert parts.labels.shape == (2, 8, 8) and parts.num_parts == 3
    assert torch.equal(assign_parts(acts, parts.centroids), parts.labels)


def test_a_channel_firing_only_inside_the_region_ranks_first():
    gen = torch.Generator().manual_seed(1)
    acts = torch.randn(3, 10, 8, 8, generator=gen)
    region = torch.zeros(8, 8, dtype=torch.bool)
    region[2:5, 3:7] = True
    acts[:, 6] = 0.0
    acts[:, 6, 2:5, 3:7] = 4.0 + 0.1 * torch.randn(3, 3, 4, generator=gen)
    acts[:, 2] += 50.0  # large everywhere: must not outrank a local channel
    scores = region_scores(acts, region)
    assert int(scores.argmax()) == 6
    assert float(scores[6]) > 3 * float(scores[torch.arange(10) != 6].abs().max())
    assert select_channels(scores, top_k=1) == (6,)


def test_region_scores_refuse_bad_regions():
    acts = torch.randn(2, 4, 8, 8)
    with pytest.raises(InvalidArgumentError, match="does not fit"):
        region_scores(acts, torch.ones(4, 4, dtype=torch.bool))
    with pytest.raises(InvalidArgumentError, match="no pixel"):
        region_scores(acts, torch.zeros(8, 8, dtype=torch.bool))
    with pytest.raises(InvalidArgumentError, match="every pixel"):
        region_scores(acts, torch.ones(8, 8, dtype=torch.bool))


def test_select_channels():
    scores = torch.tensor([0.5, 2.0, -1.0, 2.0, 0.1])
    assert select_channels(scores, top_k=2) == (1, 3)
    assert select_channels(scores, top_k=3) == (0, 1, 3)
    assert select_channels(scores, top_k=0) == ()
    assert select_channels(scores, threshold=0.3) == (0, 1, 3)
    for kwargs in ({}, {"top_k": 1, "threshold": 0.1}, {"top_k": 6}, {"top_k": -1}):
        with pytest.raises(InvalidArgumentError):
            select_channels(scores, **kwargs)


def test_layer_names():
    cfg = tiny_checkpoint().g_config
    assert parse_layer("synthesis.b16", cfg) == "b16" and parse_layer("16", cfg) == "b16"
    assert parse_layer("b16.conv0", cfg) == "b16.conv0"
    for bad in ("b64", "b16.torgb", "mapping.fc0", "b16.conv9"):
        with pytest.raises(InvalidArgumentError, match="not a feature layer"):
            parse_layer(bad, cfg)
    with pytest.raises(InvalidArgumentError, match="channels"):
        region_channel_masks((0,), ["b32.conv1"], 16, cfg)  # b32 has 8 channels, b16 16
    with pytest.raises(InvalidArgumentError, match="not a conv layer"):
        region_channel_masks((0,), ["b16.torgb"], 16, cfg)


def test_stylegan3_models_are_refused_with_the_reason():
    # StyleGAN3 has no resolution blocks; before this check, 'b16' passed parse_layer on a 16 px SG3 model
    # (its sampling rates include 16) and the failure came later as an AttributeError.
    from ..conftest import tiny_sg3_checkpoint

    ckpt = tiny_sg3_checkpoint()
    for call in (lambda: parse_layer("b16", ckpt.g_config),
                 lambda: layer_activations(ckpt.generator(), torch.zeros(1, ckpt.g_config.num_ws, 8), "b16"),
                 lambda: plan_region_blend(ckpt.generator(), 0, samples=2)):
        with pytest.raises(InvalidArgumentError, match="StyleGAN2 generators.*this is a StyleGAN3 generator"):
            call()


def test_block_features_are_conv1_output_and_hooks_are_removed():
    ckpt = tiny_checkpoint()
    G = ckpt.generator()
    ws = seeds_to_ws(G, [0, 1, 2])
    block = layer_activations(G, ws, "b16", batch_size=2)
    conv1 = layer_activations(G, ws, "b16.conv1", batch_size=2)
    assert block.shape == (3, ckpt.g_config.channels(16), 16, 16)
    assert torch.equal(block, conv1)
    assert not G.synthesis.b16._forward_hooks and not G.synthesis.b16.conv1._forward_hooks


def _changed(a: dict, b: dict) -> set[str]:
    return {k for k in a if not torch.equal(a[k], b[k])}


def test_region_blend_changes_only_the_selected_channels():
    base = tiny_checkpoint(seed=0)
    transfer = finetuned(base, seed=1)
    G = base.generator()
    plan = plan_region_blend(G, 1, layer="b16", parts=3, samples=2, top_k=4)
    chosen = plan.record["channels"]
    assert len(chosen) == 4 and plan.record["blended_layers"] == ["b16.conv1"]
    out, recipe = blend_checkpoints(base, [transfer], Constant(0.0), channels=plan.masks, hash_inputs=False)
    assert _changed(out.g_ema, base.g_ema) == {"synthesis.b16.conv1.weight", "synthesis.b16.conv1.bias"}
    others = [c for c in range(16) if c not in chosen]
    for key in ("synthesis.b16.conv1.weight", "synthesis.b16.conv1.bias"):
        assert torch.equal(out.g_ema[key][chosen], transfer.g_ema[key][chosen])
        assert torch.equal(out.g_ema[key][others], base.g_ema[key][others])
    assert list(recipe.channels[0]["channels"]) == chosen


def test_region_blend_with_no_channels_is_the_base_bit_for_bit():
    base = tiny_checkpoint(seed=0)
    plan = plan_region_blend(base.generator(), 0, layer="b16", parts=3, samples=2, top_k=0)
    out, _ = blend_checkpoints(base, [finetuned(base, seed=1)], Constant(0.0), channels=plan.masks,
                               hash_inputs=False)
    assert not _changed(out.g_ema, base.g_ema) and not _changed(out.g, base.g)


def test_region_from_a_mask(tmp_path):
    base = tiny_checkpoint(seed=0)
    G = base.generator()
    mask = np.zeros((32, 32), np.uint8)
    mask[8:24, 4:16] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    plan = plan_region_blend(G, str(tmp_path / "m.png"), layer="b16", samples=2, threshold=0.0)
    assert plan.part is None and plan.mask is not None
    maps = plan.region_maps(G, seeds_to_ws(G, [5, 6]))
    assert maps.shape == (2, 16, 16) and torch.equal(maps[0], resize_mask(plan.mask, 16))
    Image.fromarray(mask[:20, :20]).save(tmp_path / "small.png")
    with pytest.raises(InvalidArgumentError, match="20x20 px"):
        plan_region_blend(G, str(tmp_path / "small.png"), layer="b16", samples=2)
    with pytest.raises(InvalidArgumentError, match="parts are 0..2"):
        plan_region_blend(G, 3, layer="b16", parts=3, samples=2)


def test_mark_region_darkens_only_the_outside():
    images = np.full((1, 8, 8, 3), 200, np.uint8)
    mask = torch.zeros(4, 4, dtype=torch.bool)
    mask[:2] = True
    out = mark_region(images, mask)
    assert (out[0, :4] == 200).all() and (out[0, 4:] == 60).all()
