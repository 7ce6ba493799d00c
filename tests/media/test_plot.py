"""The Pillow scatter plot (styleblend.media.plot)."""

import numpy as np
import pytest

from styleblend.errors import InvalidArgumentError
from styleblend.media.plot import Series, scatter_plot


def test_points_land_where_their_values_say():
    red, blue = (220, 0, 0), (0, 0, 220)
    img = scatter_plot([Series([(0.0, 0.0)], red, "dot", size=4), Series([(10.0, 5.0)], blue, "square", size=4)],
                       "x", "y", width=400, height=300)
    assert img.shape == (300, 400, 3) and img.dtype == np.uint8
    ys, xs = np.nonzero((img == red).all(axis=2))
    yb, xb = np.nonzero((img == blue).all(axis=2))
    assert xs.mean() < xb.mean() and ys.mean() > yb.mean()  # low-left vs up-right (y grows upwards)


def test_legend_and_errors():
    img = scatter_plot([Series([(1.0, 2.0), (2.0, 1.0)], (0, 160, 0), "line", "front")], "a", "b")
    assert ((img == (0, 160, 0)).all(axis=2)).sum() > 20  # the line and the legend swatch
    with pytest.raises(InvalidArgumentError, match="nothing to plot"):
        scatter_plot([Series([(float("nan"), 1.0)], (0, 0, 0))], "x", "y")
    with pytest.raises(InvalidArgumentError, match="too small"):
        scatter_plot([Series([(1.0, 1.0)], (0, 0, 0))], "x", "y", width=50)
