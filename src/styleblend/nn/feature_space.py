"""Render a StyleGAN2 generator from W+ *and* a feature map at one block (the "FS" space).

A W+ latent alone styles every layer but says nothing spatial beyond the 4x4 constant, so an encoder that
predicts only W+ from a pooled CNN loses detail (issue 17: 18.4 dB where optimisation reaches 23.8). The
Feature-Style encoder (Yao et al., ECCV 2022) and Barbershop's FS space (Zhu et al., 2021) also predict the
generator's own feature map at a coarse block r and let the blocks above r render from it with the W+ rows:

    (x_r, img_r) = blocks 4..r (ws)              the generator's own features and skip image at block r
    image        = blocks 2r..R (ws, feats, img_r)

where ``feats`` replaces ``x_r``. With the generator's own ``x_r`` this is ``G.synthesis(ws)`` bit for bit
(tests/nn/test_feature_space.py).

**Through a blend** (:func:`blend_features`): the pair came from the base, so a blend gets the pair's
*change* of the base's features, added to its own:

    feats_blend = x_r^blend(ws) + (feats - x_r^base(ws))

When the blend's blocks up to r are the base's (α = 0 there: ``Swap(r, flip=True)`` and the like), its
``x_r`` is the base's and this is ``feats`` itself. The paper's layer swap (``Swap(16)``: blocks <= 16 from
the transfer) is the other case: there the transfer's coarse blocks make the toon, and putting the base's
features in their place would give back the base's reconstruction (measured in docs/projection.md), so the
residual carries only the detail the W+ latent missed.

The skip image at block r (skip architecture) is always recomputed from the ws rows of blocks <= r; only
the features are replaced.

StyleGAN2 generators only: a StyleGAN3 synthesis network has no blocks of fixed resolution.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..config import GeneratorConfig
from ..errors import InvalidArgumentError
from .synthesis import SynthesisNetwork

if TYPE_CHECKING:
    from ..types import Generator


def _parts(G: Generator, block_res: int) -> tuple[GeneratorConfig, SynthesisNetwork]:
    cfg, synthesis = getattr(G, "cfg", None), getattr(G, "synthesis", None)
    if not isinstance(cfg, GeneratorConfig) or not isinstance(synthesis, SynthesisNetwork):
        raise InvalidArgumentError(f"rendering from features needs a StyleGAN2 generator (per-resolution synthesis "
                                   f"blocks); this is a {type(cfg).__name__}")
    inner = [int(r) for r in cfg.block_resolutions[:-1]]
    if block_res not in inner:
        raise InvalidArgumentError(f"feature block {block_res} px is not an inner block of this {cfg.img_resolution} "
                                   f"px model; choose one of {inner}", param="block_res")
    return cfg, synthesis


def check_block(G: Generator, block_res: int) -> int:
    """The channels of block ``block_res``'s features; raises unless G is StyleGAN2 and r is an inner block."""
    cfg, _ = _parts(G, block_res)
    return int(cfg.channels(block_res))


def _check_ws(G: Generator, ws: torch.Tensor) -> None:
    if ws.ndim != 3 or tuple(ws.shape[1:]) != (int(G.num_ws), int(G.w_dim)):
        raise InvalidArgumentError(f"ws has shape {tuple(ws.shape)}; this model expects [N, {G.num_ws}, {G.w_dim}]")


def block_output(G: Generator, ws: torch.Tensor, block_res: int, noise_mode: str = "const",
                 fused_modconv: bool | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The generator's own state after block ``block_res``: features [N, C, r, r] and the skip image
    [N, img_channels, r, r] (None unless the architecture is 'skip'). Gradients flow if enabled."""
    _, synthesis = _parts(G, block_res)
    _check_ws(G, ws)
    return synthesis.run_blocks(ws, None, None, last=block_res, noise_mode=noise_mode, fused_modconv=fused_modconv)


def synthesize_from_features(G: Generator, ws: torch.Tensor, feats: torch.Tensor, block_res: int,
                             noise_mode: str = "const", fused_modconv: bool | None = None) -> torch.Tensor:
    """Render ``ws`` [N, num_ws, w_dim] with block ``block_res``'s features replaced by ``feats`` [N, C, r, r]:
    float32 images [N, img_channels, R, R] (about [-1, 1]). ``G`` may be a blended generator (see the module
    docstring for when that is a toonify of the pair). Gradients flow to ws and feats if enabled;
    ``fused_modconv`` as ``G.synthesis`` (None: fused at inference).

    Raises:
        InvalidArgumentError: not StyleGAN2, a block that is not inner, or shapes that do not fit.
    """
    cfg, synthesis = _parts(G, block_res)
    channels = int(cfg.channels(block_res))
    _check_ws(G, ws)
    expected = (ws.shape[0], channels, block_res, block_res)
    if tuple(feats.shape) != expected:
        raise InvalidArgumentError(f"features have shape {tuple(feats.shape)}; block {block_res} of this model "
                                   f"needs {list(expected)} for {ws.shape[0]} latents")
    img = None
    if cfg.synthesis.architecture == "skip":
        # The skip image at r comes from the ws rows of blocks <= r; the features themselves are replaced.
        _, img = synthesis.run_blocks(ws, None, None, last=block_res, noise_mode=noise_mode,
                                      fused_modconv=fused_modconv)
    above = cfg.block_resolutions[list(cfg.block_resolutions).index(block_res) + 1]
    _, out = synthesis.run_blocks(ws, feats, img, first=above, noise_mode=noise_mode, fused_modconv=fused_modconv)
    assert out is not None  # the last block always has a torgb
    return out


def blend_features(base: Generator, blend: Generator, ws: torch.Tensor, feats: torch.Tensor, block_res: int,
                   noise_mode: str = "const") -> torch.Tensor:
    """The features to render ``(ws, feats)`` (a pair for ``base``) through ``blend`` at ``block_res``:
    the blend's own features plus the pair's change of the base's (see the module docstring); exactly
    ``feats`` when the blend's blocks up to r are the base's. Both generators of one architecture."""
    if getattr(base, "cfg", None) != getattr(blend, "cfg", None):
        raise InvalidArgumentError("the blend's architecture differs from the base's; features carry over only "
                                   "between a base and blends of it (same architecture)")
    own_base, _ = block_output(base, ws, block_res, noise_mode=noise_mode)
    own_blend, _ = block_output(blend, ws, block_res, noise_mode=noise_mode)
    if torch.equal(own_base, own_blend):
        return feats  # the blend computes the base's features here: no rounding of feats - x + x
    return own_blend + (feats.to(own_blend.dtype) - own_base)
