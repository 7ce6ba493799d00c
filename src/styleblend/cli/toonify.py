"""``styleblend toonify``: align a photo, embed it with the base model, render it through blended models."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import progress_bar, resolve_device, warn
from .project import add_projection_options


def _set_help(p: argparse.ArgumentParser, dest: str, text: str, extra_choice: str | None = None) -> None:
    """Say toonify's own defaults in the help of a shared projection option (and accept one more choice)."""
    for action in p._actions:
        if action.dest == dest:
            action.help = text
            if extra_choice is not None and action.choices is not None and extra_choice not in action.choices:
                action.choices = (*action.choices, extra_choice)


def register(sub: argparse._SubParsersAction) -> None:
    from ..project.settings import DEFAULT_FAST_STEPS, DEFAULT_FEATURE_LR, DEFAULT_REFINE_STEPS

    p = sub.add_parser("toonify", help="photo -> aligned -> embedded with the base -> rendered by blended models",
                       description="The blending paper's pipeline: the photo's latent in the base model, rendered "
                                   "through one or more blended models. The embedding (and a PTI delta) is cached "
                                   "in OUTDIR/embeddings and reused for further blends. Prints what the toonify "
                                   "keeps and writes it to OUTDIR/metrics.json.")
    p.add_argument("--base", required=True, help="the base model the blends were made from")
    p.add_argument("--blend", required=True, nargs="+", help="one or more blended models")
    p.add_argument("--photo", required=True, type=Path)
    p.add_argument("--outdir", required=True, type=Path)
    p.add_argument("--no-align", action="store_true", help="the photo is already aligned (just centre-crop/resize)")
    p.add_argument("--predictor", default=None, help="dlib 68-point landmark model (default: found automatically)")
    add_projection_options(p)
    p.set_defaults(method=None)
    _set_help(p, "method", "image2stylegan (W+, 5000 steps), nvidia (W, 1000 steps), fast (coarse-to-fine W+), "
                           "editable (fast + the W+ regulariser) or encoder (default: the encoder + editable "
                           "refinement when --encoder is given or one is bundled for this base, else editable with "
                           f"{DEFAULT_FAST_STEPS} steps)", extra_choice="encoder")
    _set_help(p, "steps", f"optimisation steps (default: {DEFAULT_REFINE_STEPS} refinement steps after an encoder; 0 "
                          "keeps its prediction - the fast path, under a second at 64 px besides Python's start-up; "
                          f"{DEFAULT_FAST_STEPS} for the default editable method without an encoder, else the "
                          "method's own)")
    if not any("--encoder" in a.option_strings for a in p._actions):
        p.add_argument("--encoder", default=None, type=Path,
                       help="an encoder for the base (styleblend encoder train); default: the bundled one for the "
                            "bundled base, if any")
    if not any("--feature-head" in a.option_strings for a in p._actions):
        p.add_argument("--feature-head", default=None, type=Path, metavar="FILE",
                       help="with the encoder (not with --pti): also predict the base's feature map at the head's "
                            "block (styleblend encoder train-features; 'bundled': the bundled encoder's), refine W+ "
                            "and the features together for --steps steps (0: the prediction alone) and render them "
                            "through each blend (the blend's own features plus the embedding's change of the "
                            "base's); the result is 'W+ + r px features', not a pure latent, written to "
                            "OUTDIR/embeddings/features.npz")
    if not any("--feature-lr" in a.option_strings for a in p._actions):
        p.add_argument("--feature-lr", type=float, default=None, metavar="LR",
                       help="with --feature-head: the features' learning rate in units of their RMS (default "
                            f"{DEFAULT_FEATURE_LR:g}; 0 keeps the head's features and refines W+ only)")
    g = p.add_argument_group("pivotal tuning (PTI)")
    g.add_argument("--pti", action="store_true",
                   help="tune the base on the photo as a low-rank delta (at most --pti-budget of G's parameters) and "
                        "render every blend with it")
    g.add_argument("--pti-steps", type=int, default=100, help="tuning steps (default 100)")
    g.add_argument("--pti-rank", type=int, default=None,
                   help="rank of the delta (default: the largest <= 8 within --pti-budget)")
    g.add_argument("--pti-budget", type=float, default=0.02,
                   help="most parameters the delta may hold, as a fraction of the generator's (default 0.02)")
    g.add_argument("--pti-lr", type=float, default=1e-2, help="learning rate of the delta (default 0.01)")
    g.add_argument("--pti-locality", type=float, default=0.0, metavar="WEIGHT",
                   help="weight of PTI's locality regulariser, which keeps renders of latents 30 units away from the "
                        "photo's unchanged (the paper uses 0.1; default 0 = off)")
    g.add_argument("--pti-delta", type=Path, default=None, help="use this delta file instead of tuning (implies --pti)")
    g.add_argument("--pti-schedule", default=None, metavar="SPEC",
                   help="the blends' schedule (e.g. swap:16) when a blend has no recipe or blend metadata "
                        "(default: read from BLEND.recipe.json, else from the blend file)")
    g.add_argument("--pti-export", type=Path, default=None, metavar="OUT",
                   help="also write the tuned base (format from the suffix: .safetensors, .pkl, .pt; else the base's)")
    m = p.add_argument_group("measures")
    m.add_argument("--critic", type=Path, default=None,
                   help="a checkpoint with a discriminator (the transfer's training snapshot) that scores the toons "
                        "(default: each blend's recorded transfer file, when it has a discriminator)")
    m.add_argument("--identity", action=argparse.BooleanOptionalAction, default=None,
                   help="face identity similarity with dlib (default: on for aligned face photos, off with --no-align)")
    p.set_defaults(func=run)


def _print_metrics(metrics: dict) -> None:
    def q(entry: dict) -> str:
        text = f"PSNR {entry['psnr']:.2f} dB, SSIM {entry['ssim']:.4f}"
        if entry.get("identity_distance") is not None:
            text += f", identity distance {entry['identity_distance']:.3f}"
        return text

    print(f"embedding: {metrics['embedding']['method']} ({metrics['embedding']['loss']}); "
          f"distance from W: row spread {metrics['w_distance']['row_spread']:.3f}, "
          f"mean row {metrics['w_distance']['mean_distance']:.3f} (units of W's spread)")
    print(f"reconstruction: {q(metrics['reconstruction'])}")
    if metrics["embedding"].get("latent", "W+") != "W+":
        print(f"latent: {metrics['embedding']['latent']} ({metrics['embedding']['feature_head']}); the toons render "
              "the blend's own features plus the embedding's change of the base's")
    if "reconstruction_pti" in metrics:
        pti = metrics["pti"]
        print(f"reconstruction with PTI: {q(metrics['reconstruction_pti'])}; delta rank {pti['rank']}, "
              f"{pti['params']} parameters ({100 * pti['fraction_of_G']:.2f} % of G), {pti['bytes']} bytes")
    for name, entry in metrics["toons"].items():
        if "realism_logit" in entry:
            text = (f"D logit {entry['realism_logit']:+.3f} (transfer samples {entry['critic_reference_logit']:+.3f}, "
                    f"target {entry['critic_target_logit']:+.3f})")
        else:
            text = f"realism {entry['realism_note']}"
        if entry.get("identity_distance") is not None:
            text += f", identity distance {entry['identity_distance']:.3f}"
        print(f"toon {name}: {text}")
    if "identity_note" in metrics:
        print(f"identity {metrics['identity_note']}")
    print("seconds: " + ", ".join(f"{k} {v:.2f}" for k, v in metrics["seconds"].items()))


def run(args: argparse.Namespace) -> int:
    from ..project.losses import FALLBACK_PARAMS
    from ..project.pti import PTISettings
    from ..project.toonify import toonify

    device = resolve_device(args.device)
    detector = None
    if not args.no_align:
        from ..align import default_detector

        detector = default_detector(args.predictor)
    pti = PTISettings(steps=args.pti_steps, rank=args.pti_rank, lr=args.pti_lr,
                      budget=args.pti_budget, locality_weight=args.pti_locality) if args.pti else None
    bar = progress_bar(args, desc="embedding", unit="step", leave=False)

    def progress(step: int, parts: dict[str, float], ws) -> None:
        bar.update(1)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{parts['loss']:.4g}")

    pti_bar = progress_bar(args, desc="pivotal tuning", unit="step", leave=False, disable=pti is None)

    def pti_progress(step: int, parts: dict[str, float]) -> None:
        pti_bar.update(1)

    result = toonify(args.base, args.blend, args.photo, args.outdir, align=not args.no_align, detector=detector,
                     method=args.method, steps=args.steps, space=args.space, init=args.init, lr=args.lr,
                     seed=args.seed, vgg_path=args.vgg,
                     download=args.download, device=device, callback=progress, encoder=args.encoder, pti=pti,
                     pti_delta=args.pti_delta, pti_schedule=args.pti_schedule, pti_export=args.pti_export,
                     pti_callback=pti_progress, critic=args.critic, identity=args.identity,
                     feature_head=args.feature_head, feature_lr=args.feature_lr)
    bar.close()
    pti_bar.close()
    if not args.quiet:
        if result.warning and not result.cache_hit:
            warn(result.warning, FALLBACK_PARAMS)  # once, though the library logs it too
        print(("reused embedding " if result.cache_hit else "embedded into ") + str(result.cache_path))
        _print_metrics(result.metrics)
        for path in result.written:
            print(f"wrote {path}")
        for path in result.removed:
            print(f"removed {path} (left by the previous run)")
    return 0
