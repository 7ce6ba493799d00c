"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs", Sec. 4 / Eq. 3), as in
NVIDIA's StyleGAN2-ADA metrics.

KID is the squared maximum mean discrepancy between the feature distributions of real and
generated images under the polynomial kernel of degree 3

    k(x, y) = (x . y / D + 1)^3,

estimated without bias (Gretton et al. 2012, Eq. 3) on subsets of m vectors each (``max_subset_size``
= 1000, or fewer when a set is smaller), averaged over ``num_subsets`` = 100 random pairs of subsets:

    MMD^2_u = 1/(m(m-1)) sum_{i != j} [k(x_i, x_j) + k(y_i, y_j)] - 2/m^2 sum_{i, j} k(x_i, y_j).

Being unbiased, KID of two samples of one distribution is 0 on average and can be slightly
negative. Subsets are drawn without replacement by a generator seeded with ``seed`` (NVIDIA uses
numpy's unseeded global generator), so a result is reproducible. Computed in float64.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidArgumentError
from .features import FeatureStats


def polynomial_kernel(x: np.ndarray, y: np.ndarray, degree: int = 3, coef0: float = 1.0) -> np.ndarray:
    """k(x_i, y_j) = (x_i . y_j / D + coef0)^degree for x [N, D], y [M, D] -> [N, M] (float64)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    base = x @ y.T / x.shape[1] + coef0
    out = base.copy()
    for _ in range(degree - 1):  # repeated products: much faster than a float power on large matrices
        out *= base
    return out if degree >= 1 else np.ones_like(base)


def mmd2_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 between samples x [m, D] and y [m, D] under the cubic polynomial kernel.

    Raises:
        InvalidArgumentError: fewer than 2 rows, or different shapes.
    """
    if x.ndim != 2 or x.shape != y.shape or x.shape[0] < 2:
        raise InvalidArgumentError(f"MMD needs two [m, D] samples of one shape with m >= 2; "
                                   f"got {x.shape} and {y.shape}")
    m = x.shape[0]
    kxx = polynomial_kernel(x, x)
    kyy = polynomial_kernel(y, y)
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2 * polynomial_kernel(x, y).sum() / (m * m))


def _as_features(features: np.ndarray | FeatureStats, which: str) -> np.ndarray:
    if isinstance(features, FeatureStats):
        features = features.all_features()
    x = np.asarray(features)
    if x.ndim != 2:
        raise InvalidArgumentError(f"{which} features must be [N, D]; got shape {x.shape}")
    return x


def kid_subset_values(real: np.ndarray | FeatureStats, gen: np.ndarray | FeatureStats, num_subsets: int = 100,
                      max_subset_size: int = 1000, seed: int = 0) -> np.ndarray:
    """MMD^2_u of each of ``num_subsets`` random subset pairs, float64 [num_subsets].

    Args:
        real, gen: feature vectors [N_real, D] and [N_gen, D], or :class:`FeatureStats` made with
            ``capture_all=True``.
        num_subsets: number of subset pairs (NVIDIA: 100).
        max_subset_size: m = min(N_real, N_gen, max_subset_size) (NVIDIA: 1000).
        seed: seed of the subset sampling.

    Raises:
        InvalidArgumentError: dimensions differ, fewer than 2 vectors in a set, or bad counts.
    """
    x_all = _as_features(gen, "generated")
    y_all = _as_features(real, "real")
    if x_all.shape[1] != y_all.shape[1]:
        raise InvalidArgumentError(f"feature dimensions differ ({y_all.shape[1]} real, {x_all.shape[1]} generated); "
                                   "compute both with the same feature network")
    if num_subsets < 1 or max_subset_size < 2:
        raise InvalidArgumentError(f"num_subsets ({num_subsets}) must be >= 1 and max_subset_size "
                                   f"({max_subset_size}) >= 2")
    m = min(x_all.shape[0], y_all.shape[0], max_subset_size)
    if m < 2:
        raise InvalidArgumentError(f"KID needs at least 2 images in each set; got {y_all.shape[0]} real and "
                                   f"{x_all.shape[0]} generated")
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets, dtype=np.float64)
    for i in range(num_subsets):
        x = x_all[rng.choice(x_all.shape[0], m, replace=False)]
        y = y_all[rng.choice(y_all.shape[0], m, replace=False)]
        values[i] = mmd2_unbiased(x, y)
    return values


def kernel_inception_distance(real: np.ndarray | FeatureStats, gen: np.ndarray | FeatureStats,
                              num_subsets: int = 100, max_subset_size: int = 1000, seed: int = 0) -> float:
    """KID: the mean of :func:`kid_subset_values` (NVIDIA's ``kid50k_full`` reports this number).

    Raises:
        InvalidArgumentError: see :func:`kid_subset_values`.
    """
    return float(kid_subset_values(real, gen, num_subsets, max_subset_size, seed).mean())
