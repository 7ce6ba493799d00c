"""Crossover of W+ codes by layer: style transfer (Image2StyleGAN Sec. 4.2) and style-fusion.

A W+ code has one w per synthesis input (``num_ws`` of them, coarse to fine). Taking some layers
from one code and the rest from another mixes *what* each resolution draws: layers 0-8 of 18
(4x4 to 64x64) carry pose, shape and identity, the finer ones colour and texture. Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..config import GeneratorConfig
from ..config_sg3 import StyleGAN3Config, is_stylegan3
from ..errors import InvalidArgumentError
from .seeds import parse_int_list


def parse_layers(text: str | Sequence[int], num_ws: int) -> list[int]:
    """Parse a layer selection like '0-8' or '0,2,4-6' and check it against ``num_ws``.

    Raises:
        InvalidArgumentError: malformed text or an index outside [0, num_ws).
    """
    def outside(bad: object) -> InvalidArgumentError:
        return InvalidArgumentError(f"layer(s) {bad} are outside this network's W+ range 0-{num_ws - 1} "
                                    f"(num_ws={num_ws}); pick layers in 0-{num_ws - 1}")

    if isinstance(text, str):
        try:
            # Bounded before expanding: '0-3000000000' must not build a list of three billion ints.
            layers = parse_int_list(text, "layers", max_value=num_ws - 1)
        except InvalidArgumentError as exc:
            if "goes above" in str(exc):
                raise outside(text if len(text) <= 60 else text[:60] + "...") from None
            raise
    else:
        layers = [int(i) for i in text]
    bad = [i for i in layers if not 0 <= i < num_ws]
    if bad:
        raise outside(bad[:8])
    return sorted(set(layers))


def layer_mask(layers: Sequence[int], num_ws: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Boolean mask [num_ws] that is True at ``layers``."""
    mask = torch.zeros(num_ws, dtype=torch.bool, device=device)
    mask[list(parse_layers(list(layers), num_ws))] = True
    return mask


def layer_resolution(cfg: GeneratorConfig | StyleGAN3Config, index: int) -> int:
    """The scale W+ index ``index`` styles.

    StyleGAN2: the resolution of the first convolution that reads it (0 -> 4, 1-2 -> 8, 3-4 -> 16...; the
    last index is read only by the final toRGB and is reported as ``img_resolution``). StyleGAN3: the
    output sampling rate of the layer it drives (row 0 drives the input, row i + 1 layer ``L<i>``), the
    family's counterpart of resolution (:mod:`styleblend.nn.naming_sg3`).
    """
    if not 0 <= index < cfg.num_ws:
        raise InvalidArgumentError(f"layer {index} is outside 0-{cfg.num_ws - 1} (num_ws={cfg.num_ws}); "
                                   f"pick one in 0-{cfg.num_ws - 1}")
    if isinstance(cfg, StyleGAN3Config):
        if index == 0:
            return int(cfg.input_spec.sampling_rate)
        return int(cfg.layers[index - 1].out_sampling_rate)
    return min(4 << ((index + 1) // 2), cfg.img_resolution)  # 4 * 2 ** k


def scale_label(cfg: GeneratorConfig | StyleGAN3Config, layers: Sequence[int]) -> str:
    """What W+ indices ``layers`` style, for people: '4-64 px' (StyleGAN2) or 'sampling rate 16-32' (StyleGAN3)."""
    scales = [layer_resolution(cfg, i) for i in layers]
    lo, hi = min(scales), max(scales)
    span = str(lo) if lo == hi else f"{lo}-{hi}"
    return f"sampling rate {span}" if is_stylegan3(cfg) else f"{span} px"


def layers_for_resolutions(cfg: GeneratorConfig | StyleGAN3Config, min_res: int, max_res: int) -> list[int]:
    """W+ indices whose scale (:func:`layer_resolution`) is in [min_res, max_res] (e.g. 4-64 -> 0-8 for 18 layers)."""
    layers = [i for i in range(cfg.num_ws) if min_res <= layer_resolution(cfg, i) <= max_res]
    if not layers:
        raise InvalidArgumentError(
            f"no W+ layer reads resolutions {min_res}-{max_res}; this network has {cfg.block_resolutions}")
    return layers


def _check_pair(ws_a: torch.Tensor, ws_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if ws_a.ndim not in (2, 3) or ws_b.ndim not in (2, 3):
        raise InvalidArgumentError(
            f"crossover needs W+ codes [num_ws, w_dim] or [N, num_ws, w_dim]; got {tuple(ws_a.shape)} "
            f"and {tuple(ws_b.shape)}")
    if ws_a.shape[-2:] != ws_b.shape[-2:]:
        raise InvalidArgumentError(
            f"crossover of W+ codes of different shapes {tuple(ws_a.shape[-2:])} and {tuple(ws_b.shape[-2:])}; "
            "both latents must come from the same network")
    try:
        a, b = torch.broadcast_tensors(ws_a, ws_b)
        return a, b
    except RuntimeError:
        raise InvalidArgumentError(
            f"cannot pair {ws_a.shape[0]} latents with {ws_b.shape[0]}; give equal counts or one of either") from None


def crossover(ws_a: torch.Tensor, ws_b: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """Keep the rows of ``ws_a`` at ``layers`` and take every other row from ``ws_b``.

    With layers 0-8 of 18 this is Image2StyleGAN's style transfer: the result has A's coarse
    styles (structure) and B's fine styles (appearance).

    Args:
        ws_a, ws_b: W+ codes [num_ws, w_dim] or [N, num_ws, w_dim] (N broadcast if one side has 1).
        layers: W+ indices kept from A.
    Returns:
        A new W+ tensor of the broadcast shape; rows at ``layers`` equal A's, all others B's, bit for bit.
    """
    ws_a, ws_b = _check_pair(ws_a, ws_b)
    mask = layer_mask(layers, ws_a.shape[-2], device=ws_a.device).unsqueeze(-1)
    return torch.where(mask, ws_a, ws_b)


def style_fusion(ws_content: torch.Tensor, ws_style: torch.Tensor, layers: Sequence[int]) -> torch.Tensor:
    """Copy the style layers ``layers`` of image 2 (``ws_style``) into image 1 (``ws_content``).

    Equivalent to ``crossover(ws_style, ws_content, layers)``; the name follows the style-fusion use
    where two projected photos are combined by a range of style layers.
    """
    return crossover(ws_style, ws_content, layers)


def fusion_ranges(num_ws: int) -> list[list[int]]:
    """Default sweep of style ranges: for 18 layers 0-6, 4-10, 8-14, 12-17; scaled for other num_ws.

    Windows are ~7/18 of the layers wide and start every ~4/18, from coarse to fine, and the last
    always ends at the finest layer.
    """
    if num_ws < 2:
        return [list(range(num_ws))]
    width = max(1, round(7 * num_ws / 18))
    starts = sorted({min(round(k * 4 * num_ws / 18), num_ws - 1) for k in range(4)})
    ranges = [list(range(s, min(s + width, num_ws))) for s in starts]
    ranges[-1] = list(range(ranges[-1][0], num_ws))
    return ranges


def default_mix_styles(num_ws: int) -> list[int]:
    """The W+ indices a style-mixing grid copies by default: NVIDIA's 0-6 (coarse and middle styles) where the
    network has more than 7 rows, else the first range of :func:`fusion_ranges` (its coarsest ~7/18)."""
    if num_ws > 7:
        return list(range(7))
    return fusion_ranges(num_ws)[0]


def format_layers(layers: Sequence[int]) -> str:
    """[0, 1, 2, 5] -> '0-2,5' (the inverse of :func:`parse_layers`)."""
    layers = sorted(set(int(i) for i in layers))
    parts: list[str] = []
    i = 0
    while i < len(layers):
        j = i
        while j + 1 < len(layers) and layers[j + 1] == layers[j] + 1:
            j += 1
        parts.append(str(layers[i]) if i == j else f"{layers[i]}-{layers[j]}")
        i = j + 1
    return ",".join(parts)


def mix_styles(row_ws: torch.Tensor, col_ws: torch.Tensor, styles: Sequence[int]) -> torch.Tensor:
    """Style-mixing grid latents as NVIDIA's style_mixing.py: cell (r, c) = row r's ws with ``styles`` from col c.

    Args:
        row_ws: [R, num_ws, w_dim]; col_ws: [C, num_ws, w_dim]; styles: W+ indices taken from the column.
    Returns:
        [R, C, num_ws, w_dim].
    """
    num_ws = row_ws.shape[1]
    bad = [s for s in styles if not 0 <= s < num_ws]
    if bad:
        raise InvalidArgumentError(f"`styles` {bad} out of range; this model has W+ indices 0..{num_ws - 1}",
                                   param="styles")
    out = row_ws[:, None].repeat(1, col_ws.shape[0], 1, 1)
    idx = list(styles)
    out[:, :, idx] = col_ws[None, :, idx].expand(row_ws.shape[0], -1, -1, -1)
    return out
