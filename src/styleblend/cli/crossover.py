"""``styleblend crossover`` and ``styleblend style-fusion``: combine two latents by W+ layer ranges.

crossover (Image2StyleGAN 4.2 style transfer): the result keeps A's layers in --layers and B's elsewhere.
style-fusion: copy the style layers --layers of image 2 (--style) into image 1 (--content); with
--sweep it renders one result per default range (0-6, 4-10, 8-14, 12-17 for 18 layers). The inputs
are two photos (embedded into W+ here, cached in OUTDIR/embeddings) or latents, e.g. projections that
``styleblend project`` wrote.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidArgumentError
from .common import (
    add_generator_args,
    add_truncation,
    apply_precision,
    check_against_network,
    load_generator,
    progress,
    resolve_device,
    warn,
)
from .morph import LATENT_HELP
from .project import add_projection_options

if TYPE_CHECKING:
    import torch

    from ..types import Generator


def _add_layer_args(p: argparse.ArgumentParser, default_help: str) -> None:
    p.add_argument("--layers", action="append", default=None, metavar="RANGE",
                   help=f"W+ layers, e.g. 0-8 (repeatable: one result per range; default: {default_help})")
    p.add_argument("--sweep", action="store_true", help="one result per default range (0-6, 4-10, 8-14, 12-17 "
                                                        "for 18 layers; scaled to this network)")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("crossover", help="keep latent A's layers in a range and B's elsewhere (style transfer)",
                       description="Result = A's W+ rows in --layers, B's rows elsewhere (Image2StyleGAN 4.2). "
                                   "Writes crossover.png (rows: A | B | one result per range) and crossover.npz.")
    add_generator_args(p)
    p.add_argument("--a", required=True, metavar="LATENT", help=f"latent(s) A: {LATENT_HELP}")
    p.add_argument("--b", required=True, metavar="LATENT", help=f"latent(s) B (one, or as many as A): {LATENT_HELP}")
    _add_layer_args(p, "the first half of the layers, e.g. 0-8 of 18 = 4x4 to 64x64")
    add_truncation(p)
    p.add_argument("--outdir", required=True, type=Path)
    p.set_defaults(func=run_crossover, mode="crossover")

    f = sub.add_parser("style-fusion", help="copy a style layer range from image 2 into image 1",
                       description="Fuse two images (Image2StyleGAN): image 1's W+ latent with the style layers "
                                   "--layers taken from image 2. Photos are embedded into W+ first (projection "
                                   "options below; cached in OUTDIR/embeddings, so re-runs with other ranges are "
                                   "quick). Writes fusion.png (content | style | results), one PNG per range and "
                                   "fusion.npz.")
    add_generator_args(f)
    f.add_argument("--content", required=True, metavar="IMAGE|LATENT",
                   help=f"image 1: a photo (.png/.jpg/...) or a latent: {LATENT_HELP}")
    f.add_argument("--style", required=True, metavar="IMAGE|LATENT", help="image 2: a photo or a latent")
    _add_layer_args(f, "the sweep")
    add_truncation(f)
    f.add_argument("--outdir", required=True, type=Path)
    f.add_argument("--align", action="store_true", help="FFHQ-align faces in the photos before embedding")
    f.add_argument("--predictor", default=None, help="dlib 68-point landmark model for --align")
    add_projection_options(f, device=False, method="fast")
    f.set_defaults(func=run_crossover, mode="fusion")


def _is_photo(spec: str) -> bool:
    from ..media.load import IMAGE_SUFFIXES

    return Path(spec).suffix.lower() in IMAGE_SUFFIXES


def _fusion_inputs(args: argparse.Namespace) -> tuple[Generator, torch.Tensor, torch.Tensor]:
    """G and the two W+ latents; photos are embedded with the network (or taken from the cache)."""
    from ..latents.files import latent_source
    from ..project.losses import FALLBACK_PARAMS

    specs = (args.content, args.style)
    if not any(_is_photo(s) for s in specs):
        G = load_generator(args)
        first, second = (latent_source(s, G, args.trunc, args.trunc_cutoff, args.class_idx) for s in specs)
        return G, first, second
    from ..project.batch import prepare_job
    from ..project.embedding import embed_photo

    if args.batch is not None and args.batch < 1:
        raise InvalidArgumentError(f"--batch {args.batch} must be >= 1")
    for spec in specs:
        if _is_photo(spec) and not Path(spec).is_file():
            raise InvalidArgumentError(f"photo '{spec}' does not exist")
    job = prepare_job(args.network, args.method, space=args.space, steps=args.steps, init=args.init, lr=args.lr,
                      seed=args.seed, vgg_path=args.vgg, download=args.download, device=resolve_device(args.device))
    if job.warning:
        warn(job.warning, FALLBACK_PARAMS)  # once, though the library logs it too
    detector = None
    if args.align:
        from ..align import default_detector

        detector = default_detector(args.predictor)
    check_against_network(args, job.g_config)  # --batch (its default by device and size) and --trunc-cutoff
    G, out = job.G, []
    for role, spec in zip(("content", "style"), specs):
        if not _is_photo(spec):
            out.append(latent_source(spec, G, args.trunc, args.trunc_cutoff, args.class_idx))
            continue
        with progress(args, job.settings.steps, f"embedding {role}") as cb:
            embedded = embed_photo(job, spec, args.outdir / "embeddings", align=args.align, detector=detector,
                                   callback=lambda step, parts, ws: cb(step, job.settings.steps))
        if not args.quiet:
            print(("reused " if embedded.cache_hit else "embedded ") + f"{spec} -> {embedded.cache_path}")
        out.append(embedded.ws)
    # Embedding ran in float32; the results are rendered like every other command (--precision).
    apply_precision(G, args.precision)
    return G, out[0], out[1]


def run_crossover(args: argparse.Namespace) -> int:
    # The library is imported here, so that `crossover --help` needs no torch.
    import torch

    from ..latents.crossover import (
        crossover,
        format_layers,
        fusion_ranges,
        parse_layers,
        scale_label,
        style_fusion,
    )
    from ..latents.files import latent_source, save_latents
    from ..media.images import make_grid, save_png
    from ..render import render_frames

    first, second = (args.a, args.b) if args.mode == "crossover" else (args.content, args.style)
    if args.mode == "fusion":
        G, ws1, ws2 = _fusion_inputs(args)
    else:
        G = load_generator(args)
        ws1 = latent_source(first, G, args.trunc, args.trunc_cutoff, args.class_idx)
        ws2 = latent_source(second, G, args.trunc, args.trunc_cutoff, args.class_idx)
    num_ws = G.num_ws
    if args.sweep or (args.layers is None and args.mode == "fusion"):
        ranges = fusion_ranges(num_ws)
    elif args.layers is None:
        ranges = [list(range(num_ws // 2))]
    else:
        ranges = [parse_layers(text, num_ws) for text in args.layers]
    op = crossover if args.mode == "crossover" else style_fusion
    results = torch.stack([op(ws1, ws2, layers) for layers in ranges], dim=1)  # [N, R, num_ws, w_dim]
    n = results.shape[0]
    ws_all = torch.cat([ws1.expand(n, -1, -1)[:, None], ws2.expand(n, -1, -1)[:, None], results], dim=1)
    with progress(args, ws_all.shape[0] * ws_all.shape[1], args.mode) as cb:
        frames = render_frames(G, ws_all.reshape(-1, num_ws, G.w_dim), batch_size=args.batch,
                               noise_mode=args.noise_mode, callback=cb)
    cols = ws_all.shape[1]
    name = "crossover" if args.mode == "crossover" else "fusion"
    written = [save_png(make_grid(frames, cols=cols), args.outdir / f"{name}.png")]
    labels = [format_layers(layers) for layers in ranges]
    if args.mode == "fusion":
        for i in range(n):
            for r, label in enumerate(labels):
                suffix = f"_{i}" if n > 1 else ""
                written.append(save_png(frames[i * cols + 2 + r], args.outdir / f"fused_{label}{suffix}.png"))
    written.append(save_latents(args.outdir / f"{name}.npz", results.reshape(-1, num_ws, G.w_dim), "w",
                                meta={"layers": np.asarray(labels), "inputs": np.asarray([first, second])}))
    if not args.quiet:
        res = [f"{label} ({scale_label(G.cfg, r)})" for label, r in zip(labels, ranges)]
        print(f"{name}: {n} pair(s) x {len(ranges)} range(s) [{'; '.join(res)}] -> "
              + ", ".join(str(p) for p in written[:3]) + (" ..." if len(written) > 3 else ""))
    return 0
