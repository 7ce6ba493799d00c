"""Argument helpers shared by several commands."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from tqdm import tqdm

from ..errors import InvalidArgumentError
from ..io import Checkpoint, load_checkpoint
from ..latents.seeds import parse_int_list


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or mps (default: cpu)")


def resolve_device(name: str) -> torch.device:
    """Validate a --device value and say why it cannot be used."""
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InvalidArgumentError(f"--device {name!r} is not a device name; use cpu, cuda or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidArgumentError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidArgumentError("--device mps was asked for but Apple MPS is not available; use --device cpu")
    return device


def add_generator_args(p: argparse.ArgumentParser, batch: int = 8, seed_noise: bool = False) -> None:
    """--network, --noise-mode, --class, --batch, --precision, --device (options of every rendering command).

    seed_noise: also offer --noise-mode seed (noise drawn from each seed, NVIDIA's TF convention).
    """
    p.add_argument("--network", required=True, help="checkpoint: NVIDIA .pkl, rosinality .pt or .safetensors")
    modes = ["const", "random", "none"]
    help_text = "const (default): the model's stored noise, as NVIDIA's generate.py renders (TF pickles too); random; none"
    if seed_noise:
        modes.append("seed")
        help_text += "; seed: drawn from each seed after z, as NVIDIA's TensorFlow run_generator.py"
    p.add_argument("--noise-mode", choices=modes, default="const", help=help_text)
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class index for conditional models")
    p.add_argument("--batch", type=int, default=batch, help=f"images per forward pass (default {batch})")
    p.add_argument("--precision", choices=["nvidia", "float32"], default="nvidia",
                   help="nvidia: the model's num_fp16_res finest resolutions in float16, as NVIDIA's generate.py "
                        "renders them (no effect when num_fp16_res is 0); float32: everything in float32 "
                        "(default nvidia)")
    add_device(p)


def load_network(args: argparse.Namespace) -> Checkpoint:
    """Check --batch and read --network."""
    if args.batch < 1:
        raise InvalidArgumentError(f"--batch {args.batch} must be >= 1")
    return load_checkpoint(args.network)


def load_generator(args: argparse.Namespace) -> torch.nn.Module:
    """Check --batch and load --network as an eval-mode generator on --device."""
    return load_network(args).generator(resolve_device(args.device), mixed_precision=args.precision == "nvidia")


def add_truncation(parser: argparse.ArgumentParser) -> None:
    """--trunc PSI and --trunc-cutoff N."""
    parser.add_argument("--trunc", type=float, default=1.0, metavar="PSI",
                        help="truncation psi: 1 = none, 0.7 = typical, 0 = the mean face (default 1)")
    parser.add_argument("--trunc-cutoff", type=int, default=None, metavar="N",
                        help="truncate only the first N W+ entries (default: all)")


@contextlib.contextmanager
def progress(args: argparse.Namespace, total: int, desc: str) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar as a ``callback(done, total)``; silent with -q or for tiny jobs."""
    with tqdm(total=total, desc=desc, unit="img", disable=args.quiet or total < 2) as bar:
        yield lambda done, _total: bar.update(done - bar.n)


def add_threads(parser: argparse.ArgumentParser, default: int = 0, why: str = "") -> None:
    """A ``--threads`` option; :func:`styleblend.cli.main.main` applies it around the command."""

    def count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = -1
        if value < 0:
            raise argparse.ArgumentTypeError(f"'{text}' is not a thread count >= 0 (0: torch's default)")
        return value

    parser.add_argument("--threads", type=count, default=default,
                        help=f"CPU threads per torch operation (default {default}{': ' + why if why else ''}; "
                             "0 = torch's default)")


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Use ``count`` intra-op threads inside the block (0 leaves torch's setting), then restore."""
    before = torch.get_num_threads()
    if count:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def int_list(what: str):
    """argparse type for '0-7,42' lists."""

    def parse(text: str) -> list[int]:
        try:
            return parse_int_list(text, what)
        except InvalidArgumentError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def float_list(what: str) -> Callable[[str], list[float]]:
    """argparse type for '0,0.5,1' lists of floats."""

    def parse(text: str) -> list[float]:
        try:
            values = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} '{text}' is not a comma-separated list of numbers") from None
        if not values:
            raise argparse.ArgumentTypeError(f"no {what} in '{text}'")
        return values

    return parse


def refuse_overwrite_input(out: str | Path, inputs: Sequence[str | Path | None], force: bool = False) -> None:
    """Refuse to write ``out`` over one of ``inputs`` (the same path, or the same file by another name).

    Raises:
        InvalidArgumentError: unless ``force``; the message names the file and says to pass --force.
    """
    if force:
        return
    target = Path(out)
    for item in inputs:
        if item is None:
            continue
        source = Path(item)
        same = target.resolve() == source.resolve()
        if not same and target.exists() and source.exists():
            try:
                same = target.samefile(source)
            except OSError:
                same = False
        if same:
            raise InvalidArgumentError(f"--out {out} is the input file {item}; writing it would replace the input. "
                                       "Choose another --out, or pass --force to overwrite it")
