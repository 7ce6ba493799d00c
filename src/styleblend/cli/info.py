"""``styleblend info``: what a checkpoint holds - format, architecture, layers per resolution."""

from __future__ import annotations

import argparse
import re
from collections import OrderedDict
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..config_sg3 import StyleGAN3Config
    from ..io import Checkpoint


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show a checkpoint's format, architecture and layers",
                       description="Print format, resolution, z/w dims, num_ws and parameters per resolution.")
    p.add_argument("--network", required=True)
    p.set_defaults(func=run)


def layer_table(state: dict) -> OrderedDict[str, tuple[int, int]]:
    """Group generator tensors by block: {'mapping': (tensors, params), '4x4': ..., ...}."""
    table: OrderedDict[str, list[int]] = OrderedDict()
    for key, value in state.items():
        m = re.match(r"synthesis\.b(\d+)\.", key)
        group = f"{m.group(1)}x{m.group(1)}" if m else key.split(".")[0]
        entry = table.setdefault(group, [0, 0])
        entry[0] += 1
        entry[1] += value.numel()
    order = sorted(table, key=lambda g: (g != "mapping", int(g.split("x")[0]) if "x" in g else 0))
    return OrderedDict((g, (table[g][0], table[g][1])) for g in order)


def describe(ckpt: Checkpoint) -> str:
    from ..config_sg3 import is_stylegan3  # here: it imports numpy, and `info --help` stays light

    cfg = ckpt.g_config
    if is_stylegan3(cfg):
        return "\n".join(describe_stylegan3(ckpt, cfg) + _footer(ckpt))
    s = cfg.synthesis
    lines = _source_lines(ckpt) + [
        f"resolution:  {cfg.img_resolution}x{cfg.img_resolution}, {cfg.img_channels} channels",
        f"z_dim={cfg.z_dim}  w_dim={cfg.w_dim}  c_dim={cfg.c_dim}  num_ws={cfg.num_ws}",
        f"mapping:     {cfg.mapping.num_layers} layers, lr_multiplier={cfg.mapping.lr_multiplier}",
        f"synthesis:   {s.architecture}, channel_base={s.channel_base}, channel_max={s.channel_max}, "
        f"conv_clamp={s.conv_clamp}",
        f"precision:   num_fp16_res={s.num_fp16_res} ({_fp16_text(cfg.fp16_resolutions)})",
        "",
        f"{'layer':<10} {'channels':>8} {'W+ idx':>8} {'tensors':>8} {'params':>11}",
    ]
    total = 0
    for group, (tensors, params) in layer_table(ckpt.g_ema).items():
        if "x" in group:
            res = int(group.split("x")[0])
            idx = cfg.ws_indices(res)
            chans, ws = str(cfg.channels(res)), f"{idx[0]}-{idx[-1]}"
        else:
            chans, ws = "", ""
        lines.append(f"{group:<10} {chans:>8} {ws:>8} {tensors:>8} {params:>11,}")
        total += params
    lines.append(f"{'total':<10} {'':>8} {'':>8} {'':>8} {total:>11,}")
    return "\n".join(lines + _footer(ckpt))


def describe_stylegan3(ckpt: Checkpoint, cfg: StyleGAN3Config) -> list[str]:
    """Header and layer table of a StyleGAN3 generator (``cfg`` is ``ckpt.g_config``): per layer its W+ row,
    sampling rate, output size (with margin), channels, cut-off frequency, kernel and parameters."""
    s = cfg.synthesis
    k = s.conv_kernel
    kind = "R (1x1 convolutions, radial filters)" if k == 1 else f"T ({k}x{k} convolutions)"
    fp16 = [spec.name for spec in cfg.layers if spec.use_fp16]
    lines = _source_lines(ckpt) + [
        f"family:      StyleGAN3-{kind}",
        f"resolution:  {cfg.img_resolution}x{cfg.img_resolution}, {cfg.img_channels} channels",
        f"z_dim={cfg.z_dim}  w_dim={cfg.w_dim}  c_dim={cfg.c_dim}  num_ws={cfg.num_ws}",
        f"mapping:     {cfg.mapping.num_layers} layers, lr_multiplier={cfg.mapping.lr_multiplier}",
        f"synthesis:   {s.num_layers} layers + ToRGB, {s.num_critical} critically sampled, margin {s.margin_size}, "
        f"channel_base={s.channel_base}, channel_max={s.channel_max}, conv_clamp={s.conv_clamp}",
        f"precision:   num_fp16_res={s.num_fp16_res} ({len(fp16)} float16 layers, in float16 with --precision nvidia "
        "on CUDA only, as NVIDIA's code; float32 on the CPU)",
        "",
        f"{'layer':<12} {'W+ idx':>6} {'rate':>6} {'size':>5} "
        f"{'channels':>8} {'cutoff':>8} {'kernel':>6} {'params':>11}",
    ]
    params: dict[str, int] = {}
    for key, value in ckpt.g_ema.items():
        parts = key.split(".")
        group = parts[1] if parts[0] == "synthesis" and len(parts) > 2 else parts[0]
        params[group] = params.get(group, 0) + value.numel()
    spec_in = cfg.input_spec
    lines.append(f"{'mapping':<12} {'':>6} {'':>6} {'':>5} {cfg.w_dim:>8} {'':>8} {'':>6} "
                 f"{params.get('mapping', 0):>11,}")
    lines.append(f"{'input':<12} {0:>6} {spec_in.sampling_rate:>6g} {spec_in.size:>5} {spec_in.channels:>8} "
                 f"{spec_in.bandwidth:>8.3g} {'':>6} {params.get('input', 0):>11,}")
    for spec in cfg.layers:
        lines.append(f"{spec.name:<12} {spec.ws_index:>6} {spec.out_sampling_rate:>6} {spec.out_size:>5} "
                     f"{spec.out_channels:>8} {spec.out_cutoff:>8.3g} {spec.conv_kernel:>6} "
                     f"{params.get(spec.name, 0):>11,}")
    lines.append(f"{'total':<12} {'':>6} {'':>6} {'':>5} {'':>8} {'':>8} {'':>6} {sum(params.values()):>11,}")
    return lines


def _source_lines(ckpt: Checkpoint) -> list[str]:
    """Where the model was read from: a file and its format, or a hub-style folder with its licence and lineage."""
    from ..io.hub import model_folder

    networks = f"networks:    {', '.join(n for n in ('g_ema', 'g', 'd') if getattr(ckpt, n) is not None)}"
    folder = model_folder(ckpt)
    if folder is None:
        return [f"file:        {ckpt.source}", f"format:      {ckpt.format}", networks]
    lines = [f"folder:      {folder} (hub-style model folder)",
             f"format:      {ckpt.source.name if ckpt.source else ''} ({ckpt.format}), config.json", networks]
    if ckpt.meta.get("license"):
        lines.append(f"license:     {ckpt.meta['license']}")
    lines.append(f"lineage:     {_lineage_text(ckpt.meta.get('lineage'))} (README.md has the model card)")
    return lines


def _lineage_text(lineage: object) -> str:
    if not isinstance(lineage, dict):
        return "unknown"
    parts = []
    source, blend, training = lineage.get("source"), lineage.get("blend"), lineage.get("training")
    if isinstance(source, dict):
        parts.append(f"read from {source.get('file')} ({source.get('format')})")
    if isinstance(blend, dict):
        parents = blend.get("parents") or []
        parts.append(f"a blend of {len(parents)} models (schedule {blend.get('schedule')})")
    if lineage.get("started_from"):
        parts.append("fine-tuned from an NVIDIA pickle")
    if isinstance(training, dict):
        parts.append(f"trained for {training.get('kimg')} kimg")
    return "; ".join(parts) or "unknown"


def _footer(ckpt: Checkpoint) -> list[str]:
    """Discriminator, augmentation and what was not read (the same for both families)."""
    lines = []
    if ckpt.d is not None and ckpt.d_config is not None:
        lines.append(f"discriminator: {sum(v.numel() for v in ckpt.d.values()):,} parameters "
                     f"({ckpt.d_config.architecture})")
    p = ckpt.meta.get("augment_p", ckpt.meta.get("ada_aug_p"))
    if ckpt.meta.get("has_augment_pipe") or isinstance(p, (int, float)):
        lines.append("augment:     " + (f"ADA p={p:.4g}" if isinstance(p, (int, float)) else "an augment pipeline"))
    dropped = ckpt.meta.get("dropped") or []
    if dropped:
        lines.append("not read from this file: " + "; ".join(dropped))
    return lines


def _fp16_text(resolutions: list[int]) -> str:
    if not resolutions:
        return "float32 throughout"
    return f"{', '.join(f'{r}x{r}' for r in resolutions)} in float16 with --precision nvidia"


def run(args: argparse.Namespace) -> int:
    from ..io import load_checkpoint  # here, so that `info --help` needs no torch

    ckpt = load_checkpoint(args.network)
    ckpt.check_networks()  # a network whose tensors do not fit its architecture is refused, as by every command
    print(describe(ckpt))
    return 0
