"""``styleblend region-render``: images or a video of a feature region blend (base and transfer side by side)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np

from ..errors import InvalidArgumentError
from .common import MAX_FRAMES, add_device, int_in_range, int_list, progress, resolve_device
from .morph import add_path_args
from .regions import BLEND_FLAGS, MAX_SAMPLES, flags_in_errors

if TYPE_CHECKING:
    from ..nn.generator import Generator

#: Seeds (images, or video keyframes) one call renders.
MAX_SEEDS = 1024
MAX_GRID_ROWS = 16

DESCRIPTION = (
    "Render base and transfer side by side on the same latents and mix their feature maps inside a region "
    "(a part from 'styleblend regions' or a painted mask) after the chosen synthesis blocks: spatial alpha, "
    "the mask softened and resized to each block. Outside the region the image stays the base's. A feature "
    "blend needs both networks and each image's own region at render time, so it CANNOT be saved as one weight "
    "file; for a checkpoint use 'styleblend blend --region' (channels, less local). StyleGAN2 models only.")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("region-render",
                       help="render a region blend of feature maps (images or video; not a weight file)",
                       description=DESCRIPTION)
    p.add_argument("--base", required=True, help="base model (its mapping network gives the latents)")
    p.add_argument("--transfer", required=True, help="transfer model fine-tuned from the base")
    p.add_argument("--region", required=True, metavar="PART|MASK.png",
                   help="a part number from 'styleblend regions' (same --region-layer, --parts, --region-samples; "
                        "found again in every image) or a square PNG, white = region, of the image's or the "
                        "analysed layer's size")
    p.add_argument("--region-layer", default=None, help="analysed feature layer (default b32, as 'regions')")
    p.add_argument("--parts", type=int, default=8, help="number of parts, as in 'regions' (default 8)")
    p.add_argument("--region-samples", type=int_in_range(1, MAX_SAMPLES, "--region-samples"), default=16,
                   help="sample images of the analysis, seeds 0..S-1 (default 16, as 'regions')")
    p.add_argument("--layers", default=None,
                   help="blocks after which features are mixed: resolutions or ranges, e.g. 32-64 or 16,32 (default: "
                        "from the analysed layer's resolution to the output). Including the output block makes "
                        "the region's pixels the transfer's own; stopping below it lets the base's last blocks "
                        "render the mixed features")
    p.add_argument("--alpha", type=float, default=1.0, help="the transfer's share inside the region, in [0, 1] "
                                                            "(default 1)")
    p.add_argument("--feather", type=float, default=1.0,
                   help="soft edge: Gaussian sigma in output pixels (default 1; 0 = hard edge)")
    p.add_argument("--seeds", type=int_list("seeds", MAX_SEEDS), default=[0, 1, 2, 3],
                   help="images (or, with --video, keyframes) to render (default 0-3)")
    p.add_argument("--outdir", type=Path, default=None,
                   help="writes seedNNNN.png per seed and grid.png (base | transfer | feature blend | region)")
    p.add_argument("--video", type=Path, default=None,
                   help="a looping .mp4/.gif through the --seeds keyframes; a part is found again in every frame")
    p.add_argument("--frames-per-key", type=int_in_range(1, MAX_FRAMES, "--frames-per-key"), default=24,
                   help="video frames per transition (default 24)")
    p.add_argument("--fps", type=float, default=24.0)
    p.add_argument("--batch", type=int_in_range(1, 256, "--batch"), default=8, help="images per pass (default 8)")
    add_path_args(p)
    add_device(p)
    p.set_defaults(func=run, class_idx=None)


def run(args: argparse.Namespace) -> int:
    with flags_in_errors({**BLEND_FLAGS, "alpha": "--alpha", "feather": "--feather", "layers": "--layers"}):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from ..blend.features import check_pair, iter_feature_blend, parse_feature_layers
    from ..blend.regions import (
        default_layer,
        load_region_mask,
        mark_region,
        parse_layer,
        plan_region_blend,
        resize_mask,
    )
    from ..io import load_checkpoint
    from ..latents.mapping import seeds_to_ws
    from ..media.images import make_grid, save_png, to_uint8
    from ..media.video import check_video_path, write_video
    from ..render import render_ws
    from .morph import keyframes, path_from_args

    if args.outdir is None and args.video is None:
        raise InvalidArgumentError("nothing to write: give --outdir for images and/or --video for a video")
    if args.parts < 2:
        raise InvalidArgumentError(f"--parts {args.parts}: clustering needs at least 2 parts")
    if args.video is not None:
        check_video_path(args.video, args.fps)
        if len(args.seeds) < 2:
            raise InvalidArgumentError("a video needs at least 2 --seeds keyframes")
    device = resolve_device(args.device)
    base_ckpt, transfer_ckpt = load_checkpoint(args.base), load_checkpoint(args.transfer)
    Gb, Gt = base_ckpt.generator(device), transfer_ckpt.generator(device)
    resolutions = check_pair(Gb, Gt)
    # check_pair refused anything but StyleGAN2 generators, which is what the region analysis takes.
    G_sg2 = cast("Generator", Gb)
    # The region: a part is found again in every image (the base's features at the analysed layer, assigned to
    # the centroids of the analysis); a mask is the same for every image.
    if str(args.region).strip().isdigit():
        plan = plan_region_blend(G_sg2, args.region, layer=args.region_layer, parts=args.parts,
                                 samples=args.region_samples, top_k=0)
        layer, label = plan.layer, plan.record["region"]

        def region(ws):
            return plan.region_maps(G_sg2, ws)
    else:  # a mask: no part analysis to run (it would render --region-samples images for nothing)
        layer = parse_layer(args.region_layer or default_layer(G_sg2.cfg), G_sg2.cfg)
        mask_res = int(layer.split(".")[0][1:])
        mask = resize_mask(load_region_mask(args.region, sorted({mask_res, G_sg2.cfg.img_resolution})), mask_res)
        label = str(args.region)

        def region(ws):
            return mask[None].expand(ws.shape[0], mask_res, mask_res)
    res = int(layer.split(".")[0][1:])
    layers = parse_feature_layers(args.layers or f"{res}-{resolutions[-1]}", resolutions)
    written: list[str] = []
    if args.outdir is not None:
        ws = seeds_to_ws(Gb, args.seeds, args.trunc, args.trunc_cutoff)
        with progress(args, len(args.seeds), "region-render") as cb:
            blended = np.stack(list(iter_feature_blend(Gb, Gt, ws, region, layers, args.alpha, args.feather,
                                                       batch_size=args.batch, callback=cb)))
        for seed, image in zip(args.seeds, blended):
            save_png(image, args.outdir / f"seed{seed:04d}.png")
        rows = slice(0, MAX_GRID_ROWS)
        base_img = to_uint8(render_ws(Gb, ws[rows]))
        cells = [base_img, to_uint8(render_ws(Gt, ws[rows])), blended[rows], mark_region(base_img, region(ws[rows]))]
        grid = np.stack(cells, axis=1).reshape(-1, *blended.shape[1:])
        written.append(str(save_png(make_grid(grid, cols=4, pad=2), args.outdir / "grid.png")))
        written.append(f"{len(args.seeds)} images seedNNNN.png in {args.outdir}")
    if args.video is not None:
        keys = keyframes(Gb, [f"seed:{s}" for s in args.seeds], args.space, None)
        path = path_from_args(Gb, keys, args, frames_per_segment=args.frames_per_key, closed=True)
        with progress(args, path.shape[0], "region-render video") as cb:
            info = write_video(iter_feature_blend(Gb, Gt, path, region, layers, args.alpha, args.feather,
                                                  batch_size=args.batch, callback=cb),
                               args.video, fps=args.fps, expected_frames=path.shape[0])
        written.append(f"{info.path} ({info.num_frames} frames)")
    if not getattr(args, "quiet", False):
        print(f"feature blend of region {label} at blocks {', '.join(f'b{r}' for r in layers)} "
              f"(alpha {args.alpha:g}, feather {args.feather:g} px): " + ", ".join(str(w) for w in written))
    return 0
