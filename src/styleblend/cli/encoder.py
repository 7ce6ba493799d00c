"""``styleblend encoder train``: train an image -> W+ encoder for a generator on its own samples;
``styleblend encoder train-features``: a feature head for it (W+ + the generator's features at one block)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InvalidArgumentError
from .common import add_device, add_threads, resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("encoder", help="train an encoder (image -> W+ in milliseconds) for a generator",
                       description="Encoders for 'project --method encoder'. Subcommands: train, train-features.")
    actions = p.add_subparsers(dest="encoder_command", metavar="ACTION")
    actions.required = True
    t = actions.add_parser(
        "train", help="train an encoder on the generator's own samples (no data set needed)",
        description="Draw latents (w, style-mixed and perturbed W+), render them with the frozen generator and "
                    "train a small CNN to predict them back (latent loss + reconstruction loss through the "
                    "generator + an offset regulariser that keeps predictions near W). Writes --out (float16 "
                    "safetensors) every --snap kimg, with <stem>.state.pt (exact resume) and <stem>.log.jsonl "
                    "beside it. Launch with torchrun for data-parallel processes.")
    t.add_argument("--network", required=True, help="generator checkpoint: NVIDIA .pkl, rosinality .pt or .safetensors")
    t.add_argument("--out", required=True, type=Path, help="encoder file to write (.safetensors)")
    t.add_argument("--images", default=None, metavar="DIR",
                   help="optional folder of unlabelled real images: adds a reconstruction-only term")
    t.add_argument("--kimg", type=float, default=None,
                   help="train until this many thousand synthetic images (default 100; with --resume: the run's)")
    t.add_argument("--batch", type=int, default=16, help="synthetic images per step, all processes (default 16)")
    t.add_argument("--real-batch", type=int, default=0,
                   help="real images per step with --images (default: half of --batch)")
    t.add_argument("--lr", type=float, default=0.001, help="Adam learning rate (default 0.001)")
    t.add_argument("--recon-weight", type=float, default=1.0,
                   help="weight of the pixel loss through the generator (default 1; 0 = latent loss only, ~3x faster)")
    t.add_argument("--offset-reg", type=float, default=0.05,
                   help="weight pulling per-row offsets toward 0, i.e. predictions toward W (default 0.05)")
    t.add_argument("--noise-mode", choices=["const", "random"], default="const",
                   help="noise inputs of the rendered targets (default const: the model's stored noise)")
    t.add_argument("--iterations", type=int, default=1,
                   help="1: a one-shot encoder (default); K > 1: an iterative (ReStyle) encoder that also sees its "
                        "current reconstruction and corrects it K times when encoding")
    t.add_argument("--init-encoder", type=Path, default=None, metavar="FILE",
                   help="start from this trained encoder instead of random weights (a one-shot one becomes "
                        "iterative with --iterations > 1; its first pass still predicts what it predicted)")
    t.add_argument("--ema-kimg", type=float, default=None, metavar="K",
                   help="write a moving average of the weights with this half-life in kimg (default 0: the last "
                        "step's weights; with --resume: the run's, or this value)")
    t.add_argument("--snap", type=float, default=5.0, help="write the encoder and the state every N kimg (default 5)")
    t.add_argument("--tick", type=float, default=1.0, help="log line every N kimg (default 1)")
    t.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run whose state is beside --out exactly (its options; --kimg may extend it)")
    t.add_argument("--max-steps", type=int, default=None, help="stop after this many steps (writing the state)")
    t.add_argument("--fp32", action="store_true", help="store --out in float32 (default float16: half the size)")
    t.add_argument("--no-progress", action="store_true", help="do not draw the progress bar")
    add_threads(t, 0, "torch's choice; 1 is much faster when other work shares the cores")
    add_device(t)
    t.set_defaults(func=run_train)

    f = actions.add_parser(
        "train-features", help="train a feature head for a trained encoder (W+ + the generator's block-r features)",
        description="The W+ encoder stays frozen; a small CNN learns the generator's feature map at block "
                    "--block (a residual on the features G computes from the encoder's W+), from the generator's "
                    "own samples (feature + pixel loss) and optional unlabelled real images (pixel loss). "
                    "'project --method encoder --steps 0 --feature-head FILE' and 'toonify --steps 0 "
                    "--feature-head FILE' use it. Writes --out every --snap kimg with <stem>.state.pt (exact "
                    "resume) and <stem>.log.jsonl beside it.")
    f.add_argument("--network", required=True, help="the generator the encoder was trained for")
    f.add_argument("--encoder", required=True, type=Path, help="its trained encoder ('styleblend encoder train')")
    f.add_argument("--out", required=True, type=Path, help="feature head file to write (.safetensors)")
    f.add_argument("--block", type=int, default=16, help="block resolution whose features are predicted (default 16)")
    f.add_argument("--images", default=None, metavar="DIR", help="optional folder of unlabelled real images")
    f.add_argument("--encoder-iterations", type=int, default=None, metavar="N",
                   help="passes of an iterative encoder the head refines (default: the encoder's own count; "
                        "--resume: the run's, or N to fine-tune the head for N passes)")
    f.add_argument("--kimg", type=float, default=None,
                   help="thousand synthetic images (default 20; --resume: the run's)")
    f.add_argument("--batch", type=int, default=8, help="synthetic images per step (default 8)")
    f.add_argument("--real-batch", type=int, default=8, help="real images per step with --images (default 8)")
    f.add_argument("--snap", type=float, default=0.5, help="write the head and the state every N kimg (default 0.5)")
    f.add_argument("--seed", type=int, default=0, help="seed of every random draw (default 0)")
    f.add_argument("--resume", action="store_true", help="continue the run whose state is beside --out exactly")
    add_threads(f, 0, "torch's choice; 1 is much faster when other work shares the cores")
    add_device(f)
    f.set_defaults(func=run_train_features)


def run_train(args: argparse.Namespace) -> int:
    from ..project.encoder_train import EncoderTrainOptions, load_encoder_state, state_path, train_encoder

    device = resolve_device(args.device)
    if args.max_steps is not None and args.max_steps < 1:
        raise InvalidArgumentError(f"--max-steps {args.max_steps} must be >= 1")
    state = None
    if args.resume:
        state = load_encoder_state(args.out)
        options = EncoderTrainOptions.from_dict(state["options"]).replace(out=str(args.out), network=args.network,
                                                                          device=str(device))
        if args.kimg is not None:
            options = options.replace(kimg=args.kimg)
        if args.ema_kimg is not None:
            options = options.replace(ema_kimg=args.ema_kimg)
    else:
        if state_path(args.out).exists():
            raise InvalidArgumentError(f"{state_path(args.out)} exists: --out {args.out} already has a run; continue "
                                       "it with --resume or choose another --out")
        if args.images is not None and not Path(args.images).is_dir():
            raise InvalidArgumentError(f"--images '{args.images}' is not a folder")
        options = EncoderTrainOptions(
            network=args.network, out=str(args.out), images=args.images,
            kimg=args.kimg if args.kimg is not None else 100.0, batch=args.batch, real_batch=args.real_batch,
            lr=args.lr, recon_weight=args.recon_weight, offset_reg=args.offset_reg, noise_mode=args.noise_mode,
            snap=args.snap, tick=args.tick, seed=args.seed, store_float32=args.fp32, device=str(device),
            iterations=args.iterations, init_encoder=str(args.init_encoder) if args.init_encoder else None,
            ema_kimg=args.ema_kimg or 0.0)
    result = train_encoder(options, resume_state=state, max_steps=args.max_steps,
                           show_progress=not (args.no_progress or args.quiet))
    if not args.quiet and result.rank == 0:
        stats = ", ".join(f"{k} {v:.4g}" for k, v in result.last_stats.items())
        print(f"{result.out}: {result.cur_nimg / 1000:.2f} kimg after {result.step} steps ({stats})"
              + ("" if result.finished else f"; continue with --resume --out {result.out}"))
    return 0


def run_train_features(args: argparse.Namespace) -> int:
    from ..project.feature_encoder_train import (
        FeatureTrainOptions,
        load_feature_state,
        state_path,
        train_feature_head,
    )

    device = resolve_device(args.device)
    state = None
    if args.resume:
        state = load_feature_state(args.out)
        values = {**state["options"], "out": str(args.out), "network": args.network, "encoder": str(args.encoder)}
        if args.kimg is not None:
            values["kimg"] = args.kimg
        if args.encoder_iterations is not None:
            values["encoder_iterations"] = args.encoder_iterations
        options = FeatureTrainOptions.from_dict(values)
    else:
        if state_path(args.out).exists():
            raise InvalidArgumentError(f"{state_path(args.out)} exists: --out {args.out} already has a run; continue "
                                       "it with --resume or choose another --out")
        if args.images is not None and not Path(args.images).is_dir():
            raise InvalidArgumentError(f"--images '{args.images}' is not a folder")
        options = FeatureTrainOptions(network=args.network, encoder=str(args.encoder), out=str(args.out),
                                      block_res=args.block, images=args.images,
                                      kimg=args.kimg if args.kimg is not None else 20.0, batch=args.batch,
                                      real_batch=args.real_batch, snap=args.snap, seed=args.seed,
                                      encoder_iterations=args.encoder_iterations or 0)
    last = train_feature_head(options, resume_state=state, device=device)
    if not args.quiet:
        stats = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k not in ("kimg", "step"))
        print(f"{args.out}: {last['kimg']:.2f} kimg after {last['step']} steps ({stats})")
    return 0
