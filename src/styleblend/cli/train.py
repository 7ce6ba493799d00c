"""``styleblend train``: train a StyleGAN2 (ADA) from scratch, continue a run, or fine-tune a checkpoint.

Multi-process: ``torchrun --nproc_per_node N -m styleblend.cli.main train ...`` (gloo on CPU,
nccl on CUDA); --batch is the total over all processes. The run does not depend on the number of
processes: with the same --batch-gpu it is bit for bit the same for 1 or 2 processes.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from ..errors import CheckpointError, InvalidArgumentError
from ..train.options import AUGMENT_MODES, PRESETS, TrainOptions
from .common import add_device, add_threads, resolve_device

log = logging.getLogger(__name__)

TRANSFER_LR = 0.002  # StyleGAN2-ADA's transfer-learning runs use 0.002 (paper Sec. 4)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train a StyleGAN2-ADA model or fine-tune one on new data",
        description="Train G and D on a data set zip (styleblend.train.dataset_tool). Writes options.json, "
                    "log.jsonl, reals.png, fakesKKKKKK.png grids, network-snapshot-KKKKKK.safetensors (KKKKKK "
                    "the kimg; KKKKKK.III between whole kimg, III the remaining images) and training-state.pt "
                    "into --outdir. --resume FILE fine-tunes a checkpoint of any supported format; "
                    "--resume-run DIR continues an interrupted run exactly. The run is the same for any "
                    "number of processes (bit for bit with the same --batch-gpu).")
    p.add_argument("--data", help="training data set: zip or folder of square RGB PNGs")
    p.add_argument("--outdir", help="run directory to create (required unless --resume-run)")
    p.add_argument("--res", type=int, default=0, help="expected resolution; must equal "
                                                      "the data's (default: the data's)")
    p.add_argument("--cfg", default="emoji64", choices=sorted(PRESETS),
                   help="architecture preset (default: emoji64; --resume brings its own)")
    p.add_argument("--batch", type=int, default=32, help="total minibatch size (default: 32)")
    p.add_argument("--batch-gpu", type=int, default=None,
                   help="images per forward pass per process (default: all of the process' share); changes speed "
                        "and memory only, so --resume-run accepts it too")
    p.add_argument("--kimg", type=float, default=None, help="train until this many thousand images (default: 1000)")
    p.add_argument("--snap", type=float, default=4.0, help="snapshot and fakes grid every N kimg (default: 4)")
    p.add_argument("--tick", type=float, default=1.0, help="log.jsonl line every N kimg (default: 1)")
    p.add_argument("--keep-every", type=int, default=10,
                   help="keep every N-th snapshot besides the last 2; 0 keeps all (default: 10)")
    p.add_argument("--grid", type=int, default=64, help="images in the reals/fakes grids (default: 64)")
    p.add_argument("--gamma", type=float, default=0.1, help="R1 weight (default: 0.1, right for 64 px)")
    p.add_argument("--ema-kimg", type=float, default=10.0, help="G_ema half-life in kimg (default: 10)")
    p.add_argument("--no-ema-rampup", action="store_true", help="do not limit the EMA half-life early in training")
    p.add_argument("--aug", default="ada", choices=AUGMENT_MODES,
                   help="augmentation: ada, noaug or fixed (default: ada)")
    p.add_argument("--p", type=float, default=0.0, help="initial (ada) or constant (fixed) augmentation probability")
    p.add_argument("--target", type=float, default=0.6, help="ADA target for E[sign(D(real))] (default: 0.6)")
    p.add_argument("--mirror", action="store_true", help="add left-right mirrored copies of the data")
    p.add_argument("--lr", type=float, default=None,
                   help=f"learning rate of G and D (default: 0.0025, or {TRANSFER_LR} with --resume)")
    p.add_argument("--style-mixing", type=float, default=0.9, help="style-mixing probability (default: 0.9)")
    p.add_argument("--pl-weight", type=float, default=2.0, help="path-length regularisation weight (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--resume", help="fine-tune from this checkpoint (native, NVIDIA pickle, rosinality...)")
    p.add_argument("--resume-run", help="continue the run in this directory exactly (other options come from it; "
                                        "--kimg may extend it); a run stopped before its first snapshot starts "
                                        "over from its options.json")
    p.add_argument("--freeze-d", type=int, default=0, help="freeze the first K discriminator layers (Freeze-D)")
    p.add_argument("--freeze-mapping", action="store_true", help="keep the mapping network fixed")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (saving the state)")
    add_threads(p, 0, "torch's choice; 1 is much faster when other work shares the cores")
    p.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")
    add_device(p)
    p.set_defaults(func=run)


def options_from_args(args: argparse.Namespace) -> TrainOptions:
    """Build :class:`TrainOptions` from parsed arguments (new runs and --resume)."""
    if not args.data or not args.outdir:
        raise InvalidArgumentError("--data and --outdir are required (or pass --resume-run DIR to continue a run)")
    lr = args.lr if args.lr is not None else (TRANSFER_LR if args.resume else 0.0025)
    return TrainOptions(
        data=args.data, outdir=args.outdir, cfg=args.cfg, resolution=args.res, batch=args.batch,
        batch_gpu=args.batch_gpu or 0, kimg=args.kimg if args.kimg is not None else 1000.0, snap=args.snap,
        tick=args.tick, keep_every=args.keep_every, lr_g=lr, lr_d=lr, r1_gamma=args.gamma, ema_kimg=args.ema_kimg,
        ema_rampup=None if args.no_ema_rampup else 0.05, augment=args.aug, augment_p=args.p,
        ada_target=args.target, mirror=args.mirror, style_mixing_prob=args.style_mixing, pl_weight=args.pl_weight,
        seed=args.seed, grid=args.grid, resume=args.resume, freeze_d=args.freeze_d, freeze_mapping=args.freeze_mapping,
        device=args.device)


def _resume_options(run_dir: Path, args: argparse.Namespace, device: str) -> tuple[TrainOptions, dict | None]:
    """Options and training state of ``--resume-run``; a run without a state starts over.

    Raises:
        CheckpointError: no state and no options.json, or an unreadable one.
    """
    from ..train.checkpointing import STATE_NAME, load_training_state

    if (run_dir / STATE_NAME).is_file() or not (run_dir / "options.json").is_file():
        state = load_training_state(run_dir)  # explains a missing or broken state
        stored = state["options"]
    else:
        # Stopped before its first snapshot: nothing to continue, but every draw follows from the
        # seed, so starting over from the stored options gives the run it would have been.
        state = None
        try:
            stored = json.loads((run_dir / "options.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{run_dir / 'options.json'}: unreadable ({exc}); start a new run with "
                                  "--outdir") from None
        if not isinstance(stored, dict):
            raise CheckpointError(f"{run_dir / 'options.json'} is not a JSON object; start a new run with --outdir")
        log.warning("%s has no %s (it stopped before its first snapshot); starting the run over from its "
                    "options.json", run_dir, STATE_NAME)
    options = TrainOptions.from_dict(stored).replace(outdir=str(run_dir), device=device)
    if args.kimg is not None:
        options = options.replace(kimg=args.kimg)
    if args.batch_gpu is not None:
        options = options.replace(batch_gpu=args.batch_gpu)
    return options, state


def _check_new_outdir(outdir: Path) -> None:
    """Refuse an --outdir that holds a run's state or snapshots (a stopped attempt without them is reused)."""
    from ..train.checkpointing import STATE_NAME

    if (outdir / STATE_NAME).is_file():
        raise InvalidArgumentError(f"--outdir {outdir} already holds a run; continue it with --resume-run {outdir} "
                                   "or choose a new directory")
    if any(outdir.glob("network-snapshot-*")):
        hint = (f"restart it with --resume-run {outdir} (it starts over from its options.json) or "
                if (outdir / "options.json").is_file() else "")
        raise InvalidArgumentError(f"--outdir {outdir} already holds snapshots but no {STATE_NAME}; {hint}choose a "
                                   "new directory")


def run(args: argparse.Namespace) -> int:
    from ..train.loop import train

    device = resolve_device(args.device)
    state = None
    if args.resume_run:
        if args.resume:
            raise InvalidArgumentError("--resume-run continues a run and --resume starts a new one; pass only one")
        run_dir = Path(args.resume_run)
        options, state = _resume_options(run_dir, args, str(device))
        if state is not None and int(state["cur_nimg"]) >= round(options.kimg * 1000):
            kimg = int(state["cur_nimg"]) / 1000
            if args.quiet or int(os.environ.get("RANK", "0")) != 0:  # torchrun: one line, not one per process
                return 0
            if args.kimg is None:
                print(f"{run_dir}: already finished at {kimg:g} kimg (its --kimg {options.kimg:g}); nothing to "
                      "train. Pass a larger --kimg to train on.")
            else:
                print(f"{run_dir}: already at {kimg:g} kimg, which reaches --kimg {args.kimg:g}; nothing to train. "
                      f"Pass a --kimg above {kimg:g} to train on.")
            return 0
    else:
        options = options_from_args(args)
        _check_new_outdir(Path(options.outdir))
    result = train(options, resume_state=state, max_steps=args.max_steps, show_progress=not args.no_progress)
    if not args.quiet and result.rank == 0:
        for path in result.snapshots:
            print(path)
        print(f"{result.run_dir}: {result.cur_nimg / 1000:g} kimg after {result.step} steps"
              + ("" if result.finished else f" (stopped; continue with --resume-run {result.run_dir})"))
    return 0
