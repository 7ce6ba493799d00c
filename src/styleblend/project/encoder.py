"""An image -> W+ encoder for one generator: a small feature pyramid, one base w and per-row offsets.

In the spirit of pSp (Richardson et al., "Encoding in Style", CVPR 2021) and e4e (Tov et al.,
"Designing an Encoder for StyleGAN Image Manipulation", SIGGRAPH 2021), but our own, much smaller
network so that it trains on a CPU from the generator's own samples
(:mod:`styleblend.project.encoder_train`):

* a CNN of strided 3x3 convolutions halves the image from ``input_resolution`` down to 4x4;
* three levels of that pyramid - ``coarse`` (the 4x4 map), ``mid`` and ``fine`` (finer maps) - are each
  reduced by a 1x1 convolution, average-pooled to 4x4 (so the layout survives) and turned into a
  feature vector;
* the coarse vector predicts one base ``w = w_avg + w_std * A(coarse)``;
* every W+ row gets an offset ``w_std * B_r(coarse + level(r))`` from the level whose resolution it
  controls (rows of the 4-8 px layers read the coarse level, 16-32 px the mid level, finer ones the fine
  level, as pSp's map2style heads do). The offset heads start at zero, so an untrained encoder predicts
  a point of W; the trainer pulls offsets toward zero (e4e's delta regularisation) to keep predictions
  near W, where edits and blends behave.

Iterative (ReStyle) encoders (``iterative=True``; Alaluf et al., "ReStyle: A Residual-Based StyleGAN
Encoder via Iterative Refinement", ICCV 2021): the network sees the target and the generator's current
reconstruction (channels concatenated) and predicts a correction of the current W+; starting from the mean
w, :func:`encode` applies it ``iterations`` times (one encoder and one generator pass each), so later passes
fix what earlier ones missed at the cost of a few milliseconds. :func:`make_iterative` turns a trained
one-shot encoder into an iterative one whose first pass predicts exactly what the one-shot encoder did
(the reconstruction's input weights start at zero), so training continues from it.

Files: safetensors with the architecture and a metadata dict as JSON under the key
``styleblend_encoder`` (no code travels with the weights), written atomically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import ArchitectureMismatchError, CheckpointError, InvalidArgumentError
from ..io.atomic import atomic_path
from ..io.checkpoint import fill_module

if TYPE_CHECKING:
    from ..types import Generator

FORMAT_VERSION = 1
METADATA_KEY = "styleblend_encoder"
LEVELS = ("coarse", "mid", "fine")


def _is_pow2(n: int) -> bool:
    return isinstance(n, int) and n >= 1 and (n & (n - 1)) == 0


@dataclass(frozen=True)
class EncoderConfig:
    """Architecture of an :class:`Encoder` (every field explicit, so a file describes itself).

    img_resolution, img_channels, num_ws, w_dim: the generator's output size and latent shape.
    iterative: the network also sees the current reconstruction and predicts corrections (ReStyle);
        iterations: how many passes :func:`encode` makes by default (1 for one-shot encoders).
    input_resolution: size the encoder looks at (images are resized to it); min(img_resolution, 256) by
        :meth:`for_generator`.
    channel_base, channel_max: a pyramid level at resolution r has min(channel_base // r, channel_max)
        channels (like StyleGAN's synthesis widths).
    head_channels: channels of the 1x1 reduction before each level's 4x4 pooling.
    feature_dim: width of the per-level feature vectors.
    """

    img_resolution: int
    img_channels: int
    num_ws: int
    w_dim: int
    input_resolution: int
    channel_base: int
    channel_max: int
    head_channels: int = 32
    feature_dim: int = 256
    iterative: bool = False
    iterations: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.iterative, bool):
            raise InvalidArgumentError(f"encoder config: iterative={self.iterative!r} must be true or false")
        if not self.iterative and self.iterations != 1:
            raise InvalidArgumentError(f"encoder config: iterations={self.iterations!r} needs iterative=true")
        if not isinstance(self.iterations, int) or isinstance(self.iterations, bool) or not 1 <= self.iterations <= 16:
            raise InvalidArgumentError(f"encoder config: iterations={self.iterations!r} must be an integer in [1, 16]")
        for name in ("img_resolution", "img_channels", "num_ws", "w_dim", "input_resolution", "channel_base",
                     "channel_max", "head_channels", "feature_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidArgumentError(f"encoder config: {name}={value!r} must be a positive integer")
        if not _is_pow2(self.input_resolution) or self.input_resolution < 16:
            raise InvalidArgumentError(f"encoder config: input_resolution={self.input_resolution} must be a power "
                                       "of two >= 16")
        if self.img_channels not in (1, 3):
            raise InvalidArgumentError(f"encoder config: img_channels={self.img_channels} must be 1 or 3")

    @classmethod
    def for_generator(cls, G: Generator, input_resolution: int | None = None) -> EncoderConfig:
        """Widths that grow with the generator: 16 channels at the input size, doubling per halving, capped
        at 1.5 x w_dim (between 128 and 512). For the bundled 64 px base (w_dim 128) that is 16-32-64-128-192."""
        res = int(input_resolution or max(16, min(int(G.img_resolution), 256)))
        w_dim = int(G.w_dim)
        cap = int(min(512, max(128, 32 * round(1.5 * w_dim / 32))))
        return cls(img_resolution=int(G.img_resolution), img_channels=int(G.img_channels), num_ws=int(G.num_ws),
                   w_dim=w_dim, input_resolution=res, channel_base=16 * res, channel_max=cap,
                   feature_dim=int(min(512, 2 * w_dim)))

    def channels(self, res: int) -> int:
        return int(min(self.channel_base // res, self.channel_max))

    @property
    def level_resolutions(self) -> dict[str, int]:
        """Resolution of the pyramid map each level reads."""
        fine = min(self.input_resolution // 2, 64)
        return {"coarse": 4, "mid": max(fine // 2, 8), "fine": fine}

    def row_level(self, row: int) -> str:
        """The level whose features drive W+ row ``row``: by the resolution of the synthesis layer it styles."""
        res = min(4 * 2 ** ((row + 1) // 2), self.img_resolution)
        if res <= 8:
            return "coarse"
        if res < min(64, self.img_resolution):
            return "mid"
        return "fine"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        if not isinstance(data, dict):
            raise InvalidArgumentError(f"encoder config must be a JSON object, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidArgumentError(f"encoder config has unknown fields {unknown}")
        return cls(**data)


def _conv(cin: int, cout: int, stride: int = 1, kernel: int = 3) -> nn.Conv2d:
    conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2)
    nn.init.kaiming_normal_(conv.weight, a=0.2, nonlinearity="leaky_relu")
    nn.init.zeros_(conv.bias)
    return conv


class Encoder(nn.Module):
    """Image [N, C, H, W] in [-1, 1] -> ws [N, num_ws, w_dim] of one generator (see the module docstring).

    Buffers ``w_avg`` [w_dim] and ``w_std`` [] (the generator's mean w and the per-coordinate std of w)
    anchor the predictions; :func:`styleblend.project.encoder_train.train_encoder` sets them.
    """

    def __init__(self, cfg: EncoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.img_resolution, self.num_ws, self.w_dim = cfg.img_resolution, cfg.num_ws, cfg.w_dim
        # An iterative encoder's first pass sees the same rendering every time (the mean w's): kept with the
        # state of the generator that made it (see start_render), so one image costs one render less.
        self._start_render: tuple[tuple[Any, str, list[Any]], torch.Tensor] | None = None
        res = cfg.input_resolution
        self.stem = _conv(cfg.img_channels * (2 if cfg.iterative else 1), cfg.channels(res))
        self.stages = nn.ModuleList()
        self.stage_resolutions: list[int] = []
        while res > 4:
            cin, cout = cfg.channels(res), cfg.channels(res // 2)
            self.stages.append(nn.Sequential(_conv(cin, cout, stride=2), nn.LeakyReLU(0.2),
                                             _conv(cout, cout), nn.LeakyReLU(0.2)))
            res //= 2
            self.stage_resolutions.append(res)
        self.level_res = cfg.level_resolutions
        self.reduce = nn.ModuleDict({lvl: _conv(cfg.channels(r), cfg.head_channels, kernel=1)
                                     for lvl, r in self.level_res.items()})
        self.fc = nn.ModuleDict({lvl: nn.Linear(cfg.head_channels * 16, cfg.feature_dim) for lvl in LEVELS})
        self.base = nn.Linear(cfg.feature_dim, cfg.w_dim)
        nn.init.normal_(self.base.weight, std=0.1 / math.sqrt(cfg.feature_dim))
        nn.init.zeros_(self.base.bias)
        # One linear map per W+ row, stored as one tensor; zero at init so the first predictions lie in W.
        self.offset_weight = nn.Parameter(torch.zeros([cfg.num_ws, cfg.feature_dim, cfg.w_dim]))
        self.offset_bias = nn.Parameter(torch.zeros([cfg.num_ws, cfg.w_dim]))
        self.row_levels = [cfg.row_level(r) for r in range(cfg.num_ws)]
        self.register_buffer("w_avg", torch.zeros([cfg.w_dim]))
        self.register_buffer("w_std", torch.ones([]))
        self.meta: dict[str, Any] = {}  # what the file said about its training (filled by load_encoder)

    def _input(self, img: torch.Tensor) -> torch.Tensor:
        if img.ndim != 4 or img.shape[1] != self.cfg.img_channels:
            raise InvalidArgumentError(f"encoder input has shape {tuple(img.shape)}; expected [N, "
                                       f"{self.cfg.img_channels}, H, W] in [-1, 1]")
        size = self.cfg.input_resolution
        x = img.to(self.stem.weight.dtype)
        if tuple(x.shape[2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
        return x

    def _features(self, img: torch.Tensor, recon: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        x = self._input(img)
        if self.cfg.iterative:
            if recon is None:
                raise InvalidArgumentError("an iterative encoder needs the current reconstruction too; call "
                                           "styleblend.project.encoder.encode(encoder, G, img)")
            x = torch.cat([x, self._input(recon).expand_as(x)], dim=1)
        x = F.leaky_relu(self.stem(x), 0.2)
        maps = {self.cfg.input_resolution: x}
        for res, stage in zip(self.stage_resolutions, self.stages):
            x = stage(x)
            maps[res] = x
        out = {}
        for lvl, res in self.level_res.items():
            y = F.adaptive_avg_pool2d(self.reduce[lvl](maps[res]), 4)
            out[lvl] = F.leaky_relu(self.fc[lvl](y.flatten(1)), 0.2)
        return out

    def encode_parts(self, img: torch.Tensor, recon: torch.Tensor | None = None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """img [N, C, H, W] in [-1, 1] (any size; resized) -> (w_base [N, w_dim], offsets [N, num_ws, w_dim]).

        Iterative encoders also take ``recon`` (the current reconstruction, [N or 1, C, H, W]) and return a
        correction: ``w_base`` is then the change of the base w (no ``w_avg`` added)."""
        feats = self._features(img, recon)
        coarse = feats["coarse"]
        w_base = self.w_std * self.base(coarse)
        if not self.cfg.iterative:
            w_base = self.w_avg + w_base
        rows = torch.stack([coarse if lvl == "coarse" else coarse + feats[lvl] for lvl in self.row_levels], dim=1)
        offsets = torch.einsum("nrf,rfw->nrw", rows, self.offset_weight) + self.offset_bias
        return w_base, self.w_std * offsets

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """img [N, C, H, W] in [-1, 1] (any size; resized to ``input_resolution``) -> ws [N, num_ws, w_dim].

        One-shot encoders only; :func:`encode` serves both kinds."""
        w_base, offsets = self.encode_parts(img)
        return w_base.unsqueeze(1) + offsets

    def start_ws(self, n: int) -> torch.Tensor:
        """The latent an iterative encoder starts from: the mean w in every row, [n, num_ws, w_dim]."""
        return self.w_avg.view(1, 1, -1).expand(n, self.num_ws, -1)

    def start_render(self, G: Generator, device: torch.device, noise_mode: str = "const") -> torch.Tensor:
        """G's rendering of :meth:`start_ws` (one image, no gradient). With the stored noise ('const') it is
        computed once per generator state and kept: it is reused only for the same generator object whose
        synthesis tensors are the same objects at the same version counters (an in-place change, a replaced
        tensor or another generator renders again; weak references, so nothing is kept alive)."""
        ws = self.start_ws(1).to(device)
        synthesis = G.synthesis
        if noise_mode != "const" or not isinstance(synthesis, nn.Module):
            with torch.no_grad():
                return G.synthesis(ws, noise_mode=noise_mode)
        tensors = [*synthesis.parameters(), *synthesis.buffers(), self.w_avg]
        cached = self._start_render
        if cached is not None:
            (g_ref, where, refs), image = cached
            if g_ref() is G and where == str(device) and len(refs) == len(tensors) and all(
                    r() is t and t._version == v for (r, v), t in zip(refs, tensors)):
                return image
        with torch.no_grad():
            image = G.synthesis(ws, noise_mode=noise_mode)
        self._start_render = ((weakref.ref(G), str(device), [(weakref.ref(t), t._version) for t in tensors]), image)
        return image

    def check_generator(self, G: Generator, what: str = "the encoder") -> None:
        """Raise ArchitectureMismatchError unless ``G`` has this encoder's latent shape and image size."""
        mine = (self.cfg.num_ws, self.cfg.w_dim, self.cfg.img_resolution, self.cfg.img_channels)
        theirs = (int(G.num_ws), int(G.w_dim), int(G.img_resolution), int(G.img_channels))
        if mine != theirs:
            raise ArchitectureMismatchError(
                f"{what} was trained for a generator with (num_ws, w_dim, resolution, channels) = {mine}, but "
                f"this network has {theirs}; train an encoder for it with 'styleblend encoder train'")


def encode(encoder: Encoder, G: Generator, img: torch.Tensor, iterations: int | None = None,
           noise_mode: str = "const") -> torch.Tensor:
    """img [N, C, H, W] in [-1, 1] -> ws [N, num_ws, w_dim]: the encoder's prediction for generator ``G``.

    One-shot encoders need no ``G`` work; iterative ones start from the mean w and correct it ``iterations``
    times (default: the file's), rendering the current latent with ``G`` (``noise_mode``) between passes.
    Gradients flow only through the last pass (the trainer's convention, and ReStyle's)."""
    if not encoder.cfg.iterative:
        return encoder(img)
    count = encoder.cfg.iterations if iterations is None else int(iterations)
    if not 1 <= count <= 16:
        raise InvalidArgumentError(f"iterations={iterations} must be in [1, 16]")
    ws = encoder.start_ws(img.shape[0]).to(img.device)
    for i in range(count):
        if i == 0:
            recon = encoder.start_render(G, img.device, noise_mode)
        else:
            with torch.no_grad():
                recon = G.synthesis(ws, noise_mode=noise_mode)
        with torch.set_grad_enabled(torch.is_grad_enabled() and i == count - 1):
            d_base, d_offsets = encoder.encode_parts(img, recon)
        ws = ws.detach() + d_base.unsqueeze(1) + d_offsets
    return ws


def make_iterative(encoder: Encoder, iterations: int = 3) -> Encoder:
    """An iterative copy of a one-shot ``encoder`` whose first pass from the mean w predicts exactly what
    ``encoder`` predicts: same weights, the reconstruction's stem inputs zero (training then teaches the
    network to use them)."""
    if encoder.cfg.iterative:
        raise InvalidArgumentError("the encoder is already iterative")
    cfg = dataclasses.replace(encoder.cfg, iterative=True, iterations=iterations)
    new = Encoder(cfg).to(encoder.w_avg.device)
    state = dict(encoder.state_dict())
    weight = state["stem.weight"]
    state["stem.weight"] = torch.cat([weight, torch.zeros_like(weight)], dim=1)
    new.load_state_dict(state)
    new.meta = dict(encoder.meta)
    return new


def save_encoder(path: str | Path, encoder: Encoder, meta: dict[str, Any] | None = None,
                 dtype: torch.dtype | None = None) -> Path:
    """Write ``encoder`` as safetensors + JSON config/meta, atomically.

    dtype: store floating tensors in this dtype (torch.float16 halves the file); None keeps float32.
    """
    tensors = {}
    for name, value in encoder.state_dict().items():
        value = value.detach().to("cpu")
        if dtype is not None and value.is_floating_point():
            value = value.to(dtype)
        tensors[name] = value.contiguous()
    header = {"format_version": FORMAT_VERSION, "config": encoder.cfg.to_dict(),
              "meta": json.loads(json.dumps(meta or {}, default=str))}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={METADATA_KEY: json.dumps(header)})
    return path


def read_encoder_header(path: str | Path) -> dict[str, Any]:
    """The file's JSON header ({'format_version', 'config', 'meta'}) without reading the tensors."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"encoder file '{path}' does not exist; train one with 'styleblend encoder train'")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name}: not a readable safetensors encoder file ({exc})") from None
    if METADATA_KEY not in metadata:
        raise CheckpointError(f"{path.name} is a safetensors file without styleblend encoder metadata; is it a "
                              "generator? (encoders come from 'styleblend encoder train')")
    try:
        header = json.loads(metadata[METADATA_KEY])
    except ValueError as exc:
        raise CheckpointError(f"{path.name}: encoder metadata is not JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path.name}: encoder format version "
                              f"{header.get('format_version') if isinstance(header, dict) else '?'} is not "
                              f"{FORMAT_VERSION}; it was written by another styleblend")
    return header


def load_encoder(path: str | Path, device: str | torch.device = "cpu") -> Encoder:
    """Read an encoder file (float32, eval mode, no gradients) on ``device``.

    Raises:
        CheckpointError: missing, corrupt or truncated file, unknown version, bad config, tensors that do
            not fit the config, or non-finite weights.
    """
    path = Path(path)
    header = read_encoder_header(path)
    try:
        cfg = EncoderConfig.from_dict(header.get("config"))
    except (InvalidArgumentError, TypeError) as exc:
        raise CheckpointError(f"{path.name}: invalid encoder architecture ({exc})") from None
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name}: corrupt or truncated encoder file ({exc})") from None
    with torch.device("meta"):  # no random initialisation: every tensor is overwritten from the file below
        encoder = Encoder(cfg)
    encoder = encoder.to_empty(device="cpu")
    fill_module(encoder, tensors, path.name)
    encoder.meta = header.get("meta") or {}
    return encoder.eval().requires_grad_(False).to(device)
