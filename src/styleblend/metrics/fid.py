"""Fréchet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule
Converge to a Local Nash Equilibrium", Sec. 4 / Eq. 6).

Gaussians N(mu1, S1) and N(mu2, S2) are fitted to the feature vectors of two image sets, and

    FID = ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))          (the Fréchet / 2-Wasserstein distance).

Numerics (all in float64). Only the trace of the matrix square root is needed. Two methods:

* ``'sqrtm'`` (default; what NVIDIA's metrics and pytorch-fid do): ``scipy.linalg.sqrtm(S1 @ S2)``
  by a Schur decomposition. S1 S2 is not symmetric, so rounding can give a complex result with tiny
  imaginary parts; as NVIDIA does, the real part is used. Where pytorch-fid would stop (an
  imaginary part above 1e-3 on the diagonal) we log a warning instead. If the result is not finite
  (singular covariances, e.g. fewer images than feature dimensions), the product is recomputed
  with 1e-6 added to both diagonals, as pytorch-fid does.
* ``'eigh'`` (no scipy needed): S1 S2 = S1^(1/2) (S1^(1/2) S2 S1^(1/2)) S1^(-1/2) is similar to the
  symmetric positive semi-definite M = S1^(1/2) S2 S1^(1/2), so Tr (S1 S2)^(1/2) = sum_i sqrt(l_i(M)).
  Both square roots come from symmetric eigen-decompositions (backward stable); eigenvalues
  below 0 are rounding noise and are clipped to 0, so no complex residue can arise. It agrees with
  'sqrtm' to rounding on well-conditioned inputs and is faster for D = 2048.

The bias of FID in the number of images (Chong & Forsyth 2020) means values are comparable only for
equal counts: NVIDIA reports 50 000 generated images against the whole data set ("fid50k_full").
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import InvalidArgumentError, MissingDependencyError
from .features import FeatureStats

log = logging.getLogger(__name__)

SQRT_METHODS = ("sqrtm", "eigh")
#: Diagonal offset used when the product of the covariances has no finite square root (pytorch-fid's).
SINGULAR_OFFSET = 1e-6
#: Largest imaginary part on the diagonal of sqrtm's result that pytorch-fid accepts.
IMAGINARY_TOLERANCE = 1e-3


def _check_gaussian(mu: np.ndarray, sigma: np.ndarray, which: str) -> tuple[np.ndarray, np.ndarray]:
    mu = np.atleast_1d(np.asarray(mu, dtype=np.float64))
    sigma = np.atleast_2d(np.asarray(sigma, dtype=np.float64))
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise InvalidArgumentError(f"{which}: mean must be [D] and covariance [D, D]; got {mu.shape} and {sigma.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise InvalidArgumentError(f"{which}: mean or covariance contains NaN or inf")
    return mu, sigma


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix; negative (rounding) eigenvalues become 0."""
    w, v = np.linalg.eigh((sigma + sigma.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def _trace_sqrt_eigh(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    r = _psd_sqrt(sigma1)
    m = r @ sigma2 @ r
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(eig, 0, None)).sum())


def _trace_sqrt_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    try:
        from scipy import linalg
    except ImportError:
        raise MissingDependencyError("FID's 'sqrtm' matrix square root needs scipy (pip install scipy); the "
                                     "'eigh' square root needs only numpy") from None
    covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        log.warning("FID: sqrt(S1 S2) is not finite (singular covariances: too few images for %d feature "
                    "dimensions?); adding %g to the diagonals", sigma1.shape[0], SINGULAR_OFFSET)
        offset = np.eye(sigma1.shape[0]) * SINGULAR_OFFSET
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        residue = float(np.abs(np.diagonal(covmean).imag).max())
        if residue > IMAGINARY_TOLERANCE:
            log.warning("FID: sqrt(S1 S2) has imaginary parts up to %.3g on its diagonal (pytorch-fid refuses "
                        "above %g); using the real part as NVIDIA does. More images or method='eigh' avoid this.",
                        residue, IMAGINARY_TOLERANCE)
        covmean = covmean.real
    return float(np.trace(covmean))


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, method: str = "sqrtm") -> float:
    """Tr((S1 S2)^(1/2)) for two covariance matrices [D, D] (see the module docstring for methods).

    Raises:
        InvalidArgumentError: unknown ``method``.
        MissingDependencyError: ``method='sqrtm'`` without scipy.
    """
    if method == "eigh":
        return _trace_sqrt_eigh(sigma1, sigma2)
    if method == "sqrtm":
        return _trace_sqrt_sqrtm(sigma1, sigma2)
    raise InvalidArgumentError(f"matrix square root method {method!r} is unknown; use one of {SQRT_METHODS}")


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     method: str = "sqrtm") -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al. 2017, Eq. 6).

    Args:
        mu1, mu2: means [D].
        sigma1, sigma2: covariances [D, D] (symmetric positive semi-definite).
        method: 'sqrtm' (scipy, as NVIDIA and pytorch-fid) or 'eigh' (numpy only).

    Returns:
        The distance, >= 0 up to rounding (identical inputs may give about -1e-10; not clipped).

    Raises:
        InvalidArgumentError: shapes do not match, values are not finite, or ``method`` is unknown.
        MissingDependencyError: ``method='sqrtm'`` without scipy.
    """
    mu1, sigma1 = _check_gaussian(mu1, sigma1, "first Gaussian")
    mu2, sigma2 = _check_gaussian(mu2, sigma2, "second Gaussian")
    if mu1.shape != mu2.shape:
        raise InvalidArgumentError(f"the Gaussians have different dimensions ({mu1.shape[0]} and {mu2.shape[0]}); "
                                   "compute both with the same feature network")
    diff = mu1 - mu2
    tr_covmean = trace_sqrt_product(sigma1, sigma2, method)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * tr_covmean)


def fid_from_stats(stats1: FeatureStats, stats2: FeatureStats, method: str = "sqrtm") -> float:
    """FID between the Gaussians of two :class:`FeatureStats` (e.g. real and generated images).

    Raises:
        InvalidArgumentError: either holds no mean/covariance or fewer than 2 items; dimensions differ.
    """
    mu1, sigma1 = stats1.mean_cov()
    mu2, sigma2 = stats2.mean_cov()
    return frechet_distance(mu1, sigma1, mu2, sigma2, method)


def fid_from_features(features1: np.ndarray, features2: np.ndarray, method: str = "sqrtm") -> float:
    """FID between two sets of feature vectors [N1, D] and [N2, D] (covariances divided by N).

    Raises:
        InvalidArgumentError: not [N, D] with N >= 2, or dimensions differ.
    """
    stats1, stats2 = FeatureStats(), FeatureStats()
    stats1.append(features1)
    stats2.append(features2)
    return fid_from_stats(stats1, stats2, method)
