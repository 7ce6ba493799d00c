"""The ``--auto`` options of ``styleblend blend``: search a per-resolution α table (see blend/auto.py), or α per
resolution and per output channel (``--auto-family channels``, blend/auto_channels.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import InvalidArgumentError
from .common import int_in_range

#: blend.auto_stats.DEFAULT_CONFIDENCE, written out: importing the library would load torch for `blend --help`
#: (tests/cli/test_blend_auto_cli.py checks they agree).
DEFAULT_CONFIDENCE = 0.95

#: The flags of the library's parameter names, for error messages.
AUTO_FLAGS = {"budget_s": "--budget-s", "samples": "--auto-samples", "structure_res": "--structure-res",
              "family": "--auto-family", "confidence": "--auto-confidence", "validation": "--auto-validation",
              "target_distance": "--auto-distance", "structure": "--structure"}


def add_auto_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "automatic alpha (--auto): search a per-resolution table for realism in the transfer's domain (a critic's "
        "score) and structure from the base (distance of low-resolution renderings); writes the blend, "
        "<out stem>.auto.json (table, scores, front, swaps) and <out stem>.front.png (the Pareto front)")
    g.add_argument("--auto", action="store_true", help="search the alpha table instead of giving a schedule")
    g.add_argument("--budget-s", type=float, default=120.0,
                   help="seconds for the search, scoring every table included; loading and writing come on top "
                        "(default 120)")
    g.add_argument("--critic", default=None,
                   help="checkpoint whose discriminator judges realism in the target domain (default: the "
                        "transfer's own, if its file has one; for the bundled pair use "
                        "runs/bundle/twemoji-072.safetensors)")
    g.add_argument("--auto-samples", type=int_in_range(1, 256, "--auto-samples"), default=16,
                   help="latents every candidate renders, seeds 0..N-1 (default 16; a multiple of the critic's "
                        "group size, usually 4)")
    g.add_argument("--auto-validation", type=int_in_range(0, 256, "--auto-validation"), default=64,
                   help="latents (seeds after the search's) on which the swaps and the best front points are "
                        "scored again to make the choice, so it does not rest on the latents the search tuned "
                        "to; 0: choose on the search's own scores (default 64: with 16 the paired bounds are "
                        "too wide to confirm any win)")
    g.add_argument("--structure", choices=("lowres", "identity"), default="lowres",
                   help="the structure score: 'lowres' = distance of the renderings averaged to --structure-res; "
                        "'identity' = for face models, dlib's face-descriptor distance of blend vs base "
                        "renderings (a lost face scores 1.0; needs the align extra) (default lowres)")
    g.add_argument("--structure-res", type=int, default=16,
                   help="resolution the renderings are averaged to for the structure distance (default 16)")
    g.add_argument("--auto-seed", type=int, default=0, help="seed of the search (default 0)")
    g.add_argument("--auto-family", choices=("table", "sigmoid", "channels"), default="table",
                   help="what the search draws: 'table' = any per-resolution table; 'sigmoid' = smooth "
                        "schedules of 4 parameters (centre, width, alpha at the coarsest and at the finest "
                        "resolution); 'channels' = alpha per output channel of every layer (and per resolution "
                        "for the affine layers and noise), by gradient ascent on the critic's logit with the "
                        "structure distance held below --auto-distance; the blend is written with those channel "
                        "alphas; measured with --auto-samples 64 --budget-s 600 (docs/auto-alpha.md) (default "
                        "table)")
    g.add_argument("--auto-distance", type=float, default=None,
                   help="with --auto-family channels: the structure distance the search keeps below (default 0.9 "
                        "times the closest plain swap's on the search's latents)")
    g.add_argument("--auto-confidence", type=float, default=DEFAULT_CONFIDENCE,
                   help="decide 'beats a swap' on per-latent paired differences with one-sided lower bounds at "
                        "this level (the search aims at them, the choice counts swaps beaten beyond chance "
                        "first, and the report gives every margin); 0: compare the means only (default 0.95)")


def check_auto(args: argparse.Namespace, schedule_given: bool) -> None:
    """Refuse flags that --auto would ignore, before anything is loaded."""
    if not args.auto:
        return
    clash = [flag for flag, on in (("a schedule flag", schedule_given), ("--group", bool(args.group)),
                                   ("--channels", bool(args.channels)), ("--region", args.region is not None),
                                   ("--sweep", args.sweep), ("--dry-run", args.dry_run)) if on]
    if clash:
        raise InvalidArgumentError(f"--auto searches the per-resolution alpha table itself; drop {', '.join(clash)}")
    if len(args.transfer) != 1:
        raise InvalidArgumentError("--auto blends one transfer model; give a single --transfer")
    if args.out is None:
        raise InvalidArgumentError("--auto needs --out for the chosen blend")
    if args.mapping != "base":
        raise InvalidArgumentError("--auto keeps the base's mapping network (the latents it scores); drop --mapping")
    if args.auto_family == "channels" and args.structure != "lowres":
        raise InvalidArgumentError("--auto-family channels follows the gradient of the structure distance, which "
                                   "--structure identity does not have; use --structure lowres")
    if args.auto_distance is not None and (args.auto_family != "channels" or not args.auto_distance > 0):
        raise InvalidArgumentError("--auto-distance is a positive distance for --auto-family channels")


def auto_paths(out: Path) -> tuple[Path, Path]:
    """(<stem>.auto.json, <stem>.front.png) beside the output checkpoint."""
    return out.with_name(out.stem + ".auto.json"), out.with_name(out.stem + ".front.png")


def confidence_line(result) -> str:
    """The swaps the choice beats beyond chance, with every paired margin, as one paragraph."""
    checked = result.validation
    margins = checked.margins if checked is not None else result.margins
    where = (f"on the {checked.samples} validation latents" if checked is not None else
             "on the search's own latents (optimistic: it chose the table there; give --auto-validation)")
    level = f"{result.settings['confidence']:.0%}"
    parts = [f"{m.label}: realism {m.realism:+.3f} (>= {m.realism_low:+.3f}), distance {-m.distance:+.2f} "
             f"(<= {-m.distance_low:+.2f})" + (" beaten" if m.confident else "") for m in margins]
    return (f"beyond chance ({level} one-sided paired bounds, {margins[0].units} groups of latents) {where}, the "
            f"choice beats {len(result.confident_swaps)} of {len(margins)} plain swaps on both scores"
            + (f" ({', '.join(result.confident_swaps)})" if result.confident_swaps else "")
            + ". Its margins over each swap: " + "; ".join(parts))


def box_line(result) -> str:
    """Whether the search found tables better than every plain swap on both scores, and how near it came."""
    from ..blend.auto_report import box

    b = box(result)
    if b is None:
        return "no plain swaps to compare with (one block resolution)"
    corner = (f"realism above {b['realism_above']:.3f} ({b['most_realistic_swap']}) and distance below "
              f"{b['distance_below']:.2f} ({b['closest_swap']})")
    if b["inside"]:
        return (f"{b['inside']} searched tables are better than every plain swap on both scores ({corner}) on the "
                "search's own latents, where it selected them (optimistic)")
    near = ("none" if b["best_realism_closer"] is None else f"{b['best_realism_closer']:.3f}")
    far = ("none" if b["best_distance_more_realistic"] is None else f"{b['best_distance_more_realistic']:.2f}")
    return (f"no searched table is better than every plain swap on both scores ({corner}), even on the search's own "
            f"latents: the best realism closer to the base than {b['closest_swap']} was {near}, the least distance "
            f"more realistic than {b['most_realistic_swap']} was {far}")


def run_auto(args: argparse.Namespace, base, transfer, device):
    """Search, write the JSON and the plot; returns the chosen per-resolution Table and its channel masks
    (empty unless --auto-family channels)."""
    from ..blend.auto import AlphaObjective, front_plot, search_alpha
    from ..blend.auto_channels import channel_masks, search_channels
    from ..blend.schedules import Table
    from ..io import load_checkpoint
    from ..io.atomic import write_bytes_atomic
    from ..media.images import save_png
    from .common import progress_bar
    from .regions import flags_in_errors

    if args.critic is not None:
        critic_ckpt, critic_name = load_checkpoint(args.critic), str(args.critic)
    elif transfer.d is not None:
        critic_ckpt, critic_name = transfer, f"{args.transfer[0]} (its discriminator)"
    else:
        raise InvalidArgumentError(f"--auto needs a discriminator of the target domain, and {args.transfer[0]} has "
                                   "none; pass --critic CKPT (a training snapshot of the transfer, e.g. "
                                   "runs/bundle/twemoji-072.safetensors for the bundled pair)")
    if critic_ckpt.d_config is None or critic_ckpt.d_config.img_resolution != base.g_config.img_resolution:
        raise InvalidArgumentError(f"--critic {critic_name}: its discriminator must judge "
                                   f"{base.g_config.img_resolution} px images")
    with flags_in_errors(AUTO_FLAGS):
        critic = critic_ckpt.discriminator(device)
        structure = None
        if args.structure == "identity":
            from ..metrics.identity import FaceIdentity, IdentityKeeping

            faces = FaceIdentity()

            def structure(references):
                return IdentityKeeping(references, faces.descriptor)
        objective = AlphaObjective(base.g_ema, transfer.g_ema, base.g_config, critic,
                                   list(range(args.auto_samples)), args.structure_res, device=device,
                                   structure=structure)
        validation = None
        if args.auto_validation:
            seeds = range(args.auto_samples, args.auto_samples + args.auto_validation)
            with flags_in_errors({"samples": "--auto-validation"}):
                validation = AlphaObjective(base.g_ema, transfer.g_ema, base.g_config, critic, list(seeds),
                                            args.structure_res, device=device, structure=structure)
        bar = progress_bar(args, total=int(args.budget_s), desc="auto alpha", unit="s")
        with bar:
            def tick(evaluations: int, elapsed: float, budget: float) -> None:
                bar.n = min(int(elapsed), int(budget))
                bar.set_postfix(evaluations=evaluations)
                bar.refresh()

            if args.auto_family == "channels":
                result = search_channels(objective, args.budget_s, progress=tick, validation=validation,
                                         confidence=args.auto_confidence or None,
                                         target_distance=args.auto_distance)
            else:
                result = search_alpha(objective, args.budget_s, seed=args.auto_seed, progress=tick,
                                      validation=validation, family=args.auto_family,
                                      confidence=args.auto_confidence or None)
    result.settings["critic"] = critic_name
    result.settings["structure"] = args.structure
    json_path, png_path = auto_paths(args.out)
    write_bytes_atomic(json_path, (json.dumps(result.to_dict(), indent=1) + "\n").encode())
    save_png(front_plot(result), png_path)
    c = result.chosen if result.validation is None else result.validation.chosen
    where = ("" if result.validation is None else
             f" on {result.validation.samples} validation latents (the search's own: "
             f"{sum(result.chosen.beats(s) for s in result.swaps)})")
    per_channel = (f" with alpha per output channel of {len(c.channels)} layers (mean "
                   f"{_mean_channel_alpha(c.channels):.3f}; the values are in {json_path})" if c.channels else "")
    print(f"auto alpha: table {result.table_spec()}{per_channel} (realism {c.realism:.3f}, structure distance "
          f"{c.distance:.2f}); "
          f"beats {len(result.beaten_swaps)} of {len(result.swaps)} plain swaps on both scores{where} (the "
          f"search's front: {len(result.swaps_beaten_by_front)}); "
          + (f"{result.settings['steps']} gradient steps, {len(result.candidates)} blends scored"
             if result.settings["family"] == "channels" else f"{len(result.candidates)} tables scored")
          + f" in {result.elapsed_s:.1f} s; wrote {json_path} and {png_path}")
    print(box_line(result))
    if args.auto_confidence:
        print(confidence_line(result))
    return Table(tuple(zip(result.resolutions, c.alphas))), channel_masks(c.channels or ())


def _mean_channel_alpha(channels) -> float:
    values = [a for _, layer_values in channels for a in layer_values]
    return sum(values) / len(values)
