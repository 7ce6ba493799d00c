"""``styleblend export``: a generator as an ONNX graph, or a checkpoint as a hub-style model folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MissingDependencyError
from .common import check_outputs, input_files, int_in_range

if TYPE_CHECKING:
    from ..io.checkpoint import Checkpoint

#: Largest difference from PyTorch that an export may show before the command warns (float32 noise is ~1e-6).
CHECK_TOLERANCE = 1e-4


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="export a generator to ONNX, or a checkpoint to a hub-style model folder",
        description="--to onnx: one .onnx file of the EMA generator's synthesis network (input ws [N, num_ws, "
                    "w_dim], W+), mapping network (z, truncation_psi -> ws) or both (-> img, ws); the batch size is "
                    "dynamic, noise is the stored noise (noise_mode const), everything float32. The file is then run "
                    "under onnxruntime, when installed, and compared with PyTorch. --to hub: a folder with "
                    "model.safetensors, config.json and a README.md model card (architecture, licence, lineage), "
                    "the layout of the Hugging Face Hub; every command's --network reads it.")
    p.add_argument("--network", required=True, help="the checkpoint (any supported "
                                                    "format, a model folder or owner/name)")
    p.add_argument("--to", required=True, choices=["onnx", "hub"])
    # dest 'target', not 'out': a hub export writes a folder, which the CLI's check of --out file outputs refuses.
    p.add_argument("--out", dest="target", metavar="PATH", required=True, type=Path,
                   help="the .onnx file, or the model folder (hub)")
    p.add_argument("--force", action="store_true", help="replace an existing output (a model folder only if it is one)")
    onnx = p.add_argument_group("onnx")
    onnx.add_argument("--what", choices=["synthesis", "mapping", "both"], default="synthesis",
                      help="synthesis (default): ws -> img; mapping: z, truncation_psi [, c] -> ws; both: -> img, ws")
    onnx.add_argument("--trunc-cutoff", type=int_in_range(0, None, "--trunc-cutoff"), default=None,
                      help="mapping/both: truncate only the first K ws (default: all)")
    onnx.add_argument("--opset", type=int_in_range(18, 21, "--opset"), default=None,
                      help="ONNX opset, 18 to 21 (default 18)")
    onnx.add_argument("--no-check", action="store_true", help="do not compare the file with PyTorch under onnxruntime")
    hub = p.add_argument_group("hub")
    hub.add_argument("--license", default=None,
                     help="licence id of the weights for the model card, e.g. apache-2.0, cc-by-4.0, other "
                          "(default: the one a model folder states, else 'not stated')")
    hub.add_argument("--ema-only", action="store_true", help="write only the EMA generator (no G, no D)")
    hub.add_argument("--fp16", action="store_true", help="store weights as float16 (half the size)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..io import load_checkpoint

    inputs = input_files(argparse.Namespace(**{k: v for k, v in vars(args).items() if k != "target"}))
    check_outputs([args.target], inputs, force=args.force)
    if args.to == "onnx":
        _check_onnx_only(args)
        ckpt = load_checkpoint(args.network)
        return _export_onnx(args, ckpt)
    _check_hub_only(args)
    import torch

    from ..io.hub import save_pretrained

    ckpt = load_checkpoint(args.network)
    folder = save_pretrained(ckpt, args.target, overwrite=args.force, license=args.license, ema_only=args.ema_only,
                             dtype=torch.float16 if args.fp16 else None)
    if not args.quiet:
        networks = ", ".join(n for n in ("g_ema", "g", "d") if getattr(ckpt, n) is not None and
                             (n == "g_ema" or not args.ema_only))
        print(f"wrote {folder} (model.safetensors, config.json, README.md; networks: {networks})")
    return 0


def _export_onnx(args: argparse.Namespace, ckpt: Checkpoint) -> int:
    from ..export.onnx import DEFAULT_OPSET, check_onnx, export_onnx

    G = ckpt.generator()
    done = export_onnx(G, args.target, args.what, truncation_cutoff=args.trunc_cutoff,
                       opset=args.opset or DEFAULT_OPSET, overwrite=args.force)
    note = ""
    if not args.no_check:
        try:
            diff = check_onnx(done.path, G, args.what, truncation_cutoff=args.trunc_cutoff)
        except MissingDependencyError:
            note = "; not checked: onnxruntime is not installed (pip install 'styleblend[onnx]')"
        else:
            note = f"; onnxruntime vs PyTorch: max |difference| {diff:.2g} on 3 samples"
            if diff > CHECK_TOLERANCE:
                print(f"warning: the ONNX graph differs from PyTorch by {diff:.3g} (more than {CHECK_TOLERANCE:g})",
                      file=sys.stderr)
    if not args.quiet:
        print(f"wrote {done.path} ({done.describe()}{note})")
    return 0


def _check_onnx_only(args: argparse.Namespace) -> None:
    from ..errors import InvalidArgumentError

    for flag, value in (("--license", args.license), ("--ema-only", args.ema_only), ("--fp16", args.fp16)):
        if value:
            raise InvalidArgumentError(f"{flag} applies to --to hub, not to --to onnx")


def _check_hub_only(args: argparse.Namespace) -> None:
    from ..errors import InvalidArgumentError

    for flag, value in (("--what", args.what != "synthesis"), ("--trunc-cutoff", args.trunc_cutoff is not None),
                        ("--opset", args.opset is not None), ("--no-check", args.no_check)):
        if value:
            raise InvalidArgumentError(f"{flag} applies to --to onnx, not to --to hub")
