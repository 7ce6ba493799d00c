"""A registry of generator metrics and one ``evaluate(...)`` that runs any of them against a data set.

Each metric is a :class:`Metric`: a name, the features it needs ('inception' for FID and KID, 'pixels'
for SWD) and a function that turns an :class:`Evaluation` (the generator, the data set, the options
and the features computed so far - shared, so FID and KID use one pass of each) into results. A new
metric is one :func:`register` call; the ``metrics`` command lists what is registered.

Names of results follow NVIDIA's metrics: ``fid50k_full`` (50k generated images against the whole
data set), ``fid10k`` (real images capped by ``max_real``); SWD adds one value per pyramid level.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import InvalidArgumentError
from ..train.data import ImageZipDataset
from .features import FeatureExtractor, FeatureStats, ImagePixels, dataset_features, generator_features
from .fid import SQRT_METHODS, fid_from_stats
from .kid import kid_subset_values
from .swd import swd

if TYPE_CHECKING:
    from ..types import Generator

log = logging.getLogger(__name__)

#: ``progress(stage, done, total)``: stage is 'real images', 'generated images' or 'SWD images'.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Options:
    """What an evaluation is run with (see :func:`evaluate` for each)."""

    num_gen: int = 50000
    max_real: int | None = None
    seed: int = 0
    noise_mode: str = "const"
    batch_size: int = 32
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    fid_sqrt: str = "sqrtm"

    def validate(self) -> None:
        for name, low in (("num_gen", 2), ("batch_size", 1), ("kid_subsets", 1), ("kid_subset_size", 2)):
            if getattr(self, name) < low:
                raise InvalidArgumentError(f"`{name}` {getattr(self, name)} must be >= {low}", param=name)
        if self.max_real is not None and self.max_real < 2:
            raise InvalidArgumentError(f"`max_real` {self.max_real} must be >= 2 (or None for all images)",
                                       param="max_real")
        if self.fid_sqrt not in SQRT_METHODS:
            raise InvalidArgumentError(f"`fid_sqrt` {self.fid_sqrt!r} must be one of {SQRT_METHODS}", param="fid_sqrt")

    def tag(self, metric: str) -> str:
        """NVIDIA-style result name: fid50k_full (all real images) or fid10k (real images capped)."""
        count = f"{self.num_gen // 1000}k" if self.num_gen % 1000 == 0 else str(self.num_gen)
        return f"{metric}{count}" + ("_full" if self.max_real is None else "")


@dataclass
class Evaluation:
    """One evaluation in progress: inputs, options, and the features computed so far (shared by metrics)."""

    G: Generator
    dataset: ImageZipDataset
    options: Options
    extractor: FeatureExtractor | None
    progress: Progress | None = None
    want_all_features: bool = False
    _inception: tuple[FeatureStats, FeatureStats] | None = None

    @property
    def num_real(self) -> int:
        total = len(self.dataset)
        return total if self.options.max_real is None else min(total, self.options.max_real)

    def _callback(self, stage: str) -> Callable[[int, int], None] | None:
        report = self.progress
        return None if report is None else (lambda done, total: report(stage, done, total))

    def _labels(self) -> np.ndarray | None:
        return self.dataset.labels.numpy() if self.dataset.labels is not None else None

    def inception_features(self) -> tuple[FeatureStats, FeatureStats]:
        """(real, generated) features of the extractor, computed once per evaluation."""
        if self._inception is None:
            assert self.extractor is not None
            o = self.options
            real = dataset_features(self.extractor, self.dataset, max_items=o.max_real, batch_size=o.batch_size,
                                    capture_all=self.want_all_features, callback=self._callback("real images"))
            gen = generator_features(self.extractor, self.G, o.num_gen, batch_size=o.batch_size, seed=o.seed,
                                     noise_mode=o.noise_mode, class_labels=self._labels(),
                                     capture_all=self.want_all_features, callback=self._callback("generated images"))
            self._inception = (real, gen)
        return self._inception

    def pixels(self, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(real, generated) uint8 images [count, 3, R, R] as float tensors."""
        o, px = self.options, ImagePixels()
        real = dataset_features(px, self.dataset, max_items=count, batch_size=o.batch_size, capture_all=True,
                                capture_mean_cov=False)
        gen = generator_features(px, self.G, count, batch_size=o.batch_size, seed=o.seed, noise_mode=o.noise_mode,
                                 class_labels=self._labels(), capture_all=True, capture_mean_cov=False,
                                 callback=self._callback("SWD images"))
        shape = (count, 3, self.G.img_resolution, self.G.img_resolution)
        return (torch.from_numpy(real.all_features().reshape(shape)),
                torch.from_numpy(gen.all_features().reshape(shape)))


@dataclass
class MetricResult:
    """What one metric reports: named values, a line for people, and notes on what was compared."""

    values: dict[str, float]
    line: str
    counts: dict[str, int] = field(default_factory=dict)
    about: str | None = None


@dataclass(frozen=True)
class Metric:
    """A registered metric: ``compute(evaluation) -> MetricResult``; ``features`` is 'inception' or 'pixels'."""

    name: str
    features: str
    compute: Callable[[Evaluation], MetricResult]
    all_features: bool = False  # needs every feature vector, not only mean and covariance (KID)
    description: str = ""
    check: Callable[[Evaluation], None] | None = None  # refuses unusable inputs before anything slow runs


METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add a metric to the registry (a later registration of the same name replaces the earlier one)."""
    if metric.features not in ("inception", "pixels"):
        raise InvalidArgumentError(f"metric {metric.name!r} needs features {metric.features!r}; "
                                   "choose 'inception' or 'pixels'")
    METRICS[metric.name] = metric
    return metric


def _fid(ev: Evaluation) -> MetricResult:
    real, gen = ev.inception_features()
    tag = ev.options.tag("fid")
    value = fid_from_stats(real, gen, method=ev.options.fid_sqrt)
    return MetricResult({tag: value}, f"{tag} = {value:.4f}")


def _kid(ev: Evaluation) -> MetricResult:
    real, gen = ev.inception_features()
    o = ev.options
    tag = o.tag("kid")
    values = kid_subset_values(real, gen, o.kid_subsets, o.kid_subset_size, seed=o.seed)
    subset = min(real.num_items, gen.num_items, o.kid_subset_size)
    return MetricResult({tag: float(values.mean())}, f"{tag} = {float(values.mean()):.6f} "
                        f"(std over {o.kid_subsets} subsets of {subset}: {values.std():.6f})")


def _same_resolution(ev: Evaluation) -> None:
    if ev.dataset.resolution != ev.G.img_resolution:
        raise InvalidArgumentError(f"SWD compares images at one resolution: the data set is {ev.dataset.resolution} "
                                   f"px, the generator makes {ev.G.img_resolution} px")


def _swd(ev: Evaluation) -> MetricResult:
    count = min(ev.num_real, ev.options.num_gen)
    real, gen = ev.pixels(count)
    per_level = swd(real, gen, seed=ev.options.seed)
    tag = f"swd{count // 1000}k" if count % 1000 == 0 else f"swd{count}"
    values = {tag: per_level[0], **{f"{tag}_{res}px": v for res, v in per_level.items() if res}}
    levels = ", ".join(f"{res} px {v:.2f}" for res, v in per_level.items() if res)
    return MetricResult(values, f"{tag} = {per_level[0]:.3f} (x 1e3; per level: {levels})",
                        counts={"swd_images": count}, about=f"SWD: {count} generated vs {count} real images")


register(Metric("fid", "inception", _fid, description="Fréchet Inception Distance (Heusel et al. 2017)"))
register(Metric("kid", "inception", _kid, all_features=True,
                description="Kernel Inception Distance (Binkowski et al. 2018)"))
register(Metric("swd", "pixels", _swd, check=_same_resolution,
                description="sliced Wasserstein distance of Laplacian-pyramid patches (Karras et al. 2018), x 1e3"))


@dataclass
class Report:
    """The results of :func:`evaluate`."""

    results: dict[str, float]
    lines: list[str]
    about: list[str]
    counts: dict[str, int]
    features: str | None
    options: Options

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: results, image counts, the feature network and the options."""
        o = self.options
        return {"results": self.results, **self.counts, "features": self.features, "seed": o.seed,
                "noise_mode": o.noise_mode, "fid_sqrt": o.fid_sqrt, "kid_subsets": o.kid_subsets,
                "kid_subset_size": o.kid_subset_size}


def evaluate(G: Generator, dataset: ImageZipDataset | str | Path, metrics: Sequence[str] = ("fid",), *,
             num_gen: int = 50000, max_real: int | None = None, mirror: bool = False, seed: int = 0,
             noise_mode: str = "const", batch_size: int = 32, kid_subsets: int = 100, kid_subset_size: int = 1000,
             fid_sqrt: str = "sqrtm", extractor: FeatureExtractor | None = None,
             inception_path: str | Path | None = None, download: bool = False, device: str | torch.device = "cpu",
             progress: Progress | None = None) -> Report:
    """Run registered metrics (:data:`METRICS`) of generator ``G`` against a data set.

    Args:
        G: the generator.
        dataset: an :class:`~styleblend.train.data.ImageZipDataset`, or a zip/folder path (read with
            ``mirror`` x-flips, as a data set trained with ``--mirror``).
        metrics: names from :data:`METRICS`, e.g. ('fid', 'kid', 'swd').
        num_gen: generated images (50000 as published); max_real: cap on real images (None: all).
        seed: first seed of the generated images (and of KID's subsets and SWD's patches).
        noise_mode, batch_size: how images are generated.
        kid_subsets, kid_subset_size: KID's subset pairs and their size.
        fid_sqrt: FID's matrix square root, 'sqrtm' (scipy, as NVIDIA and pytorch-fid) or 'eigh' (numpy).
        extractor: the feature network for Inception metrics; None loads pytorch-fid's Inception-v3
            (``inception_path``, the torch hub cache, or a download when ``download``) - before anything
            slow runs, so missing weights fail at once.
        device: where the feature network runs.
        progress: ``progress(stage, done, total)`` after each batch.
    Returns:
        A :class:`Report`.
    Raises:
        InvalidArgumentError: an unknown metric, bad options, or SWD at two resolutions.
        MissingWeightsError: Inception metrics without Inception weights.
    """
    names = list(dict.fromkeys(metrics))
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise InvalidArgumentError(f"unknown metric(s) {unknown or names} in "
                                   f"`metrics`; choose from {', '.join(METRICS)}",
                                   param="metrics")
    options = Options(num_gen=num_gen, max_real=max_real, seed=seed, noise_mode=noise_mode, batch_size=batch_size,
                      kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, fid_sqrt=fid_sqrt)
    options.validate()
    chosen = [METRICS[n] for n in names]
    needs_inception = any(m.features == "inception" for m in chosen)
    if needs_inception and extractor is None:
        from .inception import load_inception

        extractor = load_inception(inception_path, device, download=download)
    if not isinstance(dataset, ImageZipDataset):
        dataset = ImageZipDataset(dataset, xflip=mirror)
    if dataset.resolution != G.img_resolution and needs_inception:
        log.warning("the data set is %d px but the generator makes %d px images; both are resized for the features",
                    dataset.resolution, G.img_resolution)
    ev = Evaluation(G, dataset, options, extractor if needs_inception else None, progress,
                    want_all_features=any(m.all_features for m in chosen))
    for metric in chosen:
        if metric.check is not None:
            metric.check(ev)
    results: dict[str, float] = {}
    lines: list[str] = []
    counts: dict[str, int] = {}
    about: list[str] = []
    for metric in chosen:
        out = metric.compute(ev)
        results.update(out.values)
        lines.append(out.line)
        counts.update(out.counts)
        if out.about:
            about.append(out.about)
    if ev._inception is not None and extractor is not None:  # inception features come from the extractor
        real, gen = ev._inception
        counts.update(num_gen=gen.num_items, num_real=real.num_items)
        about.insert(0, f"{gen.num_items} generated vs {real.num_items} real images; features: {extractor.name}")
    return Report(results, lines, about, counts, extractor.name if needs_inception and extractor else None, options)
