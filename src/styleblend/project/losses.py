"""Projection losses with one small signature, and their weighted sum.

Every image loss is a callable ``loss(synth, target) -> scalar tensor`` taking two batches
[N, C, H, W] in the generator's range [-1, 1]. :class:`WeightedLoss` adds named terms with weights and
reports each term, so a method is just a list of ``LossTerm(name, weight, fn)``.

Losses that compare features of the (fixed) target cache them by tensor identity, so repeated calls
with the same target tensor cost one feature pass per step, not two.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import torch
import torch.nn.functional as F

from ..metrics.quality import ms_ssim
from ..perceptual.lpips import LPIPS
from ..perceptual.vgg import VGG16Features, resize_for_vgg
from .settings import LOSS_KINDS

if TYPE_CHECKING:
    from ..nn.discriminator import Discriminator

log = logging.getLogger(__name__)

#: VGG-16 layers of Image2StyleGAN's perceptual loss (Abdal, Qin & Wonka 2019, Sec. 4 / Eq. 2).
IMAGE2STYLEGAN_LAYERS = ("conv1_1", "conv1_2", "conv3_2", "conv4_2")


class ImageLoss(Protocol):
    """``loss(synth, target) -> scalar``; both [N, C, H, W] in [-1, 1]."""

    def __call__(self, synth: torch.Tensor, target: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class LossTerm:
    """One named, weighted term of a projection loss."""

    name: str
    weight: float
    fn: ImageLoss


class WeightedLoss:
    """L = sum_k weight_k * term_k(synth, target); also reports every unweighted term as a float.

    ``kind`` names the family for the user ('pixel', 'vgg', 'dfeat' - see :data:`LOSS_KINDS`), '' if custom.
    """

    def __init__(self, terms: Sequence[LossTerm], kind: str = "") -> None:
        if not terms:
            raise ValueError("a projection loss needs at least one term")
        self.terms = list(terms)
        self.kind = kind

    def __call__(self, synth: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        total = synth.new_zeros([])
        parts: dict[str, float] = {}
        for term in self.terms:
            value = term.fn(synth, target)
            parts[term.name] = float(value.detach())
            total = total + term.weight * value
        return total, parts

    def describe(self) -> str:
        return " + ".join(f"{t.weight:g}*{t.name}" for t in self.terms)


def _unit(img: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1]."""
    return (img + 1) * 0.5


def pixel_mse(synth: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(1/N) ||G(w) - I||^2 with pixel values in [0, 1] (Image2StyleGAN's pixel term).

    The paper does not state the pixel range; [0, 1] is the convention of its common reimplementations
    and matches the [0, 1] input VGG-16 is normalised from.
    """
    return (_unit(synth) - _unit(target)).square().mean()


def ms_ssim_loss(synth: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - MS-SSIM (Wang et al. 2003), a structural term for when no VGG weights are available."""
    return 1 - ms_ssim(synth, target, data_range=2.0).mean()


class _TargetCache:
    """Remembers features of the last target tensor (by identity and version) to skip recomputing them."""

    def __init__(self) -> None:
        self._key: tuple[int, int] | None = None
        self._value: dict[str, torch.Tensor] | None = None

    def get(self, target: torch.Tensor, compute) -> dict[str, torch.Tensor]:
        key = (id(target), target._version)
        if self._key != key or self._value is None:
            with torch.no_grad():
                self._value = compute(target)
            self._key = key
        return self._value


class VGGPerceptualLoss:
    """Image2StyleGAN's perceptual loss: sum_j (lambda_j / N_j) ||F_j(G(w)) - F_j(I)||^2.

    F_j are post-ReLU VGG-16 activations of ``layers`` (conv1_1, conv1_2, conv3_2, conv4_2, lambda_j = 1),
    N_j the number of scalars in F_j, on images resized to ``size`` x ``size`` (256 in the paper).
    """

    def __init__(self, vgg: VGG16Features, layers: Sequence[str] = IMAGE2STYLEGAN_LAYERS, size: int = 256,
                 layer_weights: Sequence[float] | None = None) -> None:
        self.vgg, self.layers, self.size = vgg, tuple(layers), size
        self.layer_weights = tuple(layer_weights) if layer_weights is not None else (1.0,) * len(self.layers)
        self._cache = _TargetCache()

    def _features(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.vgg(resize_for_vgg(img, self.size), self.layers)

    def __call__(self, synth: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        tf = self._cache.get(target, self._features)
        sf = self._features(synth)
        loss = synth.new_zeros([])
        for name, lam in zip(self.layers, self.layer_weights):
            loss = loss + lam * (sf[name] - tf[name]).square().mean()
        return loss


class LPIPSLoss:
    """The LPIPS-style distance (:class:`~styleblend.perceptual.lpips.LPIPS`, NVIDIA's projector objective)
    as a loss: its mean over the batch, with the fixed target's features computed once.
    """

    def __init__(self, vgg: VGG16Features, max_size: int = 256) -> None:
        self.lpips = LPIPS(vgg, max_size)
        self.learned = self.lpips.learned
        self._cache = _TargetCache()

    def __call__(self, synth: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        tf = self._cache.get(target, self.lpips.features)
        return self.lpips.from_features(self.lpips.features(synth), tf).mean()


class DiscriminatorFeatureDistance:
    """A perceptual distance from the model's own discriminator: no downloaded weights needed.

    d(x, y) = sum_l mean_hw sum_c (f^l_chw(x) / ||f^l_hw(x)|| - f^l_chw(y) / ||f^l_hw(y)||)^2

    with f^l the discriminator activations of :meth:`~styleblend.nn.Discriminator.features` (the first conv
    of every block at its resolution, img_resolution ... 8, then the 4x4 output of the last block) and
    ||f^l_hw|| the norm over channels at one position (+1e-10): the LPIPS recipe (Zhang et al. 2018, Eq. 1)
    with unit weights, on D's features instead of VGG-16's. Each layer contributes a value in [0, 4], so
    d is in [0, 4 * (number of blocks + 1)] and 0 exactly when the features agree at every position.

    Why D: it was trained on the model's own domain, at the model's resolution, to tell real from generated
    images - so its features are sensitive to the differences the generator can and cannot produce,
    and every NVIDIA snapshot and styleblend checkpoint carries one. Images go in at D's resolution
    (the generator's), in [-1, 1], like D saw them in training. D is used frozen.
    """

    def __init__(self, discriminator: Discriminator) -> None:
        self.D = discriminator.eval().requires_grad_(False)
        self._cache = _TargetCache()

    def _features(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.D.features(img)
        return {str(i): f / (f.square().sum(dim=1, keepdim=True).sqrt() + 1e-10) for i, f in enumerate(feats)}

    def __call__(self, synth: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        tf = self._cache.get(target, self._features)
        sf = self._features(synth)
        loss = synth.new_zeros([])
        for name, feat in sf.items():
            loss = loss + (feat - tf[name]).square().sum(dim=1).mean()
        return loss


def noise_regularization(noise_bufs: Iterable[torch.Tensor]) -> torch.Tensor:
    """NVIDIA's noise regulariser (Karras et al. 2020, StyleGAN2 Appendix D / projector.py).

    L = sum_{i,j} (mean_xy n_ij(x, y) n_ij(x - 1, y))^2 + (mean_xy n_ij(x, y) n_ij(x, y - 1))^2 over every
    noise map n_i0 = n_i and its 2x average-pooled pyramid n_ij down to 8x8 (shifts wrap around): the
    squared autocorrelation at a one-pixel shift, so the optimiser cannot hide image content in the noise
    inputs (which should stay white). Maps are [H, W] (one image) or [N, 1, H, W] (a batch; the result is
    the mean over the batch of each image's L). For white N(0, 1) maps the expected value is 2 / (H W) per
    map at 8x8 and below, about (8/3) / (H W) with the pyramid - 0.125 for a 4x4 map, 0.031 for 8x8 - which
    the weight 1e5 turns into a loss of thousands, far above any image term, until the optimiser has
    decorrelated the maps.
    """
    reg = None
    for buf in noise_bufs:
        noise = buf[None, None] if buf.ndim == 2 else buf
        while True:
            term = (noise * torch.roll(noise, shifts=1, dims=3)).mean(dim=(1, 2, 3)).square() \
                + (noise * torch.roll(noise, shifts=1, dims=2)).mean(dim=(1, 2, 3)).square()
            reg = term if reg is None else reg + term
            if noise.shape[2] <= 8:
                break
            noise = F.avg_pool2d(noise, kernel_size=2)
    return reg.mean() if reg is not None else torch.zeros([])


def image2stylegan_loss(vgg: VGG16Features) -> WeightedLoss:
    """Image2StyleGAN's objective: perceptual (4 VGG layers, 256x256) + 1 * pixel MSE."""
    return WeightedLoss([LossTerm("perceptual", 1.0, VGGPerceptualLoss(vgg)), LossTerm("mse", 1.0, pixel_mse)],
                        kind="vgg")


def nvidia_loss(vgg: VGG16Features) -> WeightedLoss:
    """NVIDIA's projector objective: the LPIPS-style distance only (noise regularisation is added by the loop)."""
    return WeightedLoss([LossTerm("lpips", 1.0, LPIPSLoss(vgg))], kind="vgg")


#: Weight of the pixel MSE beside the discriminator-feature distance (see :func:`dfeat_loss`).
DFEAT_MSE_WEIGHT = 1.0


def dfeat_loss(discriminator: Discriminator) -> WeightedLoss:
    """The perceptual loss without downloaded weights: D-feature distance + DFEAT_MSE_WEIGHT * pixel MSE.

    The MSE term (pixels in [0, 1]) keeps colours exact, which unit-normalised features ignore by
    design (LPIPS is blind to a feature vector's length); see docs/projection.md for the measurements.
    """
    return WeightedLoss([LossTerm("dfeat", 1.0, DiscriminatorFeatureDistance(discriminator)),
                         LossTerm("mse", DFEAT_MSE_WEIGHT, pixel_mse)], kind="dfeat")


def pixel_fallback_loss() -> WeightedLoss:
    """What every method uses without VGG weights: pixel MSE + 0.1 * (1 - MS-SSIM).

    MSE (pixels in [0, 1]) drives colours and fine detail; the MS-SSIM term adds structure at coarse
    scales. The 0.1 weight keeps it from dominating the MSE gradient (1 - MS-SSIM is about 10x larger than
    the MSE at the start of a projection).
    """
    return WeightedLoss([LossTerm("mse", 1.0, pixel_mse), LossTerm("ms_ssim", 0.1, ms_ssim_loss)], kind="pixel")


#: The loss families ``loss`` chooses from.

FALLBACK_WARNING = ("no VGG-16 weights and no discriminator: using pixel MSE + MS-SSIM instead of the {method} "
                    "method's perceptual loss; reconstructions will be blurrier. Pass `vgg_path` or `download` to use "
                    "VGG-16, or `discriminator` (a checkpoint of this model that has D) for `loss` 'dfeat'.")
#: The parameters :data:`FALLBACK_WARNING` speaks of (a front end may name them its own way).
FALLBACK_PARAMS = ("vgg_path", "download", "discriminator", "loss")


def loss_for_method(method: str, vgg: VGG16Features | None) -> WeightedLoss:
    """The loss of a method ('image2stylegan', 'nvidia', 'fast'); the pixel fallback when ``vgg`` is None."""
    if vgg is None:
        return pixel_fallback_loss()
    if method == "nvidia":
        return nvidia_loss(vgg)
    return image2stylegan_loss(vgg)


def resolve_loss(method: str, vgg_path: str | None = None, download: bool = False,
                 device: str | torch.device = "cpu", *, kind: str | None = None,
                 discriminator: Discriminator | None = None) -> tuple[WeightedLoss, VGG16Features | None, str | None]:
    """Build the loss of ``method`` from the family ``kind``; ``loss.kind`` says which one it is.

    kind None chooses: 'vgg' when VGG-16 weights can be found (``vgg_path``, the torch hub cache, or a
    permitted download), else 'dfeat' when a ``discriminator`` of the model is given, else 'pixel' with a
    visible warning. An explicit kind is honoured or is an error: 'vgg' whose weights are missing raises
    MissingWeightsError, 'dfeat' without a discriminator raises InvalidArgumentError.

    Returns (loss, vgg or None, warning or note text or None). The text is also logged; a CLI should print it.
    """
    from ..errors import InvalidArgumentError, MissingWeightsError
    from ..perceptual.vgg import load_vgg16
    from ..weights import download_allowed

    if kind is not None and kind not in LOSS_KINDS:
        raise InvalidArgumentError(f"`loss` {kind!r} must be one of {LOSS_KINDS}", param="loss")
    if kind == "pixel":
        return pixel_fallback_loss(), None, None
    if kind == "dfeat":
        if discriminator is None:
            raise InvalidArgumentError("`loss` 'dfeat' needs the model's discriminator, and this checkpoint has none; "
                                       "pass `discriminator` (a snapshot of the same model that has D) or "
                                       "choose `loss` 'pixel'", param=("loss", "discriminator"))
        return dfeat_loss(discriminator), None, None
    try:
        vgg = load_vgg16(vgg_path, download=download, device=device)
    except MissingWeightsError:
        if kind == "vgg" or vgg_path is not None or download_allowed(download):
            raise
        if discriminator is not None:
            dfeat_note = ("no VGG-16 weights: using the discriminator-feature loss (dfeat: the model's own D as "
                          f"the perceptual distance + pixel MSE) for the {method} method")
            log.info(dfeat_note)
            return dfeat_loss(discriminator), None, dfeat_note
        warning = FALLBACK_WARNING.format(method=method)
        log.warning(warning, extra={"params": FALLBACK_PARAMS})
        return pixel_fallback_loss(), None, warning
    note: str | None = None
    if method == "nvidia" and vgg.lpips_weights is None:
        note = ("the nvidia method's LPIPS distance uses unit-normalised VGG-16 features without LPIPS's learned "
                "weights (torchvision weights, not NVIDIA's vgg16.pt), so it is close to but not NVIDIA's distance")
        log.info(note)
    return loss_for_method(method, vgg), vgg, note
