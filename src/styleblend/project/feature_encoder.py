"""A feature head for a W+ encoder: predict the generator's feature map at one coarse block as well (FS space).

The W+ encoder (:mod:`.encoder`) levels off far below optimisation (issue 17): a latent predicted by a
pooled CNN carries too little spatial detail. After the Feature-Style encoder (Yao et al., ECCV 2022), this
head also predicts the generator's features at block r (:mod:`styleblend.nn.feature_space`), as a residual
on the features G itself computes from the encoder's W+:

    ws          = encode(encoder, G, target)                     (frozen W+ encoder; cfg.encoder_iterations passes)
    x_r, _      = blocks 4..r (ws);   recon = G(ws)
    feats       = x_r + head(target, recon, x_r)                 (last conv zero at init: feats = x_r)
    image       = synthesize_from_features(G, ws, feats, r)

The head: strided 3x3 convolutions take [target, recon] (channels concatenated) from the image size down to
r, the result is concatenated with x_r / feat_std and a few 3x3 convolutions at r predict the residual.

Files: safetensors with the config and metadata as JSON under ``styleblend_feature_head`` (no code), atomic.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import ArchitectureMismatchError, CheckpointError, InvalidArgumentError
from ..io.atomic import atomic_path
from ..io.checkpoint import fill_module
from ..nn.feature_space import block_output, check_block, synthesize_from_features
from .encoder import Encoder, encode

if TYPE_CHECKING:
    from ..types import Generator

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
METADATA_KEY = "styleblend_feature_head"


@dataclass(frozen=True)
class FeatureHeadConfig:
    """img_resolution, img_channels: the generator's image; block_res, feat_channels: the block whose
    features are predicted and their channels; width: channels of the head's convolutions at block_res;
    depth: 3x3 convolutions at block_res (>= 1); encoder_iterations: the passes of an iterative W+ encoder
    whose prediction the head refines (0: the encoder file's own count). The head corrects whatever W+ it is
    given, so fewer passes cost less: the bundled head keeps its accuracy at 2 passes of its 3-pass encoder
    (docs/projection.md)."""

    img_resolution: int
    img_channels: int
    block_res: int
    feat_channels: int
    width: int = 96
    depth: int = 3
    encoder_iterations: int = 0

    def __post_init__(self) -> None:
        for name in ("img_resolution", "img_channels", "block_res", "feat_channels", "width", "depth"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidArgumentError(f"feature head config: {name}={value!r} must be a positive integer")
        value = self.encoder_iterations
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 16:
            raise InvalidArgumentError(f"feature head config: encoder_iterations={value!r} must be an integer in "
                                       "[0, 16] (0: the encoder's own count)")
        if self.img_resolution & (self.img_resolution - 1) or self.block_res & (self.block_res - 1):
            raise InvalidArgumentError("feature head config: img_resolution and block_res must be powers of two")
        if not 4 <= self.block_res < self.img_resolution:
            raise InvalidArgumentError(f"feature head config: block_res={self.block_res} must be in [4, "
                                       f"{self.img_resolution // 2}]")
        if self.depth > 8 or self.width > 1024:
            raise InvalidArgumentError(f"feature head config: depth={self.depth} (<= 8) or width={self.width} "
                                       "(<= 1024) too large")

    @classmethod
    def for_generator(cls, G: Generator, block_res: int, width: int = 96, depth: int = 3,
                      encoder_iterations: int = 0) -> FeatureHeadConfig:
        return cls(img_resolution=int(G.img_resolution), img_channels=int(G.img_channels), block_res=int(block_res),
                   feat_channels=check_block(G, block_res), width=width, depth=depth,
                   encoder_iterations=encoder_iterations)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, 3, stride=stride, padding=1)
    nn.init.kaiming_normal_(conv.weight, a=0.2, nonlinearity="leaky_relu")
    assert conv.bias is not None
    nn.init.zeros_(conv.bias)
    return conv


class FeatureHead(nn.Module):
    """(target, recon, x_r) -> features at block r (see the module docstring). Buffer ``feat_std`` (the
    generator's feature scale at r; set by the trainer) normalises x_r on the way in and scales the residual."""

    feat_std: torch.Tensor  # a buffer, declared for the type checker

    def __init__(self, cfg: FeatureHeadConfig) -> None:
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        res, cin = cfg.img_resolution, 2 * cfg.img_channels
        while res > cfg.block_res:
            cout = min(cfg.width, 32 * cfg.img_resolution // res)
            layers += [_conv(cin, cout, stride=2), nn.LeakyReLU(0.2)]
            cin, res = cout, res // 2
        self.down = nn.Sequential(*layers)
        body: list[nn.Module] = []
        cin = cin + cfg.feat_channels
        for _ in range(cfg.depth - 1):
            body += [_conv(cin, cfg.width), nn.LeakyReLU(0.2)]
            cin = cfg.width
        self.body = nn.Sequential(*body)
        self.out = nn.Conv2d(cin, cfg.feat_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)  # zero residual at init: the features G itself computes from ws
        assert self.out.bias is not None
        nn.init.zeros_(self.out.bias)
        self.register_buffer("feat_std", torch.ones([]))
        self.meta: dict[str, Any] = {}

    def forward(self, target: torch.Tensor, recon: torch.Tensor, base_feats: torch.Tensor) -> torch.Tensor:
        size = self.cfg.img_resolution
        pair = torch.cat([target, recon.expand_as(target)], dim=1).to(torch.float32)
        if tuple(pair.shape[2:]) != (size, size):
            pair = F.interpolate(pair, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        base = base_feats.to(torch.float32)
        y = torch.cat([self.down(pair), base / self.feat_std], dim=1)
        return base + self.feat_std * self.out(self.body(y))

    def check_generator(self, G: Generator) -> None:
        mine = (self.cfg.img_resolution, self.cfg.img_channels, self.cfg.feat_channels)
        theirs = (int(G.img_resolution), int(G.img_channels), check_block(G, self.cfg.block_res))
        if mine != theirs:
            raise ArchitectureMismatchError(f"the feature head was trained for a generator with (resolution, "
                                            f"channels, features at {self.cfg.block_res} px) = {mine}; this one "
                                            f"has {theirs}")


def check_head_encoder(head: FeatureHead, encoder: str | Path) -> None:
    """Warn when ``head`` was trained on another encoder file than ``encoder`` (its inputs are that encoder's
    W+ and reconstruction, so another encoder's give it inputs it never saw)."""
    from ..io.digest import file_sha256

    trained = head.meta.get("encoder_sha256")
    if trained and trained != file_sha256(encoder):
        log.warning("the feature head was trained with another encoder (sha256 %s...) than %s; its features fit "
                    "that encoder's predictions", str(trained)[:12], Path(encoder).name)


def head_iterations(head: FeatureHead, encoder: Encoder) -> int | None:
    """The W+ encoder passes ``head`` refines: its config's count for an iterative encoder, else None (the
    encoder's own)."""
    count = head.cfg.encoder_iterations
    return count if count and encoder.cfg.iterative else None


def encode_features(encoder: Encoder, head: FeatureHead, G: Generator, img: torch.Tensor,
                    noise_mode: str = "const", fused_modconv: bool | None = None
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """img [N, C, H, W] in [-1, 1] -> (ws [N, num_ws, w_dim], feats [N, C_r, r, r]) for
    :func:`~styleblend.nn.feature_space.synthesize_from_features` at ``head.cfg.block_res``. Gradients
    flow into the head only (the W+ encoder's prediction is taken as given)."""
    head.check_generator(G)
    with torch.no_grad():
        ws = encode(encoder, G, img, iterations=head_iterations(head, encoder), noise_mode=noise_mode)
        x_r, _ = block_output(G, ws, head.cfg.block_res, noise_mode=noise_mode, fused_modconv=fused_modconv)
        recon = synthesize_from_features(G, ws, x_r, head.cfg.block_res, noise_mode=noise_mode,
                                         fused_modconv=fused_modconv)
    return ws, head(img, recon, x_r)


def save_feature_head(path: str | Path, head: FeatureHead, meta: dict[str, Any] | None = None,
                      dtype: torch.dtype | None = None) -> Path:
    """Write ``head`` as safetensors + JSON config/meta, atomically (dtype: e.g. float16 halves the file)."""
    tensors = {}
    for name, value in head.state_dict().items():
        value = value.detach().to("cpu")
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        tensors[name] = value.contiguous()
    header = {"format_version": FORMAT_VERSION, "config": dataclasses.asdict(head.cfg),
              "meta": json.loads(json.dumps(meta or {}, default=str))}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(header)})
    return path


def load_feature_head(path: str | Path, device: str | torch.device = "cpu") -> FeatureHead:
    """Read a feature head file (float32, eval mode, no gradients).

    Raises:
        CheckpointError: missing, corrupt or foreign file, unknown version, bad config, tensors that do not fit
            it, or non-finite weights.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"feature head file '{path}' does not exist; train one with "
                              "'styleblend encoder train-features'")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name}: not a readable safetensors file ({exc})") from None
    try:
        header = json.loads(metadata[METADATA_KEY])
        if header.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(f"{path.name}: feature head format {header.get('format_version')} is not "
                                  f"{FORMAT_VERSION}")
        data = header["config"]
        names = {f.name for f in dataclasses.fields(FeatureHeadConfig)}
        if not isinstance(data, dict) or set(data) - names:
            raise CheckpointError(f"{path.name}: feature head config has unknown fields")
        cfg = FeatureHeadConfig(**data)
    except (KeyError, ValueError, TypeError, AttributeError, InvalidArgumentError) as exc:
        raise CheckpointError(f"{path.name}: no valid styleblend feature head metadata ({exc})") from None
    head = FeatureHead(cfg)
    fill_module(head, tensors, path.name)
    head.meta = header.get("meta") or {}
    return head.eval().requires_grad_(False).to(device)


def feature_scale(G: Generator, block_res: int, count: int = 256, seed: int = 0) -> float:
    """The RMS of G's features at ``block_res`` over ``count`` random latents (the head's ``feat_std``)."""
    gen = torch.Generator().manual_seed(seed)
    device = next(G.parameters()).device
    with torch.no_grad():
        z = torch.randn([count, G.z_dim], generator=gen).to(device)
        c = None
        if int(getattr(G, "c_dim", 0) or 0):
            c = F.one_hot(torch.randint(G.c_dim, [count], generator=gen), G.c_dim).float().to(device)
        x, _ = block_output(G, G.mapping(z, c), block_res)
    return float(x.float().square().mean().sqrt()) or 1.0

