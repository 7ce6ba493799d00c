"""``styleblend project``: embed an image (or a folder of images) into W / W+ of a network."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InvalidArgumentError
from ..project.settings import (  # torch-free: the parser lists the methods and their defaults
    ENCODER_DEFAULT_STEPS,
    ENCODER_METHOD,
    LOSS_KINDS,
    METHODS,
    NOISE_INITS,
    SPACES,
    settings_for,
)
from .common import add_device, progress_bar, resolve_device, warn


def _method_help(method: str) -> str:
    steps = {m: settings_for(m).steps for m in METHODS}
    return (f"image2stylegan (Abdal et al. 2019, W+, {steps['image2stylegan']} steps), nvidia (Karras et al. 2020, "
            f"W, {steps['nvidia']} steps, noise maps optimised), fast (coarse-to-fine W+, {steps['fast']} steps) or "
            f"editable (fast with the W+ regulariser on, for toonify and edits) (default {method})")


def add_projection_options(p: argparse.ArgumentParser, device: bool = True, method: str = "image2stylegan",
                           encoder: bool = False) -> None:
    """Options shared by `project`, `toonify` and `style-fusion` (which has --device already: device=False).

    encoder: also offer ``--method encoder`` and ``--encoder FILE`` (see styleblend.project.batch.prepare_job).
    """
    methods = METHODS + ((ENCODER_METHOD,) if encoder else ())
    method_help = _method_help(method)
    if encoder:
        method_help = method_help.replace(" (default", f", or encoder (a trained encoder's prediction, then "
                                          f"{ENCODER_DEFAULT_STEPS} 'fast' steps; --steps 0: the prediction only) "
                                          "(default")
    p.add_argument("--method", choices=methods, default=method, help=method_help)
    if encoder:
        p.add_argument("--encoder", default=None, metavar="FILE",
                       help="encoder for --method encoder (from 'styleblend encoder train')")
        p.add_argument("--feature-head", default=None, metavar="FILE",
                       help="with --method encoder: also predict the generator's feature map at the head's "
                            "block (from 'styleblend encoder train-features', or 'bundled' for the bundled "
                            "encoder's), and with --steps N > 0 refine W+ and the features together; the result "
                            "is 'W+ + r px features', not a pure latent: the .npz gets a 'features' entry that "
                            "renders with it, and editing the W+ part still works")
    p.add_argument("--space", choices=SPACES, default=None, help="latent space (default: the method's)")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (default: the method's)")
    p.add_argument("--lr", type=float, default=None, help="base learning rate (default: the method's)")
    p.add_argument("--init", default=None, metavar="mean|random|FILE",
                   help="start at the mean w, uniform random U[-1,1], or a latent .npz (default: mean)")
    p.add_argument("--seed", type=int, default=0, help="seed of every random draw; same seed, same result")
    p.add_argument("--vgg", default=None, metavar="PATH",
                   help="VGG-16 weights: torchvision vgg16 .pth or NVIDIA's vgg16.pt (default: torch hub cache)")
    p.add_argument("--download", action="store_true",
                   help="allow downloading torchvision's VGG-16 weights (528 MB) into the torch hub cache")
    if device:
        add_device(p)


def add_loss_options(p: argparse.ArgumentParser) -> None:
    """The loss and regulariser options of `project` (a command adds them when it passes them on to prepare_job)."""
    p.add_argument("--loss", choices=LOSS_KINDS, default=None,
                   help="pixel (MSE + MS-SSIM), vgg (the method's VGG-16 perceptual loss) or dfeat (the model's own "
                        "discriminator features + MSE, no downloaded weights) (default: vgg when VGG-16 weights are "
                        "found, else dfeat when the network or --discriminator has a discriminator, else pixel)")
    p.add_argument("--discriminator", default=None, metavar="CKPT",
                   help="take the dfeat loss's discriminator from this checkpoint of the same model, e.g. a "
                        "training snapshot (default: the network's own, if it has one)")
    p.add_argument("--w-reg", type=float, default=None, metavar="WEIGHT",
                   help="weight of the W+ regulariser (mean distance of each layer's w from the mean w, in units "
                        "of W's spread): keeps the latent editable and blendable (default: 0 = off, except for "
                        f"--method editable: {settings_for('editable').w_reg:g})")
    p.add_argument("--feature-lr", type=float, default=None, metavar="LR",
                   help="with --feature-head and --steps > 0: the features' learning rate in units of their RMS "
                        f"(default {settings_for('fast').feature_lr:g}; 0 keeps the head's features and refines W+)")
    p.add_argument("--optimize-noise", action=argparse.BooleanOptionalAction, default=None,
                   help="also optimise the per-layer noise maps, with NVIDIA's noise regulariser (default: on for "
                        "--method nvidia, off otherwise)")
    p.add_argument("--noise-init", choices=NOISE_INITS, default=None,
                   help="where optimised noise maps start: the model's own maps or fresh random ones (default: "
                        f"{settings_for('nvidia').noise_init})")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("project", help="embed real images into the latent space (W / W+)",
                       description="Find the latent whose image matches a target (Image2StyleGAN or NVIDIA's "
                                   "projector). Writes proj.png, target.png, compare.png, metrics.json, "
                                   "projected_w.npz (usable with generate --w-file), then loss.png (each "
                                   "weighted loss term) and with --video proj.mp4.")
    p.add_argument("--network", required=True, help="checkpoint: NVIDIA .pkl, rosinality .pt or .safetensors")
    p.add_argument("--target", required=True, type=Path,
                   help="an image, or a folder (batch mode: one sub-folder of outputs per image, resumable)")
    p.add_argument("--outdir", required=True, type=Path)
    add_projection_options(p, encoder=True)
    add_loss_options(p)
    p.add_argument("--video", action="store_true",
                   help="also write proj.mp4 of the optimisation (target | current); needs imageio-ffmpeg, "
                        "checked before any work")
    p.add_argument("--shard", default=None, metavar="i/n",
                   help="batch mode: process only shard i of n of the sorted files (default: RANK/WORLD_SIZE "
                        "from torchrun, else all)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # The library is imported here, so that `project --help` needs no torch.
    from ..io.memory import keep_freed_memory
    from ..media.load import list_images
    from ..project.batch import parse_shard, prepare_job, project_batch
    from ..project.losses import FALLBACK_PARAMS

    device = resolve_device(args.device)
    if args.steps is not None and args.steps < (0 if args.method == ENCODER_METHOD else 1):
        raise InvalidArgumentError(f"--steps {args.steps} must be >= 1 (>= 0 with --method encoder)")
    batch = args.target.is_dir()
    if batch:
        files = list_images(args.target)
        if not files:
            raise InvalidArgumentError(f"folder '{args.target}' holds no images (.png, .jpg, .webp, ...)")
        shard = parse_shard(args.shard)
    else:
        if args.shard is not None:
            raise InvalidArgumentError("--shard only applies when --target is a folder")
        files, shard = [args.target], (0, 1)
    if args.w_reg is not None and args.w_reg < 0:
        raise InvalidArgumentError(f"--w-reg {args.w_reg} must be >= 0 (0 turns the regulariser off)")
    job = prepare_job(args.network, args.method, space=args.space, steps=args.steps, init=args.init, lr=args.lr,
                      seed=args.seed, vgg_path=args.vgg, download=args.download, device=device, video=args.video,
                      loss=args.loss, discriminator=args.discriminator, w_reg=args.w_reg,
                      optimize_noise=args.optimize_noise, noise_init=args.noise_init, encoder=args.encoder,
                      feature_head=getattr(args, "feature_head", None), feature_lr=getattr(args, "feature_lr", None))
    if job.warning:
        warn(job.warning, FALLBACK_PARAMS)  # once, though the library logs it too
    if not args.quiet:
        extras = [f"w_reg {job.settings.w_reg:g}"] if job.settings.w_reg > 0 else []
        if job.settings.optimize_noise:
            s = job.settings
            extras.append(f"noise maps optimised ({s.noise_init} start, reg {s.noise_reg_weight:g})")
        print(f"loss: {job.loss.kind} = {job.loss.describe()}" + "".join(f"; {e}" for e in extras))
    quiet = args.quiet

    def callback_for(path: Path):
        if job.refine_steps == 0:
            return None  # the encoder alone: no steps to show
        bar = progress_bar(args, total=job.settings.steps, desc=path.name[:30], unit="step", leave=False)

        def cb(step: int, parts: dict[str, float], ws) -> None:
            bar.update(1)
            if step % 10 == 0 or step == job.settings.steps:
                bar.set_postfix(loss=f"{parts['loss']:.4g}")
            if step == job.settings.steps:
                bar.close()

        return cb

    def on_done(path: Path, folder: Path, metrics: dict | None) -> None:
        if quiet:
            return
        if metrics is None:
            print(f"{path.name}: already done in {folder}, skipped")
            return
        if "error" in metrics:
            print(f"{path.name}: failed: {metrics['error']}")
            return
        extra = "".join(f", {k} {metrics[k]:.4f}" for k in ("lpips", "vgg_distance") if k in metrics)
        extra += f", W+ row spread {metrics['row_spread']:.3f}"
        speed = (f"{metrics['steps']} steps, {metrics['steps_per_second']:.2f} steps/s" if metrics["steps"]
                 else f"encoder only, {metrics['seconds']:.3f} s")
        if metrics.get("latent", "W+") != "W+":
            speed += f"; {metrics['latent']}, not a pure latent"
        print(f"{path.name}: PSNR {metrics['psnr']:.2f} dB, SSIM {metrics['ssim']:.4f}{extra} ({speed}) -> {folder}/")

    outroot = args.outdir
    # The steps allocate and free the same activations every time: keep the freed memory for reuse (about a fifth
    # of a 256 px step's CPU time otherwise goes to faulting its pages in again; styleblend.io.memory).
    with keep_freed_memory():
        if batch:
            report = project_batch(job, files, outroot, shard, callback_for=callback_for, on_done=on_done)
        else:
            # One image: its outputs go straight into --outdir (re-running overwrites them).
            from ..project.batch import project_file

            metrics = project_file(job, files[0], outroot, callback_for(files[0]))
            on_done(files[0], outroot, metrics)
            report = [(files[0], outroot, "done")]
    if not quiet and batch:
        done = sum(1 for *_, s in report if s == "done")
        skipped = sum(1 for *_, s in report if s == "skipped")
        failed = sum(1 for *_, s in report if s == "failed")
        print(f"shard {shard[0]}/{shard[1]}: {done} projected, {skipped} "
              f"already done, {failed} failed, outputs in {outroot}")
        if failed:
            return 1
    return 0
