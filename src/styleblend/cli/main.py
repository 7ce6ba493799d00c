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
from collections.abc import Iterable, Sequence
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

# Every command, in the order `--help` lists them: name -> (module of this package that registers it, the
# one-line summary `styleblend --help` shows). The summaries are here so that `--help` lists the commands
# without importing their modules (and torch with them); a test holds each to the help text its module
# registers. A module may register several commands (crossover: crossover and style-fusion).
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("demo", "show blending, mixing, morphing and embedding on the bundled models"),
    "generate": ("generate", "render images from seeds or latent files"),
    "mix": ("mix", "style-mixing grid of row and column seeds"),
    "info": ("info", "show a checkpoint's format, architecture and layers"),
    "convert": ("convert", "convert a checkpoint to another format"),
    "export": ("export", "export a generator to ONNX, or a checkpoint to a hub-style model folder"),
    "dataset": ("dataset", "prepare a training zip (centre crop, resize, RGB)"),
    "train": ("train", "train a StyleGAN2-ADA model or fine-tune one on new data"),
    "blend": ("blend", "blend models by resolution (layer swapping, smooth schedules)"),
    "blend-sweep": ("blend_sweep", "an α sweep of a blend (swap resolution or one slider) as GIF/MP4/zip"),
    "regions": ("regions", "find image parts in a layer's features and the channels that draw them"),
    "region-render": ("region_render", "render a region blend of feature maps (images or video; not a weight file)"),
    "diff": ("diff", "compare two generators layer by layer (are they base + fine-tune?)"),
    "morph": ("morph", "interpolate between two latents (frames, strip, GIF, MP4)"),
    "interp-video": ("video", "looping interpolation video through seeds or latents"),
    "transform-video": ("transform_video", "StyleGAN3: video of a translation and/or rotation sweep"),
    "crossover": ("crossover", "keep latent A's layers in a range and B's elsewhere (style transfer)"),
    "style-fusion": ("crossover", "copy a style layer range from image 2 into image 1"),
    "expression": ("expression", "transfer an expression: w1 + lambda (w3 - w2), thresholded"),
    "pca": ("pca", "principal directions of W (GANSpace): fit, list, apply as edits"),
    "ppl": ("ppl", "perceptual path length (StyleGAN) along an interpolation scheme"),
    "project": ("project", "embed real images into the latent space (W / W+)"),
    "encoder": ("encoder", "train an encoder (image -> W+ in milliseconds) for a generator"),
    "align": ("align", "crop and align faces as FFHQ did (needs styleblend[align])"),
    "toonify": ("toonify", "photo -> aligned -> embedded with the base -> rendered by blended models"),
    "metrics": ("metrics", "FID / KID (Inception-v3 features) or SWD of a generator against a data set"),
    "ui": ("ui", "serve the web UI: blend by resolution with sliders, mix, morph, toonify a photo"),
}


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


def build_parser(commands: Iterable[str] | None = None) -> argparse.ArgumentParser:
    """The ``styleblend`` parser with full parsers for ``commands`` (None: every command).

    Every other command gets a stub that only lists it in ``--help``; a command's module (which may import
    torch) is imported only when that command is built, so ``styleblend --help`` imports none of them.
    """
    wanted = set(COMMANDS) if commands is None else set(commands)
    modules = {COMMANDS[name][0] for name in wanted if name in COMMANDS}
    parser = _Parser(prog="styleblend",
                     description="Load, generate with, blend, embed into and edit StyleGAN2-family generators.")
    for flags, text in _GLOBAL_OPTIONS:
        parser.add_argument(*flags, action="store_true", help=text)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    real: list[argparse.ArgumentParser] = []
    for name, (module, summary) in COMMANDS.items():
        if module not in modules:
            sub.add_parser(name, help=summary, add_help=False)
        elif name not in sub.choices:  # the module's first command registers all of the module's commands
            before = set(sub.choices)
            importlib.import_module(f"{__package__}.{module}").register(sub)
            real += [sub.choices[added] for added in sub.choices if added not in before]
    for command in real:
        group = command.add_argument_group("common options (also accepted before the command)")
        for flags, text in _GLOBAL_OPTIONS:
            # SUPPRESS: an option not given after the command leaves the value set before it alone.
            group.add_argument(*flags, action="store_true", default=argparse.SUPPRESS, help=text)
        finite_floats(command)
        dests = {a.dest for a in command._actions}
        if dests & set(OUTPUT_ARGS) and "--force" not in command._option_string_actions:
            add_force(command)
    return parser


def command_name(argv: Sequence[str]) -> str | None:
    """The command ``argv`` names (after any global options), or None (``--help``, a typo, nothing)."""
    global_flags = {flag for flags, _ in _GLOBAL_OPTIONS for flag in flags}
    for arg in argv:
        if arg in global_flags:
            continue
        return arg if arg in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the process exit code (0 success, 1 user error, 2 bad arguments, 130 Ctrl-C,
    141 when the reader of stdout went away, as for other tools killed by SIGPIPE)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    name = command_name(argv)
    parser = build_parser([] if name is None else [name])
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
