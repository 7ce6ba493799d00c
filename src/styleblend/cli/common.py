"""Argument helpers shared by several commands."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Iterator

import torch

from ..errors import InvalidArgumentError
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


def probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None
    return value
