"""``styleblend blend``: resolution-dependent blending of a base model and transfer model(s)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InvalidArgumentError
from ..io.registry import format_names
from ..latents.limits import PSI_RANGE
from .blend_auto import add_auto_options, check_auto, run_auto
from .common import add_device, int_list, psi_arg, resolve_device
from .regions import (
    add_region_options,
    plan_region,
    record_region,
    region_column,
    region_requested,
)

if TYPE_CHECKING:
    from ..blend.channels import ChannelMask
    from ..blend.multi import MultiSchedule
    from ..blend.schedules import Schedule

#: Rows of a --preview grid.
MAX_PREVIEW_SEEDS = 64

SCHEDULES = ("swap", "linear", "sigmoid", "table", "layers", "bands", "spec")

EPILOG = """schedules (alpha = share of the transfer; 1 = transfer, 0 = base):
  swap     --swap-res 16          alpha 1 for r <= 16: structure from the transfer, rendering from the base
  linear   --from-res 8 --to-res 32   1 at <= 8, 0 at >= 32, linear in log2(r)
  sigmoid  --centre 16 --width 1  smooth swap, alpha(16) = 0.5, width in octaves
  table    --table 4:1,8:1,16:0.5,*:0   per resolution ('*' = default); N models: 4:0/1/0,8:0/0.5/0.5,*:1/0/0
  layers   --layers b4.const:1,0:1,b8.conv0:0.5,*:0   per layer name or W+ index
  bands    --edges 8,32           N models: transfer 1 for r <= 8, transfer 2 up to 32, the base above
  spec     --spec 'swap:16;noise=0'   any schedule as one string
--flip reverses swap/linear/sigmoid. --group GROUP=SPEC overrides a parameter group (const, conv, affine,
bias, noise, torgb, mapping, w_avg), e.g. --group noise=0 --group torgb=swap:32.
--channels b32.conv1:0-63[=ALPHA] or b32.conv1=mask.npy sets alpha per output channel of a layer."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("blend", help="blend models by resolution (layer swapping, smooth schedules)",
                       description="Blend a base generator with transfer model(s) fine-tuned from it: "
                                   "p = (1 - alpha(r)) p_base + alpha(r) p_transfer (Pinkney & Adler 2020).",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", required=True, help="base model (its format, mapping and discriminator are kept)")
    p.add_argument("--transfer", required=True, action="append", help="transfer model (repeat for N-model blends)")
    p.add_argument("--schedule", choices=SCHEDULES, default=None, help="default: swap")
    p.add_argument("--swap-res", type=int, help="swap: highest resolution taken from the transfer")
    p.add_argument("--flip", action="store_true", help="reverse: structure from the base, rendering from the transfer")
    p.add_argument("--from-res", type=int, help="linear: alpha = 1 up to this resolution")
    p.add_argument("--to-res", type=int, help="linear: alpha = 0 from this resolution")
    p.add_argument("--centre", "--center", dest="centre", type=float, help="sigmoid: resolution where alpha = 0.5")
    p.add_argument("--width", type=float, default=1.0, help="sigmoid: transition width in octaves (default 1)")
    p.add_argument("--table", help="table: alpha per resolution, e.g. 4:1,8:1,16:0.5,*:0")
    p.add_argument("--layers", help="layers: alpha per layer or W+ index, e.g. b4.const:1,0:1,*:0")
    p.add_argument("--edges", help="bands: edge resolutions for N models, e.g. 8,32")
    p.add_argument("--spec", help="spec: a schedule string, e.g. 'sigmoid:16:1;noise=0'")
    p.add_argument("--mapping", default="base",
                   help="mapping network and w_avg: base (default), transfer, blend or an alpha in [0, 1]")
    p.add_argument("--group", action="append", default=[], metavar="GROUP=SPEC",
                   help="per-group schedule override, e.g. noise=0, torgb=1, affine=swap:8")
    p.add_argument("--channels", action="append", default=[], metavar="LAYER:CHANNELS[=ALPHA]|LAYER=FILE.npy",
                   help="alpha per output channel of a layer, e.g. b32.conv1:0-63 or b32=mask.npy")
    p.add_argument("--out", type=Path, help="output checkpoint (a .recipe.json is written beside it)")
    p.add_argument("--format", choices=format_names(writable=True), default=None,
                   help="output format (default: from the --out suffix .safetensors/.pkl/.pt, else the base's)")
    p.add_argument("--preview", type=Path, help="PNG grid: rows = seeds, columns = base | transfer(s) | blend")
    p.add_argument("--seeds", type=int_list("seeds", MAX_PREVIEW_SEEDS), default=[0, 1, 2, 3, 4, 5],
                   help=f"preview seeds, one row each (default 0-5, at most {MAX_PREVIEW_SEEDS})")
    p.add_argument("--trunc", type=psi_arg("--trunc"), default=1.0, metavar="PSI",
                   help=f"preview truncation psi in [{PSI_RANGE[0]:g}, {PSI_RANGE[1]:g}] (default 1)")
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class index for conditional models")
    p.add_argument("--sweep", action="store_true",
                   help="one swap blend per resolution: --preview shows base | swap 4 .. R | transfer; with --out "
                        "every blend is saved as <out stem>-swap<R><suffix>")
    p.add_argument("--show-alpha", action="store_true", help="print the alpha of every layer and group")
    p.add_argument("--dry-run", action="store_true", help="print the alpha table and write nothing")
    p.add_argument("--no-hash", action="store_true", help="do not record input SHA-256 in the recipe")
    add_region_options(p)
    add_auto_options(p)
    add_device(p)
    p.set_defaults(func=run)


def _need(value: object, flag: str, schedule: str) -> None:
    if value is None:
        raise InvalidArgumentError(f"--schedule {schedule} needs {flag}")


def build_schedule(args: argparse.Namespace, num_transfers: int) -> Schedule | MultiSchedule:
    """The schedule the flags describe (group overrides included)."""
    from ..blend.multi import MultiSchedule, parse_multi_schedule
    from ..blend.schedules import (
        Linear,
        Sigmoid,
        Swap,
        parse_layer_table,
        parse_schedule,
        parse_table,
        with_groups,
    )

    kind = args.schedule or ("bands" if args.edges else "table" if args.table else "layers" if args.layers
                             else "spec" if args.spec else "swap")
    schedule: Schedule | MultiSchedule
    if kind == "swap":
        _need(args.swap_res, "--swap-res R (e.g. 16)", kind)
        schedule = Swap(args.swap_res, flip=args.flip)
    elif kind == "linear":
        _need(args.from_res, "--from-res", kind)
        _need(args.to_res, "--to-res", kind)
        schedule = Linear(args.from_res, args.to_res, flip=args.flip)
    elif kind == "sigmoid":
        _need(args.centre, "--centre R (e.g. 16)", kind)
        schedule = Sigmoid(args.centre, args.width, flip=args.flip)
    elif kind == "table":
        _need(args.table, "--table (e.g. 4:1,8:1,16:0.5,*:0)", kind)
        schedule = parse_multi_schedule("weights:" + args.table) if "/" in args.table else parse_table(args.table)
    elif kind == "layers":
        _need(args.layers, "--layers (e.g. b4.const:1,0:1,*:0)", kind)
        schedule = parse_layer_table(args.layers)
    elif kind == "bands":
        _need(args.edges, "--edges (e.g. 8,32)", kind)
        schedule = parse_multi_schedule("bands:" + args.edges)
    else:
        _need(args.spec, "--spec", kind)
        schedule = parse_schedule(args.spec)
    if args.group:
        if isinstance(schedule, MultiSchedule):
            raise InvalidArgumentError("--group overrides work with one transfer model only")
        schedule = with_groups(schedule, parse_groups(args.group))
    if num_transfers > 1 and not isinstance(schedule, MultiSchedule):
        raise InvalidArgumentError(f"{num_transfers} transfer models need --schedule bands --edges ... or an N-model "
                                   "--table such as 4:0/1/0,8:0/0.5/0.5,*:1/0/0")
    return schedule


def parse_groups(items: list[str]) -> dict[str, Schedule]:
    """['noise=0', 'torgb=swap:32'] -> {group: schedule}."""
    from ..blend.schedules import parse_schedule

    groups = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgumentError(f"--group '{item}' must look like GROUP=SPEC, e.g. noise=0")
        groups[name.strip()] = parse_schedule(value)
    return groups


def parse_channels(items: list[str]) -> list[ChannelMask]:
    from ..blend.channels import parse_channel_mask, read_channel_mask

    masks = []
    for item in items:
        layer, sep, rest = item.partition("=")
        if sep and ":" not in layer and rest.strip().endswith(".npy"):
            masks.append(read_channel_mask(layer, rest.strip()))
        else:
            masks.append(parse_channel_mask(item))
    return masks


def _mapping(text: str) -> str | float | list[float]:
    """'base' / 'transfer' / 'blend' stay names; '0.3' is an alpha; '0.2/0.8' one weight per model."""
    try:
        if "/" in text:
            return [float(x) for x in text.split("/")]
        return float(text)
    except ValueError:
        if text in ("base", "transfer", "blend"):
            return text
        raise InvalidArgumentError(f"--mapping {text!r} must be base, transfer, blend, an alpha such as 0.5 "
                                   "or one weight per model such as 0.5/0.25/0.25") from None


def _sweep_path(out: Path, res: int) -> Path:
    return out.with_name(f"{out.stem}-swap{res}{out.suffix}")


def _run_sweep(args: argparse.Namespace, base, transfer, mapping, channels, device) -> int:
    """Columns base | swap 4 .. R | transfer; each blend saved as <out stem>-swap<R> when --out is given."""
    from ..blend.model import save_blend, swap_sweep
    from ..blend.preview import preview_grid
    from ..media.images import save_png

    groups = parse_groups(args.group)
    names = ["base"]

    def columns():
        yield base
        for res, ckpt, recipe in swap_sweep(base, transfer, flip=args.flip, mapping=mapping, channels=channels,
                                            groups=groups, hash_inputs=bool(args.out) and not args.no_hash):
            names.append(f"swap {res}")
            if args.out:
                path, _ = save_blend(ckpt, recipe, _sweep_path(args.out, res), args.format,
                                     hash_output=not args.no_hash)
                print(f"wrote {path}")
            yield ckpt
        names.append("transfer")
        yield transfer

    if args.preview:
        grid = preview_grid(columns(), args.seeds, args.trunc, device=device, class_idx=args.class_idx)
        save_png(grid, args.preview)
        print(f"wrote {args.preview} (columns: {', '.join(names)})")
    else:
        for _ in columns():
            pass
    return 0


def run(args: argparse.Namespace) -> int:
    # The library is imported here, so that `blend --help` needs no torch.
    from ..blend.model import blend_checkpoints, save_blend
    from ..blend.preview import preview_grid
    from ..blend.recipe import format_alpha_table
    from ..blend.schedules import Constant
    from ..io import load_checkpoint
    from ..io.memory import return_freed_memory
    from ..media.images import save_png

    if not (args.out or args.dry_run or (args.sweep and args.preview)):
        raise InvalidArgumentError("give --out for the blended model (or --dry-run, or --sweep with --preview)")
    if args.sweep and len(args.transfer) != 1:
        raise InvalidArgumentError("--sweep blends one transfer model; give a single --transfer")
    # Parse everything before loading (possibly large) models, so that typos fail fast.
    device = resolve_device(args.device)
    channels = parse_channels(args.channels)
    mapping = _mapping(args.mapping)
    region = region_requested(args)
    no_schedule = not (args.schedule or args.swap_res or args.edges or args.table or args.layers or args.spec)
    check_auto(args, not no_schedule)
    # A region blend without a schedule flag changes only the region's channels (alpha 0 elsewhere).
    schedule = None if args.sweep or args.auto else Constant(0.0) if region and no_schedule else \
        build_schedule(args, len(args.transfer))
    # The transfers are read first and cut down to their generators, so that the only discriminator in memory
    # beside them is the base's (the output keeps it); --auto needs the base and a transfer's critic together.
    base = load_checkpoint(args.base) if args.auto else None
    transfers = []
    for path in args.transfer:
        loaded = load_checkpoint(path)
        if args.auto:  # the search may use the transfer's discriminator as its critic
            assert base is not None
            schedule, auto_masks = run_auto(args, base, loaded, device)
            channels = channels + auto_masks
        transfers.append(loaded.generators_only())
        del loaded
        return_freed_memory()
    if base is None:
        base = load_checkpoint(args.base)
    region_plan = plan_region(args, base, device) if region else None
    if region_plan is not None:
        channels = channels + region_plan.masks
        print(f"region {region_plan.record['region']}: {len(region_plan.record['channels'])} channels of "
              f"{', '.join(region_plan.record['blended_layers'])}")
    if schedule is None:
        return _run_sweep(args, base, transfers[0], mapping, channels, device)
    ckpt, recipe = blend_checkpoints(base, transfers, schedule, mapping=mapping, channels=channels,
                                     hash_inputs=not args.no_hash)
    if region_plan is not None:
        record_region(recipe, region_plan)
    if args.show_alpha or args.dry_run:
        print(format_alpha_table(recipe.layers, num_models=1 + len(transfers)))
    if args.dry_run:
        return 0
    if args.out:
        path, recipe_file = save_blend(ckpt, recipe, args.out, args.format, hash_output=not args.no_hash)
        print(f"wrote {path} ({recipe.output['format']}) and {recipe_file}")
    if args.preview:
        grid = preview_grid([base, *transfers, ckpt], args.seeds, args.trunc, device=device, class_idx=args.class_idx)
        if region_plan is not None:  # a last column: the base with the outside of the region darkened
            grid = np.concatenate([grid, region_column(base, region_plan, args.seeds, args.trunc, device,
                                                       args.class_idx, grid.shape[0] // len(args.seeds))], axis=1)
        save_png(grid, args.preview)
        print(f"wrote {args.preview} (columns: base, {', '.join('transfer' for _ in transfers)}, blend"
              f"{', region' if region_plan is not None else ''})")
    return 0
