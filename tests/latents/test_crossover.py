"""Crossover and style-fusion keep exactly the chosen rows."""

import pytest
import torch

from styleblend.errors import InvalidArgumentError
from styleblend.latents.crossover import (
    crossover,
    format_layers,
    fusion_ranges,
    layer_resolution,
    layers_for_resolutions,
    mix_styles,
    parse_layers,
    style_fusion,
)

from ..conftest import tiny_config


def test_crossover_keeps_exactly_the_chosen_rows():
    a, b = torch.randn(4, 18, 16), torch.randn(4, 18, 16)
    out = crossover(a, b, range(9))
    assert torch.equal(out[:, :9], a[:, :9]) and torch.equal(out[:, 9:], b[:, 9:])
    out = crossover(a, b, [0, 5, 17])
    for i in range(18):
        assert torch.equal(out[:, i], (a if i in (0, 5, 17) else b)[:, i])
    assert torch.equal(crossover(a, b, []), b) and torch.equal(crossover(a, b, range(18)), a)


def test_crossover_broadcasts_and_checks():
    a, b = torch.randn(1, 8, 4), torch.randn(3, 8, 4)
    assert crossover(a, b, [0]).shape == (3, 8, 4)
    assert crossover(a[0], b[0], [0]).shape == (8, 4)
    with pytest.raises(InvalidArgumentError, match="outside"):
        crossover(a, b, [8])
    with pytest.raises(InvalidArgumentError, match="same network"):
        crossover(a, torch.randn(1, 6, 4), [0])
    with pytest.raises(InvalidArgumentError, match="pair"):
        crossover(torch.randn(2, 8, 4), b, [0])


def test_style_fusion_copies_range_from_style_image():
    content, style = torch.randn(18, 8), torch.randn(18, 8)
    out = style_fusion(content, style, parse_layers("4-10", 18))
    assert torch.equal(out[4:11], style[4:11])
    assert torch.equal(out[:4], content[:4]) and torch.equal(out[11:], content[11:])


def test_fusion_ranges_and_resolutions():
    assert [format_layers(r) for r in fusion_ranges(18)] == ["0-6", "4-10", "8-14", "12-17"]
    cfg18 = tiny_config(res=256)  # 7 blocks... num_ws = 14
    assert cfg18.num_ws == 14
    for r in fusion_ranges(14):
        assert 0 <= r[0] <= r[-1] < 14
    cfg = tiny_config(res=32)  # num_ws 8
    assert [layer_resolution(cfg, i) for i in range(8)] == [4, 8, 8, 16, 16, 32, 32, 32]
    assert layers_for_resolutions(cfg, 4, 8) == [0, 1, 2]
    assert parse_layers("0-2,5", 8) == [0, 1, 2, 5] and format_layers([0, 1, 2, 5]) == "0-2,5"
    with pytest.raises(InvalidArgumentError):
        parse_layers("3-1", 8)


def test_style_mixing_grid_takes_the_listed_layers_from_the_column():
    rows, cols = torch.randn(2, 6, 4), torch.randn(3, 6, 4)
    grid = mix_styles(rows, cols, [0, 5])
    assert grid.shape == (2, 3, 6, 4)
    assert torch.equal(grid[1, 2, 1:5], rows[1, 1:5]) and torch.equal(grid[1, 2, [0, 5]], cols[2, [0, 5]])
    with pytest.raises(InvalidArgumentError, match="0..5"):
        mix_styles(rows, cols, [6])
