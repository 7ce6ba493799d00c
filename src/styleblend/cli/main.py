"""Entry point of the ``styleblend`` command.

Each command lives in its own module of this package exposing ``register(subparsers)``, which adds
its parser and sets ``func`` to a ``run(args) -> int`` function. User errors (StyleblendError)
become one line on stderr and exit code 1; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from ..errors import StyleblendError
from .common import torch_threads

# Command modules, in the order `--help` lists them.
COMMANDS = [
    "demo",
    "generate",
    "mix",
    "info",
    "convert",
    "dataset",
    "train",
    "blend",
    "diff",
    "morph",
    "video",
    "crossover",
    "expression",
    "pca",
    "ppl",
    "project",
    "align",
    "toonify",
    "metrics",
    "ui",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="styleblend", description="Load, generate with, blend, embed into and edit StyleGAN2-family generators.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.add_argument("-q", "--quiet", action="store_true", help="only print errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="also show the library's progress log")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 success, 1 user error, 2 bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.ERROR if args.quiet else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s")
    try:
        with torch_threads(getattr(args, "threads", 0)):
            return int(args.func(args) or 0)
    except StyleblendError as exc:
        if args.debug:
            raise
        print(f"styleblend {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"styleblend {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
