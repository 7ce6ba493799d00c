"""Converting a checkpoint to another format, and saying what the target format cannot hold.

Formats hold different things. An NVIDIA snapshot pickle carries G, D, G_ema, an augment pipeline
(with ADA's probability ``p``), the training-set kwargs and the source code of every network; a
rosinality training file carries optimiser states and ``args``; a styleblend training snapshot carries
ADA's ``p`` and the run's options in its metadata. :func:`convert_checkpoint` writes what the target
can hold and returns one sentence for each thing it cannot, so nothing is dropped without a word.

Writing an NVIDIA pickle always means replacing the tensors in a copy of an existing NVIDIA pickle
(styleblend never writes code into a pickle): the network's own source pickle, an explicit
``template``, or the pickle a training run started from (recorded in its snapshots as
``meta['started_from']``, see :func:`styleblend.train.checkpointing.started_from`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, InvalidArgumentError
from .checkpoint import Checkpoint
from .detect import detect_format
from .digest import file_sha256
from .files import save_checkpoint
from .formats import native, nvidia_pkl, rosinality
from .registry import NATIVE, NVIDIA_PKL, ROSINALITY, format_names, get_format

#: Formats a checkpoint can be converted to (those styleblend writes).
TARGETS = format_names(writable=True)

# Notes an NVIDIA reader records about the pickle itself; they do not describe a converted file.
_SOURCE_ONLY_META = ("embedded_source", "has_augment_pipe")
# rosinality args that only describe the architecture (which every target holds).
_ARCHITECTURE_ARGS = {"arch", "size", "latent", "n_mlp", "lr_mlp", "channel_multiplier"}


@dataclass(frozen=True)
class Conversion:
    """What :func:`convert_checkpoint` wrote.

    path: the written file.
    fmt: its format.
    template: the NVIDIA pickle the tensors were written into (None for other formats).
    networks: the network's parts in the file ('g_ema', 'g', 'd').
    dropped: one sentence per thing of the network the file does not hold.
    kept: one sentence per part of the template left as it was (nvidia-pkl only).
    """

    path: Path
    fmt: str
    template: Path | None
    networks: tuple[str, ...]
    dropped: tuple[str, ...]
    kept: tuple[str, ...] = ()


def find_template(ckpt: Checkpoint, template: str | Path | None = None) -> Path:
    """The NVIDIA pickle to write ``ckpt`` into.

    In order: ``template`` when given; the network's own file when it is an NVIDIA pickle; the
    pickle its training run started from when that file still exists unchanged (same SHA-256).

    Raises:
        CheckpointError: none of these exists; the message says to pass ``--template``.
    """
    if template is not None:
        return Path(template)
    if ckpt.format == NVIDIA_PKL.name and ckpt.source is not None:
        return Path(ckpt.source)
    origin = ckpt.meta.get("started_from")
    if isinstance(origin, dict) and origin.get("format") == NVIDIA_PKL.name and origin.get("path"):
        path = Path(str(origin["path"]))
        if not path.is_file():
            raise CheckpointError(
                f"{ckpt.describe()} was trained from the NVIDIA pickle {path}, which no longer exists; pass "
                "`template` PATH with that pickle (or another of the same architecture)", param="template")
        if origin.get("sha256") and file_sha256(path) != origin["sha256"]:
            raise CheckpointError(
                f"{ckpt.describe()} was trained from {path}, but that file has changed since (its SHA-256 differs); "
                f"pass `template` {path} to write into it anyway, or the original pickle as `template`",
                param="template")
        return path
    raise CheckpointError(
        f"writing an NVIDIA pickle puts the tensors into a copy of an existing one, and {ckpt.describe()} "
        "is neither an NVIDIA pickle nor trained from one; pass `template` base.pkl (the NVIDIA pickle the "
        "model was fine-tuned from)", param="template")


def convert_checkpoint(ckpt: Checkpoint, out: str | Path, fmt: str, template: str | Path | None = None,
                       dtype: torch.dtype | None = None) -> Conversion:
    """Check ``ckpt``'s tensors against its architecture, then write it to ``out`` in ``fmt``.

    Args:
        ckpt: the network, as read by :func:`~styleblend.io.load_checkpoint`.
        out: the file to write (atomically).
        fmt: 'native', 'rosinality' or 'nvidia-pkl'.
        template: nvidia-pkl only: the NVIDIA pickle whose structure the file gets (see :func:`find_template`).
        dtype: native only: store floating tensors in this dtype (e.g. torch.float16).

    Returns:
        A :class:`Conversion`; its ``dropped`` lists what the target does not hold.

    Raises:
        ArchitectureMismatchError: a tensor does not fit the architecture, or the template's differs.
        CheckpointError: no NVIDIA pickle to write into (nvidia-pkl).
        InvalidArgumentError: an unknown format, or an option that does not apply to it.
    """
    if fmt not in TARGETS:
        raise InvalidArgumentError(f"cannot convert to {fmt!r}; choose one of {list(TARGETS)}")
    if dtype is not None and fmt != NATIVE.name:
        raise InvalidArgumentError(f"a storage dtype applies to {NATIVE.name} files only, not to {fmt}")
    if template is not None and not get_format(fmt).into_existing:
        raise InvalidArgumentError(f"a template is used for {NVIDIA_PKL.name} output only, not for {fmt}")
    ckpt.check_networks()
    out = Path(out)
    if fmt == NVIDIA_PKL.name:
        path = find_template(ckpt, template)
        found = detect_format(path)
        if found != NVIDIA_PKL.name:
            raise CheckpointError(f"`template` {path.name} is a {found} file, not an {NVIDIA_PKL.label}; pass the "
                                  "NVIDIA pickle the model was fine-tuned from", param="template")
        done = nvidia_pkl.write_into_template(ckpt, path, out)
        own = ckpt.format == NVIDIA_PKL.name and ckpt.source is not None and _same_file(ckpt.source, path)
        parts = {"G_ema": "g_ema", "G": "g", "D": "d"}
        dropped = conversion_losses(ckpt, fmt, own_template=own, template_meta=done.template_meta)
        return Conversion(path=done.path, fmt=fmt, template=path, networks=tuple(parts[k] for k in done.written),
                          dropped=tuple(dropped), kept=done.kept)
    dropped = conversion_losses(ckpt, fmt)
    meta = {k: v for k, v in ckpt.meta.items() if k not in _SOURCE_ONLY_META}
    target = dataclasses.replace(ckpt, meta=meta)
    if fmt == ROSINALITY.name and ckpt.d is not None and ckpt.d_config is not None \
            and rosinality.discriminator_problem(ckpt.d_config) is not None:
        target = dataclasses.replace(target, d=None, d_config=None)  # said in 'dropped'; the writer need not warn
    if fmt == NATIVE.name:
        path = native.write(target, out, dtype=dtype)
    else:
        path = save_checkpoint(target, out, fmt)
    networks = tuple(n for n in ("g_ema", "g", "d") if getattr(target, n) is not None)
    return Conversion(path=Path(path), fmt=fmt, template=None, networks=networks, dropped=tuple(dropped))


def conversion_losses(ckpt: Checkpoint, fmt: str, own_template: bool = False,
                      template_meta: dict[str, Any] | None = None) -> list[str]:
    """One sentence per thing ``ckpt`` has that a file of format ``fmt`` does not hold.

    own_template: nvidia-pkl written into the network's own source pickle (which keeps everything).
    template_meta: nvidia-pkl: the template's metadata; what the template holds with the same value
        (e.g. the training-set kwargs of the pickle a fine-tune started from) is not a loss.
    """
    template_meta = template_meta or {}
    into_template = fmt == NVIDIA_PKL.name

    def same_in_template(key: str, value: Any) -> bool:
        return into_template and template_meta.get(key) == value

    meta = ckpt.meta
    out = [f"{item} (not read from {ckpt.describe()})" for item in meta.get("dropped") or []]
    if into_template and own_template:
        return out
    gone = "the template's own stays in the written pickle" if into_template else f"a {fmt} file has no place for it"
    from_pickle = ckpt.format == NVIDIA_PKL.name
    keeps_notes = fmt == NATIVE.name  # styleblend's own metadata holds any JSON note
    p = meta.get("augment_p", meta.get("ada_aug_p"))
    p_text = f" (p={_number(p)})" if isinstance(p, (int, float)) else ""
    if from_pickle and meta.get("has_augment_pipe"):
        note = " (p is kept as a note in its metadata)" if keeps_notes and p_text else ""
        out.append(f"the augment pipeline{p_text}: {gone}{note}")
    elif p_text and not keeps_notes and not same_in_template("augment_p", p):
        out.append(f"ADA's augment probability{p_text}: {gone}")
    if from_pickle and meta.get("embedded_source"):
        out.append(f"the source code embedded for {', '.join(meta['embedded_source'])} (never run by styleblend): "
                   f"{gone}")
    if meta.get("training_set_kwargs") and not keeps_notes and \
            not same_in_template("training_set_kwargs", meta["training_set_kwargs"]):
        out.append(f"the training-set kwargs ({_summary(meta['training_set_kwargs'])}): {gone}")
    if meta.get("training_options") and not keeps_notes:
        kimg = meta.get("kimg")
        when = f" at {_number(kimg)} kimg" if isinstance(kimg, (int, float)) else ""
        holder = "an NVIDIA pickle has no place for it" if into_template else gone
        out.append(f"the training run's options and progress{when}: {holder}")
    saved_args = meta.get("args")
    args: dict[Any, Any] = saved_args if isinstance(saved_args, dict) else {}
    args = {k: v for k, v in args.items() if k not in _ARCHITECTURE_ARGS and not str(k).startswith("styleblend_")}
    if args and not keeps_notes:
        holder = ("the file gets new args (size, latent, n_mlp, lr_mlp)" if fmt == ROSINALITY.name
                  else "an NVIDIA pickle has no place for it")
        out.append(f"the rosinality args ({_summary(args)}): {holder}")
    if fmt == ROSINALITY.name and ckpt.d is not None and ckpt.d_config is not None:
        problem = rosinality.discriminator_problem(ckpt.d_config)
        if problem is not None:
            out.append(f"the discriminator: rosinality's cannot express {problem}")
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return Path(a).samefile(b)
    except OSError:
        return False


def _number(value: float) -> str:
    return f"{value:.4g}"


def _summary(kwargs: dict[str, Any], limit: int = 4) -> str:
    items = [f"{k}={v!r}" for k, v in list(kwargs.items())[:limit]]
    return ", ".join(items) + (", ..." if len(kwargs) > limit else "")
