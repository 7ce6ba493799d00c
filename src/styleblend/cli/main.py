"""Entry point of the ``styleblend`` command.

Each command lives in its own module of this package exposing ``register(subparsers)``, which adds
its parser and sets ``func`` to a ``run(args) -> int`` function. User errors (StyleblendError)
become one line on stderr and exit code 1, and so do file-system errors (a missing folder, a read-only
disk, an output that is a folder) and running out of memory; ``--debug`` shows the traceback instead.

No command overwrites one of its inputs: an output argument (:data:`~.common.OUTPUT_ARGS`) that names
an input file, and any later write over one, is refused unless ``--force`` (:func:`.common.guard_outputs`).
"""

from __future__ import annotations

import argparse
import importlib
import io
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ..errors import StyleblendError
from .common import (
    OUTPUT_ARGS,
    add_force,
    cli_logging,
    close_progress_bars,
    error_line,
    finite_floats,
    guard_outputs,
    torch_threads,
)

# Command modules, in the order `--help` lists them.
COMMANDS = [
    "demo",
    "generate",
    "mix",
    "info",
    "convert",
    "export",
    "dataset",
    "train",
    "blend",
    "regions",
    "diff",
    "morph",
    "video",
    "crossover",
    "expression",
    "pca",
    "ppl",
    "project",
    "encoder",
    "align",
    "toonify",
    "metrics",
    "ui",
]


# Options every command accepts, before or after its name (``styleblend -q generate`` and
# ``styleblend generate -q`` mean the same).
_GLOBAL_OPTIONS = (
    (("--debug",), "show tracebacks instead of one-line errors"),
    (("-q", "--quiet"), "only print errors"),
    (("-v", "--verbose"), "also show the library's progress log"),
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (argparse's default prints the whole usage first)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="styleblend", description="Load, generate with, blend, embed into and edit StyleGAN2-family generators.")
    for flags, text in _GLOBAL_OPTIONS:
        parser.add_argument(*flags, action="store_true", help=text)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"{__package__}.{name.replace('-', '_')}").register(sub)
    for command in sub.choices.values():
        group = command.add_argument_group("common options (also accepted before the command)")
        for flags, text in _GLOBAL_OPTIONS:
            # SUPPRESS: an option not given after the command leaves the value set before it alone.
            group.add_argument(*flags, action="store_true", default=argparse.SUPPRESS, help=text)
        finite_floats(command)
        dests = {a.dest for a in command._actions}
        if dests & set(OUTPUT_ARGS) and "--force" not in command._option_string_actions:
            add_force(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 success, 1 user error, 2 bad arguments, 130 Ctrl-C,
    141 when the reader of stdout went away, as for other tools killed by SIGPIPE)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.ERROR if args.quiet else logging.INFO if args.verbose else logging.WARNING
    with cli_logging(level):
        try:
            with guard_outputs(args), torch_threads(getattr(args, "threads", 0)):
                return int(args.func(args) or 0)
        except BrokenPipeError:
            # `styleblend info x | head`: the reader has all it wanted. Quiet, like cat or grep.
            _silence_stdout()
            return 141
        except KeyboardInterrupt:
            close_progress_bars()
            print(f"styleblend {args.command}: interrupted", file=sys.stderr)
            return 130
        except (StyleblendError, OSError, MemoryError) as exc:
            if args.debug:
                raise
            close_progress_bars()
            print(f"styleblend {args.command}: error: {error_line(exc)}", file=sys.stderr)
            return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush cannot raise a second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        pass  # stdout is not a real file (tests, notebooks): nothing will flush it at exit


if __name__ == "__main__":
    sys.exit(main())
