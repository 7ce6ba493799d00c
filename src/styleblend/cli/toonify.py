"""``styleblend toonify``: align a photo, embed it with the base model, render it through blended models."""

from __future__ import annotations

import argparse
from pathlib import Path


from .common import progress_bar, resolve_device, warn
from .project import add_projection_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("toonify", help="photo -> aligned -> embedded with the base -> rendered by blended models",
                       description="The blending paper's pipeline: the photo's latent in the base model, rendered "
                                   "through one or more blended models. The embedding is cached in OUTDIR/embeddings "
                                   "and reused for further blends.")
    p.add_argument("--base", required=True, help="the base model the blends were made from")
    p.add_argument("--blend", required=True, nargs="+", help="one or more blended models")
    p.add_argument("--photo", required=True, type=Path)
    p.add_argument("--outdir", required=True, type=Path)
    p.add_argument("--no-align", action="store_true", help="the photo is already aligned (just centre-crop/resize)")
    p.add_argument("--predictor", default=None, help="dlib 68-point landmark model (default: found automatically)")
    add_projection_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..project.toonify import toonify

    device = resolve_device(args.device)
    detector = None
    if not args.no_align:
        from ..align import default_detector

        detector = default_detector(args.predictor)
    bar = progress_bar(args, desc="embedding", unit="step", leave=False)

    def progress(step: int, parts: dict[str, float], ws) -> None:
        bar.update(1)
        if step % 10 == 0:
            bar.set_postfix(loss=f"{parts['loss']:.4g}")

    result = toonify(args.base, args.blend, args.photo, args.outdir, align=not args.no_align, detector=detector,
                     method=args.method, steps=args.steps, space=args.space, seed=args.seed, vgg_path=args.vgg,
                     download=args.download, device=device, callback=progress)
    bar.close()
    if not args.quiet:
        if result.warning and not result.cache_hit:
            warn(result.warning)  # once, though the library logs it too
        print(("reused embedding " if result.cache_hit else "embedded into ") + str(result.cache_path))
        for path in result.written:
            print(f"wrote {path}")
    return 0
