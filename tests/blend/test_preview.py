"""Preview grids: rows = seeds, columns = models, same latents everywhere."""

import numpy as np
import pytest

from styleblend.blend.preview import preview_grid, render_model
from styleblend.errors import InvalidArgumentError

from .conftest import finetuned, tiny_checkpoint


def test_grid_layout_and_cells():
    base = tiny_checkpoint(seed=0)
    transfer = finetuned(base)
    low = tiny_checkpoint(seed=0, res=16)
    grid = preview_grid(iter([base, transfer, low]), [3, 5], truncation_psi=0.7)
    assert grid.shape == (2 * 32, 3 * 32, 3)
    cells = render_model(transfer, [3, 5], truncation_psi=0.7)
    assert np.array_equal(grid[32:64, 32:64], cells[1])
    small = render_model(low, [3], truncation_psi=0.7)[0]
    assert np.array_equal(grid[0:32, 64:96], small.repeat(2, axis=0).repeat(2, axis=1))
    with pytest.raises(InvalidArgumentError, match="at least one seed"):
        preview_grid([base], [])
