"""Train a :class:`~styleblend.project.feature_encoder.FeatureHead` on a generator's own samples.

The W+ encoder is frozen; each step draws target latents as the W+ encoder's trainer does
(:func:`~styleblend.project.encoder_train.sample_ws`), renders them keeping the block-r features (an exact
target, free), encodes the targets and trains the head on

    feat_weight * ||feats - x_r(ws_true)||^2 / feat_std^2    (feature loss, synthetic targets only)
  + sum_k MSE(down_k(render(ws_pred, feats)), down_k(target))   (pixel loss; k < recon_scales)

plus, with unlabelled real images (``images``), ``real_weight`` times the pixel loss on a minibatch of them.
The encoder's predictions for the real images are computed once (they do not change).

Every random draw of a step derives from (seed, step), so ``resume`` continues bit for bit. The run writes
``out`` (the head), ``<stem>.state.pt`` (head, optimiser, step; read with ``weights_only=True``) and
``<stem>.log.jsonl`` (one line per tick) every ``snap`` kimg.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
import torch.nn.functional as F

from ..errors import CheckpointError, InvalidArgumentError
from ..io.atomic import atomic_path
from ..io.digest import file_sha256
from ..io.safe_torch_load import safe_torch_load
from ..nn.feature_space import block_output, synthesize_from_features
from ..train.loop import DataOrder
from .encoder import encode, load_encoder
from .encoder_train import EncoderTrainOptions, _RealImages, recon_loss, sample_ws
from .feature_encoder import FeatureHead, FeatureHeadConfig, feature_scale, head_iterations, save_feature_head

log = logging.getLogger(__name__)

STATE_VERSION = 1


@dataclass(frozen=True)
class FeatureTrainOptions:
    """network, encoder: the generator and its trained W+ encoder; out: the head file to write.
    block_res: the block whose features the head predicts; width, depth: the head's size.
    encoder_iterations: the iterative encoder's passes the head is trained on (0: the encoder's own count).
    images: optional folder of unlabelled real images (pixel loss only).
    kimg: train until this many thousand synthetic images; batch / real_batch: per step.
    feat_weight, real_weight, recon_scales: loss weights and the pixel loss's number of scales.
    snap, tick: write files every ``snap`` kimg, log every ``tick`` kimg."""

    network: str
    encoder: str
    out: str
    block_res: int = 16
    width: int = 96
    depth: int = 3
    encoder_iterations: int = 0
    images: str | None = None
    kimg: float = 20.0
    batch: int = 8
    real_batch: int = 8
    lr: float = 0.001
    feat_weight: float = 1.0
    real_weight: float = 1.0
    recon_scales: int = 2
    snap: float = 0.5
    tick: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.batch < 1 or self.real_batch < 0:
            raise InvalidArgumentError(f"batch={self.batch} must be >= 1 and real_batch={self.real_batch} >= 0")
        for name in ("kimg", "lr"):
            if not getattr(self, name) > 0:
                raise InvalidArgumentError(f"{name}={getattr(self, name)} must be positive")
        for name in ("feat_weight", "real_weight", "snap", "tick"):
            if getattr(self, name) < 0:
                raise InvalidArgumentError(f"{name}={getattr(self, name)} must be >= 0")
        if self.recon_scales < 1:
            raise InvalidArgumentError(f"recon_scales={self.recon_scales} must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureTrainOptions:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def state_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".state.pt")


def log_path(out: str | Path) -> Path:
    out = Path(out)
    return out.with_name(out.stem + ".log.jsonl")


def load_feature_state(out: str | Path) -> dict[str, Any]:
    """The training state beside ``out`` (tensors and plain data only)."""
    path = state_path(out)
    if not path.is_file():
        raise CheckpointError(f"no training state '{path}' to resume; start without resume")
    state = safe_torch_load(path)
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise CheckpointError(f"{path.name}: not a feature head training state of version {STATE_VERSION}")
    return state


def train_feature_head(options: FeatureTrainOptions, *, resume_state: dict[str, Any] | None = None,
                       max_steps: int | None = None, device: str | torch.device = "cpu") -> dict[str, Any]:
    """Train (or, with ``resume_state``, continue) a feature head; returns the last tick's statistics with
    ``step`` and ``kimg``. ``max_steps`` stops early (tests)."""
    from ..io import load_checkpoint

    device = torch.device(device)
    fused = device.type != "cpu"  # the unfused modulated conv is faster on CPUs
    network_sha = file_sha256(options.network)
    G = load_checkpoint(options.network).generator(device)
    E = load_encoder(options.encoder, device)
    E.check_generator(G)
    r = options.block_res
    cfg = FeatureHeadConfig.for_generator(G, r, options.width, options.depth, options.encoder_iterations)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.seed)
        head = FeatureHead(cfg)
    head.to(device).train()
    opt = torch.optim.Adam(head.parameters(), lr=options.lr, betas=(0.9, 0.99))
    step, cur_nimg = 0, 0
    if resume_state is not None:
        if resume_state.get("network_sha256") != network_sha:
            raise CheckpointError(f"the state beside {options.out} was trained for another network file")
        head.load_state_dict(resume_state["head"])
        opt.load_state_dict(resume_state["optimizer"])
        step, cur_nimg = int(resume_state["step"]), int(resume_state["cur_nimg"])
    else:
        head.feat_std.fill_(feature_scale(G, r))
    feat_var = float(head.feat_std) ** 2
    w_std = float(cast(torch.Tensor, E.w_std))
    draw = EncoderTrainOptions(network=options.network, out=options.out, batch=options.batch, seed=options.seed)

    def predict(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            ws = encode(E, G, img, iterations=head_iterations(head, E))
            x_r, _ = block_output(G, ws, r, fused_modconv=fused)
            recon = synthesize_from_features(G, ws, x_r, r, fused_modconv=fused)
        return ws, x_r, recon

    real = None
    if options.images and options.real_batch > 0 and options.real_weight > 0:
        images = _RealImages(options.images, G.img_resolution, G.img_channels)
        all_idx = torch.arange(len(images.files))
        imgs = images.get(all_idx).to(device)
        parts = [predict(imgs[i:i + 64]) for i in range(0, len(imgs), 64)]
        real = (imgs, *(torch.cat([p[k] for p in parts]) for k in range(3)))
        order = DataOrder(len(images.files), options.seed)

    total = int(round(options.kimg * 1000))
    next_tick = _next(cur_nimg, options.tick)
    next_snap = _next(cur_nimg, options.snap)
    sums: dict[str, float] = {}
    count, t0, n0, ran = 0, time.time(), cur_nimg, 0
    last: dict[str, Any] = {}
    while cur_nimg < total:
        ws_true = sample_ws(cast(torch.nn.Module, G), draw, step, w_std, device)
        with torch.no_grad():
            x_true, _ = block_output(G, ws_true, r, fused_modconv=fused)
            target = synthesize_from_features(G, ws_true, x_true, r, fused_modconv=fused)
        ws, x_r, recon = predict(target)
        feats = head(target, recon, x_r)
        loss_pix = recon_loss(synthesize_from_features(G, ws, feats, r, fused_modconv=fused), target,
                              options.recon_scales)
        loss_feat = F.mse_loss(feats, x_true) / feat_var
        loss = loss_pix + options.feat_weight * loss_feat
        stats = {"pixel": float(loss_pix.detach()), "feature": float(loss_feat.detach())}
        if real is not None:
            idx = order.take(step * options.real_batch, options.real_batch).to(device)
            rimg, rws, rx, rrec = (t[idx] for t in real)
            rfeats = head(rimg, rrec, rx)
            loss_real = recon_loss(synthesize_from_features(G, rws, rfeats, r, fused_modconv=fused), rimg,
                                   options.recon_scales)
            loss = loss + options.real_weight * loss_real
            stats["real_pixel"] = float(loss_real.detach())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        ran += 1
        cur_nimg += options.batch
        for k, v in stats.items():
            sums[k] = sums.get(k, 0.0) + v
        count += 1
        stop = cur_nimg >= total or (max_steps is not None and ran >= max_steps)
        if cur_nimg >= next_tick or stop:
            now = time.time()
            last = {"kimg": round(cur_nimg / 1000, 3), "step": step,
                    **{k: round(v / count, 6) for k, v in sums.items()},
                    "img_per_s": round((cur_nimg - n0) / max(now - t0, 1e-9), 3)}
            with open(log_path(options.out), "a", encoding="utf-8") as f:
                f.write(json.dumps(last) + "\n")
            log.info("%s", last)
            sums, count, t0, n0 = {}, 0, now, cur_nimg
            next_tick = _next(cur_nimg, options.tick)
        if cur_nimg >= next_snap or stop:
            meta = {"network": str(options.network), "network_sha256": network_sha,
                    "encoder": str(options.encoder), "encoder_sha256": file_sha256(options.encoder),
                    "step": step, "kimg": cur_nimg / 1000, "training_options": options.to_dict(), "last_stats": last}
            save_feature_head(options.out, head, meta)
            with atomic_path(state_path(options.out)) as tmp:
                torch.save({"version": STATE_VERSION, "head": head.state_dict(), "optimizer": opt.state_dict(),
                            "step": step, "cur_nimg": cur_nimg, "options": options.to_dict(),
                            "network_sha256": network_sha}, tmp)
            next_snap = _next(cur_nimg, options.snap)
        if stop:
            break
    return {**last, "step": step, "kimg": cur_nimg / 1000}


def _next(nimg: int, every_kimg: float) -> float:
    every = every_kimg * 1000
    return float("inf") if every <= 0 else (int(nimg // every) + 1) * every
