"""KID: the unbiased MMD^2 estimator, NVIDIA's subset scheme, and its behaviour on (un)equal distributions."""

import itertools

import numpy as np
import pytest

from styleblend.errors import InvalidArgumentError
from styleblend.metrics.features import FeatureStats
from styleblend.metrics.kid import kernel_inception_distance, kid_subset_values, mmd2_unbiased, polynomial_kernel


def naive_mmd2(x, y):
    """Gretton et al. 2012, Eq. 3, written as loops with k(a, b) = (a.b / D + 1)^3."""
    m, d = x.shape

    def k(a, b):
        return (np.dot(a, b) / d + 1) ** 3

    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return (xx + yy) / (m * (m - 1)) - 2 * xy / (m * m)


def test_kernel_and_estimator_match_the_definition():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((6, 3)) + 0.5
    np.testing.assert_allclose(polynomial_kernel(x, y), (x @ y.T / 3 + 1) ** 3)
    assert mmd2_unbiased(x, y) == pytest.approx(naive_mmd2(x, y), rel=1e-12)


def test_whole_set_subsets_give_the_exact_estimate_and_symmetry():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 4)) * 1.3
    # With m = N every subset is a permutation of the whole set; MMD^2_u does not depend on order.
    values = kid_subset_values(x, y, num_subsets=5, max_subset_size=1000)
    np.testing.assert_allclose(values, naive_mmd2(y, x), rtol=1e-10)
    assert kernel_inception_distance(x, y, 3, 8) == pytest.approx(kernel_inception_distance(y, x, 3, 8), rel=1e-10)


def test_same_distribution_is_near_zero_and_unbiased():
    rng = np.random.default_rng(2)
    real, gen = rng.standard_normal((600, 16)), rng.standard_normal((600, 16))
    values = kid_subset_values(real, gen, num_subsets=100, max_subset_size=100, seed=3)
    shifted = kernel_inception_distance(real, gen + 0.5, num_subsets=100, max_subset_size=100, seed=3)
    # Unbiased: negative values occur and the mean is close to 0 compared with the spread and a real shift.
    assert (values < 0).any() and (values > 0).any()
    assert abs(values.mean()) < 0.5 * values.std()
    assert abs(values.mean()) < 0.02 * shifted


def test_grows_with_shift_and_is_seeded():
    rng = np.random.default_rng(4)
    real = rng.standard_normal((300, 8))
    gen = rng.standard_normal((300, 8))
    kids = [kernel_inception_distance(real, gen + s, num_subsets=20, max_subset_size=100) for s in (0.25, 0.5, 1.0)]
    assert 0 < kids[0] < kids[1] < kids[2]
    a = kernel_inception_distance(real, gen + 0.25, num_subsets=20, max_subset_size=100, seed=9)
    assert a == kernel_inception_distance(real, gen + 0.25, num_subsets=20, max_subset_size=100, seed=9)


def test_feature_stats_inputs_and_errors():
    rng = np.random.default_rng(5)
    real, gen = FeatureStats(capture_all=True), FeatureStats(capture_all=True)
    real.append(rng.standard_normal((10, 4)))
    gen.append(rng.standard_normal((7, 4)) + 1)
    assert kernel_inception_distance(real, gen, 4, 5) == pytest.approx(
        kernel_inception_distance(real.all_features(), gen.all_features(), 4, 5), rel=1e-6)
    with pytest.raises(InvalidArgumentError, match="capture_all"):
        kernel_inception_distance(FeatureStats(), gen)
    with pytest.raises(InvalidArgumentError, match="dimensions differ"):
        kernel_inception_distance(np.zeros((4, 3)), np.zeros((4, 2)))
    with pytest.raises(InvalidArgumentError, match="at least 2"):
        kernel_inception_distance(np.zeros((1, 3)), np.zeros((4, 3)))
    with pytest.raises(InvalidArgumentError, match="num_subsets"):
        kernel_inception_distance(np.zeros((4, 3)), np.zeros((4, 3)), num_subsets=0)
