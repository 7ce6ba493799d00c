"""Argument helpers shared by several commands, and the CLI's output, logging and error conventions.

Importing this module imports neither torch nor tqdm (each is imported where it is used), so that parsers
are built, and ``--help`` answers, without loading them.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import InvalidArgumentError, StyleblendError
from ..io.atomic import protected_inputs, same_file
from ..latents.limits import PSI_RANGE, check_psi, check_truncation_cutoff

if TYPE_CHECKING:
    import torch
    from tqdm import tqdm

    from ..config_sg3 import AnyGeneratorConfig
    from ..io import Checkpoint
    from ..types import Generator

#: Most images one forward pass may hold, whatever their size.
MAX_BATCH = 4096
#: Most output pixels one forward pass may hold: 16 images of 1024 px, 256 of 256 px, 4096 of 64 px.
#: Activations of a StyleGAN2 synthesis network at batch 16 and 1024 px take several GB; a larger
#: --batch gains no speed and risks running out of memory.
BATCH_PIXEL_BUDGET = 16 * 1024 * 1024

#: --batch when not given: DEFAULT_BATCH images per pass, except on a CPU for models of CPU_LARGE_BATCH_BELOW px and
#: up, where one image per pass is fastest per image and holds the least memory (measured 2026-12-01, 1 thread:
#: 128 px 164 ms/image at batch 1 vs 281 at batch 8; 64 px 19.8 vs 17.9 ms; issue 18: 256 px config-f 1.11 vs
#: 1.54 s/image, 0.96 vs 1.97 GiB peak for `generate`).
DEFAULT_BATCH = 8
CPU_LARGE_BATCH_BELOW = 128


def default_batch(device: str, resolution: int) -> int:
    """The --batch a rendering command uses when none is given (see :data:`DEFAULT_BATCH`)."""
    if device.split(":")[0] == "cpu" and resolution >= CPU_LARGE_BATCH_BELOW:
        return 1
    return DEFAULT_BATCH


#: Most frames a path, morph or video may have (a minute of 30 fps video is 1800).
MAX_FRAMES = 100_000
#: Most samples a statistic may draw (FID's published protocol uses 50 000).
MAX_SAMPLES = 1_000_000

#: Most bytes of rendered frames a command may hold in memory at once (morph keeps every frame to
#: write its strip, frames and videos).
MAX_FRAME_BYTES = 4 * 2**30

#: Argument names (dests) that name files or folders a command writes; every other argument that
#: names an existing file is an input, which these must not overwrite (see :func:`guard_outputs`).
OUTPUT_ARGS = ("out", "outdir", "preview", "json")


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1 or mps (default: cpu)")


def resolve_device(name: str) -> torch.device:
    """Validate a --device value and say why it cannot be used."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise InvalidArgumentError(f"--device {name!r} is not a device name; use cpu, cuda or mps") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InvalidArgumentError("--device cuda was asked for but no CUDA GPU is available; use --device cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InvalidArgumentError("--device mps was asked for but Apple MPS is not available; use --device cpu")
    return device


# --precision values -> (mixed_precision, fp16_path) of Checkpoint.generator.
PRECISIONS: dict[str, tuple[bool, str]] = {"nvidia": (True, "auto"), "nvidia-cuda": (True, "emulated"),
                                           "nvidia-native": (True, "float16"), "float32": (False, "auto")}


def add_generator_args(p: argparse.ArgumentParser, batch: int | None = None, seed_noise: bool = False) -> None:
    """--network, --noise-mode, --class, --batch, --precision, --device (options of every rendering command).

    seed_noise: also offer --noise-mode seed (noise drawn from each seed, NVIDIA's TF convention).
    """
    p.add_argument("--network", required=True, help="checkpoint: NVIDIA .pkl, rosinality .pt or .safetensors")
    modes = ["const", "random", "none"]
    help_text = ("const (default): the model's stored noise, as NVIDIA's generate.py renders (TF pickles too); "
                 "random; none")
    if seed_noise:
        modes.append("seed")
        help_text += "; seed: drawn from each seed after z, as NVIDIA's TensorFlow run_generator.py"
    p.add_argument("--noise-mode", choices=modes, default="const", help=help_text)
    p.add_argument("--class", dest="class_idx", type=int, default=None, help="class index for conditional models")
    default = (f"{batch}" if batch is not None else
               f"{DEFAULT_BATCH}, or 1 on the CPU for models of {CPU_LARGE_BATCH_BELOW} px and up")
    p.add_argument("--batch", type=int_in_range(1, MAX_BATCH, "--batch"), default=batch,
                   help=f"images per forward pass (default: {default}; at most {MAX_BATCH}, and at most "
                        f"{BATCH_PIXEL_BUDGET // 2**20} Mpx per pass: 16 images of 1024 px)")
    p.add_argument("--precision", choices=list(PRECISIONS), default="nvidia",
                   help="nvidia: as NVIDIA's own code renders on this device: the model's num_fp16_res finest "
                        "resolutions in float16 (StyleGAN2-ADA on any device, emulated in float32 at float32 speed "
                        "on the CPU; StyleGAN3 only on CUDA, so in float32 on the CPU, as NVIDIA's CPU render); "
                        "nvidia-cuda: as NVIDIA's code renders on CUDA (StyleGAN3's gen_images.py always does), "
                        "emulated in float32 off CUDA; nvidia-native: float16 layers in true float16 on any device "
                        "(the reference; minutes per image on a CPU); float32: everything in float32 (default "
                        "nvidia; no effect when num_fp16_res is 0)")
    add_device(p)


def apply_precision(G: Generator, precision: str) -> Generator:
    """Set ``G``'s rendering mode to a --precision value (see :data:`PRECISIONS`); returns ``G``."""
    G.synthesis.mixed_precision, G.synthesis.fp16_path = PRECISIONS[precision]
    return G


def load_network(args: argparse.Namespace) -> Checkpoint:
    """Read --network and check --batch, --trunc and --trunc-cutoff against it."""
    from ..io import load_checkpoint

    if args.batch is not None and args.batch < 1:
        raise InvalidArgumentError(f"--batch {args.batch} must be >= 1")
    ckpt = load_checkpoint(args.network)
    check_against_network(args, ckpt.g_config)
    return ckpt


def check_against_network(args: argparse.Namespace, cfg: AnyGeneratorConfig) -> None:
    """Refuse a --batch that does not fit (:data:`BATCH_PIXEL_BUDGET`) and a --trunc-cutoff outside [0, num_ws]."""
    if hasattr(args, "batch"):
        if args.batch is None:
            args.batch = default_batch(str(getattr(args, "device", "cpu")), cfg.img_resolution)
        check_batch(args.batch, cfg.img_resolution)
    if getattr(args, "trunc_cutoff", None) is not None:
        check_truncation_cutoff(args.trunc_cutoff, cfg.num_ws, "--trunc-cutoff")


def check_batch(batch: int, resolution: int, flag: str = "--batch") -> int:
    """``batch`` if that many images of ``resolution`` px fit one pass (:data:`BATCH_PIXEL_BUDGET`)."""
    fits = max(1, BATCH_PIXEL_BUDGET // (resolution * resolution))
    if not 1 <= batch <= min(fits, MAX_BATCH):
        raise InvalidArgumentError(f"{flag} {batch} is more than fits: at most {min(fits, MAX_BATCH)} images of "
                                   f"{resolution}x{resolution} px per pass (a budget "
                                   f"of {BATCH_PIXEL_BUDGET // 2**20} Mpx); lower {flag}")
    return batch


def load_generator(args: argparse.Namespace) -> Generator:
    """Check --batch and load --network as an eval-mode generator on --device (the file's other networks and
    tensors are let go: :func:`render_generator`)."""
    mixed, fp16_path = PRECISIONS[args.precision]
    return render_generator(load_network(args), resolve_device(args.device), mixed, fp16_path)


def render_generator(ckpt: Checkpoint, device: torch.device, mixed_precision: bool = False,
                     fp16_path: str = "auto") -> Generator:
    """``ckpt``'s EMA generator for a command that only renders, holding one copy of one network: the
    training generator and the discriminator are dropped before it is built (the build reuses their memory),
    the checkpoint's copy of the EMA weights after, and the freed memory goes back to the system. ``ckpt`` is
    left without tensors; do not use it afterwards."""
    from ..io.memory import return_freed_memory

    ckpt.release()
    return_freed_memory()
    G = ckpt.generator(device, mixed_precision=mixed_precision, fp16_path=fp16_path)
    ckpt.release(g_ema=True)
    return_freed_memory()
    return G


def check_frames(count: int, G: Generator, flag: str) -> int:
    """``count`` if that many frames rendered by ``G`` fit :data:`MAX_FRAME_BYTES`, else an InvalidArgumentError
    naming ``flag``."""
    per_frame = G.img_resolution**2 * G.img_channels * 2  # uint8 frames, listed and then stacked
    fits = max(1, MAX_FRAME_BYTES // per_frame)
    if count > fits:
        raise InvalidArgumentError(f"{count} frames of {G.img_resolution} px are more than fit in memory (at most "
                                   f"{fits}, {MAX_FRAME_BYTES >> 30} GB); lower {flag}")
    return count


def add_truncation(parser: argparse.ArgumentParser) -> None:
    """--trunc PSI (finite, in :data:`~styleblend.latents.limits.PSI_RANGE`) and --trunc-cutoff N (>= 0;
    checked against num_ws once the network is loaded)."""
    parser.add_argument("--trunc", type=psi_arg("--trunc"), default=1.0, metavar="PSI",
                        help=f"truncation psi in [{PSI_RANGE[0]:g}, {PSI_RANGE[1]:g}]: 1 = none, 0.7 = typical, "
                             "0 = the mean face (default 1)")
    parser.add_argument("--trunc-cutoff", type=int_in_range(0, None, "--trunc-cutoff"), default=None, metavar="N",
                        help="truncate only the first N W+ entries, 0 <= N <= num_ws (default: all)")


def psi_arg(flag: str) -> Callable[[str], float]:
    """argparse type: a truncation psi, finite and in :data:`~styleblend.latents.limits.PSI_RANGE`."""

    def parse(text: str) -> float:
        try:
            return check_psi(text, flag)
        except InvalidArgumentError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def int_in_range(low: int, high: int | None, flag: str) -> Callable[[str], int]:
    """argparse type: an integer in [low, high] (high None: no upper bound)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text[:40]}' is not an integer") from None
        if value < low or (high is not None and value > high):
            bound = f"[{low}, {high}]" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{value} must be {'in ' if high is not None else ''}{bound}")
        return value

    return parse


def finite_float(text: str) -> float:
    """argparse type: a float that is neither NaN nor infinite (NaN would render black images silently)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text[:40]}' is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"'{text[:40]}' is not a finite number")
    return value


def finite_floats(parser: argparse.ArgumentParser) -> None:
    """Make every ``type=float`` option of ``parser`` refuse NaN and infinity (``--width nan``, ``--lr inf``)."""
    for action in parser._actions:
        if action.type is float:
            action.type = finite_float


@contextlib.contextmanager
def progress(args: argparse.Namespace, total: int, desc: str) -> Iterator[Callable[[int, int], None]]:
    """A tqdm bar as a ``callback(done, total)``; silent with -q, for tiny jobs and when stderr is no terminal."""
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit="img", disable=args.quiet or total < 2 or not _tty(), leave=False) as bar:
        yield lambda done, _total: bar.update(done - bar.n)


def progress_bar(args: argparse.Namespace, *, disable: bool = False, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr, drawn only on a terminal and without -q (a log file gets no bar fragments)."""
    from tqdm import tqdm

    return tqdm(disable=disable or bool(args.quiet) or not _tty(), **kwargs)


def _tty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def close_progress_bars() -> None:
    """Erase every open tqdm bar, so that an error message that follows starts on a clean line."""
    std = sys.modules.get("tqdm.std")
    if std is None:  # no bar was ever made (tqdm not even imported)
        return
    for bar in list(getattr(std.tqdm, "_instances", ())):
        with contextlib.suppress(Exception):
            bar.leave = False
            bar.close()


def warn(text: str, params: Sequence[str] = ()) -> None:
    """Show a warning once per run (the same text logged by the library is not repeated).

    ``params``: library parameter names the text speaks of, shown as their flags (:func:`flag_names`).
    """
    logging.getLogger("styleblend.cli").warning(text, extra={"params": tuple(params)})


class _FlagNames(logging.Filter):
    """Rewrites the parameter names a library log record declares (``extra={"params": ...}``) into flags."""

    def filter(self, record: logging.LogRecord) -> bool:
        params = getattr(record, "params", ())
        if params:
            record.msg, record.args = flag_names(record.getMessage(), params), ()
        return True


class _Once(logging.Filter):
    """Drops a warning whose text was already shown in this run."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        text = record.getMessage().strip()
        if text in self.seen:
            return False
        self.seen.add(text)
        return True


class _Handler(logging.Handler):
    """Writes through tqdm, so a message never lands in the middle of a progress bar."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        try:
            text = self.format(record)
            if record.levelno >= logging.WARNING and not text.startswith(("warning:", "error:")):
                text = f"{record.levelname.lower()}: {text}"
            tqdm.write(text, file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise into the command
            self.handleError(record)


@contextlib.contextmanager
def cli_logging(level: int) -> Iterator[None]:
    """Route the library's log and Python warnings to stderr for one command: each warning once, at ``level``."""
    root = logging.getLogger()
    handler = _Handler(level)
    handler.setFormatter(logging.Formatter("%(message)s"))
    handler.addFilter(_FlagNames())
    handler.addFilter(_Once())
    before = root.level
    root.addHandler(handler)
    root.setLevel(min(level, before) if before != logging.NOTSET else level)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")  # each distinct warning once, not once per call site and module
            warnings.showwarning = _show_warning  # restored by catch_warnings
            yield
    finally:
        root.removeHandler(handler)
        root.setLevel(before)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: Any = None, line: str | None = None) -> None:
    """A Python warning as one log line (category and text; no source line), deduplicated like the rest."""
    logging.getLogger("py.warnings").warning("%s: %s", category.__name__, " ".join(str(message).split()))


_OS_HINTS = {
    errno.ENOENT: "check the path (a folder on it may be missing)",
    errno.ENOTDIR: "a part of the path is a file, not a folder; choose another location",
    errno.EISDIR: "it is a folder; give a file name",
    errno.EACCES: "check its permissions or choose another location",
    errno.EPERM: "check its permissions or choose another location",
    errno.EROFS: "the file system is read-only; write somewhere else",
    errno.ENOSPC: "the disk is full; free some space or write somewhere else",
    errno.EEXIST: "remove it or choose another name",
}


def error_line(exc: BaseException) -> str:
    """One line for a user-facing error: a StyleblendError's message, an OSError's path, reason and fix."""
    if isinstance(exc, MemoryError):
        text = ("out of memory; use a smaller --batch, fewer seeds or frames, or a smaller input "
                f"({type(exc).__name__}{': ' + str(exc) if str(exc) else ''})")
    elif isinstance(exc, OSError) and not isinstance(exc, StyleblendError):
        reason = exc.strerror or str(exc) or type(exc).__name__
        where = "".join(f" '{f}'" for f in (exc.filename, exc.filename2) if f is not None)
        hint = _OS_HINTS.get(exc.errno or 0)
        text = f"{reason}:{where}" if where else reason
        text += f"; {hint}" if hint else ""
    else:
        text = str(exc)
        if isinstance(exc, StyleblendError):
            text = flag_names(text, exc.params)
    return " ".join(text.split())


#: The flag that sets each library parameter, for error messages: the library speaks of
#: ``class_idx``, the user typed ``--class``. The one place where parameter names meet flag names.
PARAM_FLAGS = {
    "batch": "--batch",
    "batch_gpu": "--batch-gpu",
    "batch_size": "--batch",
    "blended_ckpts": "--blend",
    "cfg": "--cfg",
    "class_idx": "--class",
    "critic": "--critic",
    "discriminator": "--discriminator",
    "download": "--download",
    "encoder": "--encoder",
    "flip": "--flip",
    "fid_sqrt": "--fid-sqrt",
    "identity": "--identity",
    "inception_path": "--inception",
    "init": "--init",
    "kid_subset_size": "--kid-subset-size",
    "kid_subsets": "--kid-subsets",
    "loss": "--loss",
    "max_real": "--max-real",
    "method": "--method",
    "metrics": "--metrics",
    "num_gen": "--num-gen",
    "overwrite": "--force",
    "predictor_path": "--predictor",
    "pti_steps": "--pti-steps",
    "pti_schedule": "--pti-schedule",
    "resolution": "--res",
    "resume": "--resume",
    "rotate": "--rotate",
    "run_dir": "--resume-run",
    "seeds": "--seeds",
    "space": "--space",
    "steps": "--steps",
    "styles": "--styles",
    "target": "--target",
    "template": "--template",
    "translate": "--translate",
    "truncation_cutoff": "--trunc-cutoff",
    "truncation_psi": "--trunc",
    "vgg_path": "--vgg",
}


def flag_names(text: str, params: Sequence[str]) -> str:
    """Rewrite the parameters an error is about (``exc.params``) into the flags that set them.

    The library marks a parameter in its messages with backticks (```steps``` 0 needs ...), so only
    those are replaced - ordinary words (an 'encoder' file, the 'steps' of a run) stay as they are.
    """
    for name in params:
        flag = PARAM_FLAGS.get(name)
        if flag is not None:
            text = text.replace(f"`{name}`", flag)
    return text


def _named_files(value: Any) -> Iterator[Path]:
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _named_files(item)
    elif isinstance(value, (str, Path)) and str(value) and len(str(value)) < 4096:
        with contextlib.suppress(OSError, ValueError):
            if os.path.isfile(value):
                yield Path(value)


def input_files(args: argparse.Namespace) -> list[Path]:
    """Every existing file named by an argument other than the outputs (:data:`OUTPUT_ARGS`)."""
    skip = {*OUTPUT_ARGS, "command", "func"}
    return [p for name, value in vars(args).items() if name not in skip for p in _named_files(value)]


def check_outputs(outputs: Iterable[str | Path | None], inputs: Iterable[str | Path], force: bool = False) -> None:
    """Refuse to write an output that is one of the inputs, unless ``force``.

    "Is" means the same path, or the same file through a symlink or a hard link
    (:func:`~styleblend.io.atomic.same_file`). An output that is an existing folder is refused too
    (it would fail only after all the work).

    Raises:
        InvalidArgumentError: with the two names and the fix.
    """
    inputs = [Path(i) for i in inputs]
    for out in outputs:
        if out is None:
            continue
        for source in inputs:
            if not force and same_file(out, source):
                how = "" if Path(out) == source else "the same file as "
                raise InvalidArgumentError(f"refusing to overwrite the input '{source}': the output '{out}' is "
                                           f"{how}it; choose another output name (or pass --force to replace it)")


def guard_outputs(args: argparse.Namespace) -> contextlib.AbstractContextManager:
    """Check the command's output arguments against its inputs (:func:`check_outputs`) and return a
    context that refuses any later write over an input (:func:`~styleblend.io.atomic.protected_inputs`);
    with --force both are skipped."""
    force = bool(getattr(args, "force", False))
    inputs = input_files(args)
    outs = [getattr(args, name, None) for name in OUTPUT_ARGS if name != "outdir"]
    check_outputs(outs, inputs, force)
    outdir = getattr(args, "outdir", None)
    if outdir is not None and Path(outdir).is_file():
        raise InvalidArgumentError(f"--outdir '{outdir}' is a file, not a folder; give a folder name")
    for name in ("out", "preview", "json"):
        out = getattr(args, name, None)
        if isinstance(out, (str, Path)) and Path(out).is_dir():
            raise InvalidArgumentError(f"--{name} '{out}' is a folder; give a file name inside it")
    if force or getattr(args, "command", None) in _CHECK_ONLY:
        return contextlib.nullcontext()
    return protected_inputs(inputs)


# Commands whose outputs are checked up front but whose later writes are not guarded: a training run
# writes snapshots for hours, and its own resume/snapshot naming is the training code's to decide.
_CHECK_ONLY = frozenset({"train"})


def add_force(parser: argparse.ArgumentParser) -> None:
    """--force: allow an output to replace one of the inputs."""
    parser.add_argument("--force", action="store_true",
                        help="write even when an output is one of the inputs (replacing it)")

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
    if not count:  # nothing to set, so torch need not be imported for it
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def int_list(what: str, max_count: int | None = None) -> Callable[[str], list[int]]:
    """argparse type for '0-7,42' lists of at most ``max_count`` numbers (counted before expanding; default
    :data:`~styleblend.latents.seeds.MAX_LIST_LENGTH`; seeds must also lie in [0, 2**32))."""

    def parse(text: str) -> list[int]:
        from ..latents.seeds import MAX_LIST_LENGTH, parse_int_list

        try:
            return parse_int_list(text, what, max_count=MAX_LIST_LENGTH if max_count is None else max_count)
        except InvalidArgumentError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def float_list(what: str) -> Callable[[str], list[float]]:
    """argparse type for '0,0.5,1' lists of floats."""

    def parse(text: str) -> list[float]:
        try:
            values = [float(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} '{text[:60]}' is not a comma-separated list of numbers") from None
        if not all(math.isfinite(v) for v in values):
            raise argparse.ArgumentTypeError(f"{what} '{text[:60]}' holds a value that is not a finite number")
        if not values:
            raise argparse.ArgumentTypeError(f"no {what} in '{text}'")
        return values

    return parse
