"""Feature extractors and feature statistics of data sets and generators, for FID and KID.

A feature extractor is any callable ``images uint8 [N, 3, H, W] -> features [N, D]`` with a
``name`` and a ``feature_dim`` (:class:`FeatureExtractor`); the standard one is Inception-v3
(:func:`styleblend.metrics.inception.load_inception`). :class:`StandInFeatures` is a fixed random
convolutional network for tests and examples only: its numbers are *not* FID or KID.

:func:`dataset_features` and :func:`generator_features` run an extractor over real images (a zip or
folder read by :class:`~styleblend.train.data.ImageZipDataset`) or over generated images, and
collect a :class:`FeatureStats`: the running mean and covariance in float64 (for FID) and, when
asked, every feature vector (for KID). Generated images follow NVIDIA's metrics: z ~ N(0, I),
labels drawn from the data set for conditional models, truncation psi 1, and the generator output
turned into uint8 with ``(img * 127.5 + 128).clamp(0, 255)``, grayscale repeated to RGB. Unlike
NVIDIA (who draws z from an unseeded generator) z comes from consecutive seeds with
:func:`styleblend.latents.seeds.z_from_seeds`, so a run is reproducible and any image can be
regenerated with ``styleblend generate --seeds``; noise is constant by default.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InvalidArgumentError
from ..latents.seeds import z_from_seeds

if TYPE_CHECKING:
    from ..train.data import ImageZipDataset
    from ..types import Generator

log = logging.getLogger(__name__)

#: ``callback(done, total)`` after each batch; an exception raised by it aborts the computation.
ProgressCallback = Callable[[int, int], None]


class FeatureExtractor(Protocol):
    """Images uint8 [N, 3, H, W] (any H, W) -> features [N, feature_dim] (float32/64, any device)."""

    name: str
    feature_dim: int

    def __call__(self, images: torch.Tensor) -> torch.Tensor: ...


class FeatureStats:
    """Accumulates feature vectors: mean and covariance in float64, and optionally all vectors.

    The covariance is the population covariance (divided by N), as NVIDIA's metrics compute it;
    pytorch-fid's ``np.cov`` divides by N - 1, a relative difference of 1/N. Batches are merged with
    the pairwise update of Chan, Golub & LeVeque (1979), which keeps centred sums and so avoids the
    cancellation of ``E[x x^T] - mu mu^T`` when the mean is large compared with the spread.

    Args:
        capture_all: keep every feature vector (float32), as KID needs.
        capture_mean_cov: keep the running mean and covariance, as FID needs.
    """

    def __init__(self, capture_all: bool = False, capture_mean_cov: bool = True) -> None:
        self.capture_all = capture_all
        self.capture_mean_cov = capture_mean_cov
        self.num_items = 0
        self.feature_dim: int | None = None
        self._chunks: list[np.ndarray] = []
        self._mean: np.ndarray | None = None
        self._m2: np.ndarray | None = None  # sum of outer products of deviations from the mean

    def append(self, features: np.ndarray | torch.Tensor) -> None:
        """Add a batch of feature vectors [B, D].

        Raises:
            InvalidArgumentError: not 2-D, a different D than before, or not finite.
        """
        if isinstance(features, torch.Tensor):
            features = features.detach().to("cpu", torch.float64).numpy()
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2:
            raise InvalidArgumentError(f"features must be a [N, D] array; got shape {x.shape}")
        if self.feature_dim is None:
            self.feature_dim = x.shape[1]
        elif x.shape[1] != self.feature_dim:
            raise InvalidArgumentError(f"features of dimension {x.shape[1]} cannot join statistics of dimension "
                                       f"{self.feature_dim}; use one feature extractor throughout")
        if not np.isfinite(x).all():
            raise InvalidArgumentError("features contain NaN or inf; the images or the feature network are broken")
        n_b = x.shape[0]
        if n_b == 0:
            return
        if self.capture_all:
            self._chunks.append(x.astype(np.float32))
        if self.capture_mean_cov:
            mean_b = x.mean(axis=0)
            centred = x - mean_b
            m2_b = centred.T @ centred
            if self._mean is None:
                self._mean, self._m2 = mean_b, m2_b
            else:
                n = self.num_items
                delta = mean_b - self._mean
                self._mean = self._mean + delta * (n_b / (n + n_b))
                self._m2 = self._m2 + m2_b + np.outer(delta, delta) * (n * n_b / (n + n_b))
        self.num_items += n_b

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(mean [D], covariance [D, D])`` in float64 (covariance divided by N).

        Raises:
            InvalidArgumentError: nothing was captured, or fewer than 2 items.
        """
        if not self.capture_mean_cov or self._mean is None or self._m2 is None:
            raise InvalidArgumentError("these feature statistics hold no mean/covariance (capture_mean_cov=False "
                                       "or no items)")
        if self.num_items < 2:
            raise InvalidArgumentError(f"a covariance needs at least 2 images; got {self.num_items}")
        return self._mean.copy(), self._m2 / self.num_items

    def all_features(self) -> np.ndarray:
        """Every captured feature vector, float32 [N, D].

        Raises:
            InvalidArgumentError: created without ``capture_all``.
        """
        if not self.capture_all:
            raise InvalidArgumentError("these feature statistics did not keep the vectors; use capture_all=True (KID)")
        if not self._chunks:
            return np.zeros((0, self.feature_dim or 0), dtype=np.float32)
        return np.concatenate(self._chunks)


class StandInFeatures:
    """A tiny fixed random conv net: a stand-in for Inception in tests. NOT FID/KID features.

    Images are box-resized to 32x32, mapped to [-1, 1], sent through two 3x3 stride-2 convolutions
    with ReLU (weights drawn once from ``seed``, so every instance with the same seed is identical)
    and summarised per channel by mean and standard deviation, plus the per-channel colour mean
    and standard deviation of the image: ``feature_dim = 2 * channels + 6``. It reacts to colour
    and texture, which is all the tests of the metric plumbing need.
    """

    def __init__(self, channels: int = 16, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.w1 = torch.randn(channels, 3, 3, 3, generator=gen) / (27 ** 0.5)
        self.w2 = torch.randn(channels, channels, 3, 3, generator=gen) / ((9 * channels) ** 0.5)
        self.feature_dim = 2 * channels + 6
        self.name = "stand-in random conv features (testing only; NOT Inception, NOT comparable FID/KID)"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 3:
            raise InvalidArgumentError(f"features need uint8 images [N, 3, H, W]; got {images.dtype} "
                                       f"{tuple(images.shape)}")
        x = images.to("cpu", torch.float64) / 127.5 - 1
        x = F.adaptive_avg_pool2d(x, 32)
        h = F.relu(F.conv2d(x, self.w1.double(), stride=2, padding=1))
        h = F.relu(F.conv2d(h, self.w2.double(), stride=2, padding=1))
        parts = [h.mean(dim=(2, 3)), h.std(dim=(2, 3)), x.mean(dim=(2, 3)), x.std(dim=(2, 3))]
        return torch.cat(parts, dim=1)


class ImagePixels:
    """The images themselves as 'features' (uint8 values as float32), for metrics that work on pixels (SWD)."""

    name = "pixels"
    feature_dim = 0  # any: C * H * W of the images given

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images.to(torch.float32).flatten(1)


def _check_batch(batch_size: int) -> None:
    if batch_size < 1:
        raise InvalidArgumentError(f"batch size {batch_size} must be >= 1")


def dataset_features(extractor: FeatureExtractor, dataset: ImageZipDataset | str | Path, *,
                     max_items: int | None = None, batch_size: int = 64, capture_all: bool = False,
                     capture_mean_cov: bool = True, callback: ProgressCallback | None = None) -> FeatureStats:
    """Features of the first ``max_items`` images of a data set (all of them by default).

    Args:
        extractor: the feature network.
        dataset: an :class:`~styleblend.train.data.ImageZipDataset` or the path of a zip/folder to
            read with it (no labels, no mirroring; pass a dataset built with ``xflip=True`` to
            include mirrored copies as NVIDIA's ``--mirror`` training sets do).
        max_items: cap on images (NVIDIA's ``max_real``); ``None`` uses every item.
        batch_size: images per extractor call.
        capture_all, capture_mean_cov: what :class:`FeatureStats` keeps.
        callback: ``callback(done, total)`` after each batch.

    Returns:
        The :class:`FeatureStats` of the images.

    Raises:
        ImageError: the data set cannot be read.
        InvalidArgumentError: ``max_items`` < 1 or ``batch_size`` < 1.
    """
    from ..train.data import ImageZipDataset

    _check_batch(batch_size)
    if max_items is not None and max_items < 1:
        raise InvalidArgumentError(f"max_items {max_items} must be >= 1 (or None for the whole data set)")
    if not isinstance(dataset, ImageZipDataset):
        dataset = ImageZipDataset(dataset, use_labels=False)
    total = len(dataset) if max_items is None else min(len(dataset), max_items)
    stats = FeatureStats(capture_all=capture_all, capture_mean_cov=capture_mean_cov)
    for start in range(0, total, batch_size):
        images, _ = dataset.get_batch(torch.arange(start, min(start + batch_size, total)))
        stats.append(extractor(images))
        if callback is not None:
            callback(stats.num_items, total)
    return stats


def generated_uint8(img: torch.Tensor) -> torch.Tensor:
    """Generator output [N, C, H, W] in about [-1, 1] -> uint8 [N, 3, H, W] as NVIDIA's metrics.

    ``(img * 127.5 + 128).clamp(0, 255)`` truncated to uint8; one channel is repeated to three.
    """
    x = (img.detach().to(torch.float32) * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return x


def generator_features(extractor: FeatureExtractor, G: Generator, num_gen: int, *, batch_size: int = 16,
                       seed: int = 0, truncation_psi: float = 1.0, noise_mode: str = "const",
                       class_labels: Sequence[int] | np.ndarray | torch.Tensor | None = None,
                       capture_all: bool = False, capture_mean_cov: bool = True,
                       callback: ProgressCallback | None = None) -> FeatureStats:
    """Features of ``num_gen`` generated images (NVIDIA: 50 000).

    Image ``i`` uses z of seed ``seed + i`` (NVIDIA's per-seed convention), so the set is the
    same for every run and batch size.

    Args:
        extractor: the feature network.
        G: a generator (``G(z, c, truncation_psi=..., noise_mode=...)``, attributes ``z_dim``,
            ``c_dim``), e.g. from ``load_checkpoint(path).generator(device)``.
        num_gen: number of images, >= 1.
        batch_size: images per generator call.
        seed: first seed; seeds ``seed .. seed + num_gen - 1`` must lie in [0, 2**32).
        truncation_psi: 1 for the metrics as published.
        noise_mode: 'const' (default), 'random' or 'none'.
        class_labels: for conditional generators, the class indices to draw labels from (the data
            set's labels, as NVIDIA does), sampled uniformly with a generator seeded by ``seed``.
        capture_all, capture_mean_cov: what :class:`FeatureStats` keeps.
        callback: ``callback(done, num_gen)`` after each batch.

    Returns:
        The :class:`FeatureStats` of the generated images.

    Raises:
        InvalidArgumentError: bad counts or seeds, or a conditional generator without usable labels.
    """
    _check_batch(batch_size)
    if num_gen < 1:
        raise InvalidArgumentError(f"num_gen {num_gen} must be >= 1")
    if seed < 0 or seed + num_gen > 2**32:
        raise InvalidArgumentError(f"seeds {seed}..{seed + num_gen - 1} must lie in [0, 2**32); choose another seed")
    device = next(G.parameters()).device
    c_dim = int(getattr(G, "c_dim", 0))
    labels: np.ndarray | None = None
    if c_dim > 0:
        if class_labels is None or len(class_labels) == 0:
            raise InvalidArgumentError(f"the generator is conditional (c_dim={c_dim}) but no class labels were given; "
                                       "use a data set with labels (dataset.json) so labels can be drawn from it")
        pool = np.asarray(class_labels, dtype=np.int64).reshape(-1)
        if pool.min() < 0 or pool.max() >= c_dim:
            raise InvalidArgumentError(f"class labels must lie in [0, {c_dim}) for this generator; got "
                                       f"{int(pool.min())}..{int(pool.max())}")
        labels = pool[np.random.RandomState(seed % 2**32).randint(len(pool), size=num_gen)]
    stats = FeatureStats(capture_all=capture_all, capture_mean_cov=capture_mean_cov)
    for start in range(0, num_gen, batch_size):
        stop = min(start + batch_size, num_gen)
        z = z_from_seeds(range(seed + start, seed + stop), G.z_dim, device=device)
        c = None
        if labels is not None:
            c = F.one_hot(torch.from_numpy(labels[start:stop]), c_dim).to(device=device, dtype=torch.float32)
        with torch.no_grad():
            img = G(z, c, truncation_psi=truncation_psi, noise_mode=noise_mode)
        stats.append(extractor(generated_uint8(img)))
        if callback is not None:
            callback(stats.num_items, num_gen)
    return stats
