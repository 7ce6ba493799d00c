"""Hub-style model folders: ``model.safetensors`` + ``config.json`` + a ``README.md`` model card.

The layout diffusers and the Hugging Face Hub use: a folder (or a Hub repository) holds the weights as
safetensors, the architecture as JSON and a model card; no code travels with the weights.

- ``model.safetensors`` is a styleblend native file (:mod:`~styleblend.io.formats.native`): it loads on
  its own as well, and its metadata repeats the architecture;
- ``config.json``: ``{"library": "styleblend", "format_version", "model_type", "g_config", "d_config",
  "networks", "dtype", "license", "lineage"}``; on loading, its architecture must equal the weights';
- ``README.md``: the card, with Hub metadata (``library_name``, ``license``, ``tags``) as YAML front
  matter, the architecture and the lineage (what the weights were made from: the source file's SHA-256,
  a blend's parents with theirs and its schedule, a training run's options).

:func:`load_pretrained` reads a folder, or a Hub repository named ``owner/name[@revision]`` through
``huggingface_hub`` (an optional extra), which also works offline from its cache (``HF_HUB_OFFLINE=1``).
:func:`resolve_pretrained` is the hook through which :func:`~styleblend.io.load_checkpoint` (and so every
command's ``--network``) accepts both.

Layer: above the registry, beside ``files`` (which calls :func:`resolve_pretrained`); it reads and writes the
weights with the native format's codec (the storage dtype is an option of that writer only).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..config_sg3 import AnyGeneratorConfig, generator_config_from_dict, is_stylegan3
from ..errors import CheckpointError, InvalidArgumentError, MissingDependencyError
from .atomic import _pid_alive, check_not_protected
from .checkpoint import Checkpoint
from .formats import native
from .model_card import CONFIG_FILE, MODEL_FILE, lineage_of, model_card
from .registry import FORMATS, NATIVE
from .safe_unpickle import check_graph, one_line

log = logging.getLogger(__name__)

CARD_FILE = "README.md"
HUB_FILES = (MODEL_FILE, CONFIG_FILE, CARD_FILE)
FORMAT_VERSION = 1
#: Largest config.json read (a real one is a few kB; a blend recipe's layer table stays well below this).
MAX_CONFIG_BYTES = 4 * 2**20

# owner/name[@revision], as the Hub spells repository ids (letters, digits, '-', '_', '.').
_REPO_ID = re.compile(r"^(?P<repo>[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95})"
                      r"(?:@(?P<revision>[A-Za-z0-9][A-Za-z0-9._/-]{0,199}))?$")
# A missing file with one of these suffixes is a mistyped path, never a repository id: the checkpoint formats'
# and other files commands take (exports, latents, data sets).
_FILE_SUFFIXES = tuple(s for f in FORMATS for s in f.suffixes) + (".ckpt", ".bin", ".onnx", ".json", ".npz", ".npy",
                                                                  ".zip")
_TMP = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[A-Za-z0-9_]+\.tmp$")


# --------------------------------------------------------------------------------------------- reading

def is_model_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder holding ``model.safetensors`` and ``config.json``."""
    p = Path(path)
    return p.is_dir() and (p / MODEL_FILE).is_file() and (p / CONFIG_FILE).is_file()


def parse_repo_id(text: str) -> tuple[str, str | None] | None:
    """``'owner/name@rev'`` -> ``('owner/name', 'rev')`` (revision None when absent); None for anything
    that is not a repository id: an existing path, a name with a checkpoint suffix (a mistyped file), or
    one whose ``owner`` is an existing local folder (a mistyped path inside it)."""
    match = _REPO_ID.match(text)
    if match is None or os.path.lexists(text):
        return None
    repo = match["repo"]
    owner, name = repo.split("/")
    if name.lower().endswith(_FILE_SUFFIXES) or ".." in repo or "--" in repo or os.path.isdir(owner):
        return None
    return repo, match["revision"]


def resolve_pretrained(ref: str | Path, *, revision: str | None = None,
                       cache_dir: str | Path | None = None) -> Path | None:
    """The model folder ``ref`` names, or None when it names no folder and no repository id.

    A folder must hold the hub files; a repository id (``owner/name[@revision]``, see :func:`parse_repo_id`)
    is fetched with ``huggingface_hub`` into its cache (only the three hub files), or found there offline.

    Raises:
        CheckpointError: a folder with only some of the hub files; a repository that cannot be fetched
            or is not in the cache while offline.
        MissingDependencyError: a repository id while huggingface_hub is not installed.
    """
    path = Path(ref)
    if path.is_dir():
        present = [f for f in (MODEL_FILE, CONFIG_FILE) if (path / f).is_file()]
        if len(present) == 1:
            missing = MODEL_FILE if present == [CONFIG_FILE] else CONFIG_FILE
            raise CheckpointError(f"the model folder '{path}' has {present[0]} but no {missing}; a model folder "
                                  f"holds {MODEL_FILE} and {CONFIG_FILE} (write one with save_pretrained, or the "
                                  "export command)")
        return path if present else None
    parsed = parse_repo_id(str(ref))
    if parsed is None:
        return None
    repo, rev = parsed
    return download(repo, revision=revision or rev, cache_dir=cache_dir)


def model_folder(ckpt: Checkpoint) -> Path | None:
    """The hub-style model folder ``ckpt`` was read from (its source is a folder's ``model.safetensors`` with a
    ``config.json`` beside it), else None - so a report can name the folder, not the file inside it."""
    source = ckpt.source
    if source is None or source.name != MODEL_FILE or not (source.parent / CONFIG_FILE).is_file():
        return None
    return source.parent


def load_pretrained(ref: str | Path, *, revision: str | None = None,
                    cache_dir: str | Path | None = None) -> Checkpoint:
    """Read a model folder, or the Hub repository ``owner/name[@revision]`` (see :func:`resolve_pretrained`).

    Returns:
        A :class:`~styleblend.io.Checkpoint` of format 'native' whose ``source`` is the folder's
        ``model.safetensors``; ``meta['license']`` and ``meta['lineage']`` come from ``config.json``.

    Raises:
        CheckpointError: not a model folder nor a repository id, or a folder that does not read (see
            :func:`read_folder`).
    """
    folder = resolve_pretrained(ref, revision=revision, cache_dir=cache_dir)
    if folder is None:
        raise CheckpointError(f"'{ref}' is neither a model folder (with {MODEL_FILE} and {CONFIG_FILE}) nor a Hub "
                              "repository id like 'owner/name' or 'owner/name@revision'")
    return read_folder(folder)


def read_folder(folder: str | Path) -> Checkpoint:
    """Read ``model.safetensors`` and check it against ``config.json``.

    Raises:
        CheckpointError: a missing, oversized or malformed config.json, one from another library or a
            newer format version, or an architecture that differs from the weights'.
    """
    folder = Path(folder)
    config = read_config(folder / CONFIG_FILE)
    ckpt = NATIVE.read(folder / MODEL_FILE)
    try:
        g_config = generator_config_from_dict(config["g_config"])
    except (KeyError, TypeError, ValueError, InvalidArgumentError) as exc:
        raise CheckpointError(f"{folder.name}/{CONFIG_FILE}: invalid 'g_config' ({one_line(exc)})") from None
    if g_config != ckpt.g_config:
        raise CheckpointError(
            f"{folder.name}/{CONFIG_FILE} describes a different generator than {MODEL_FILE} holds "
            f"({_config_difference(g_config, ckpt.g_config)}); the folder was edited by hand or mixed from two "
            "models: write it again with save_pretrained")
    meta = dict(ckpt.meta)
    for key in ("license", "lineage"):
        if config.get(key) is not None:
            meta[key] = config[key]
    return replace(ckpt, meta=meta)


def read_config(path: Path) -> dict[str, Any]:
    """``config.json`` as a dict, within :data:`MAX_CONFIG_BYTES` and the nesting budget.

    Raises:
        CheckpointError: missing, too large, not JSON, not a styleblend config, or a newer format version.
    """
    where = f"{path.parent.name}/{path.name}"
    try:
        size = path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise CheckpointError(f"{where} is {size} bytes; a model config is at most {MAX_CONFIG_BYTES} bytes")
        config = json.loads(path.read_bytes())
    except OSError as exc:
        raise CheckpointError(f"{where} cannot be read ({one_line(exc)})") from None
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"{where} is not valid JSON ({one_line(exc)})") from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{where} holds a JSON {type(config).__name__}, not an object")
    check_graph(config, where)
    if config.get("library") != "styleblend":
        raise CheckpointError(f"{where} is not a styleblend model config (its 'library' is {config.get('library')!r}); "
                              "styleblend reads folders written by save_pretrained (or the export command)")
    version = config.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= FORMAT_VERSION:
        raise CheckpointError(f"{where} has format_version {version!r}; this styleblend reads versions 1 to "
                              f"{FORMAT_VERSION} (upgrade styleblend for newer folders)")
    return config


def _config_difference(a: AnyGeneratorConfig, b: AnyGeneratorConfig) -> str:
    da, db = a.to_dict(), b.to_dict()
    keys = [k for k in {**da, **db} if da.get(k) != db.get(k)]  # either family's fields
    return "; ".join(f"{k}: {da.get(k)} in the config, {db.get(k)} in the weights" for k in keys[:3])


# ------------------------------------------------------------------------------------------ the Hub

def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` is set (read now: huggingface_hub reads it once, when first imported)."""
    value = os.environ.get("HF_HUB_OFFLINE", os.environ.get("TRANSFORMERS_OFFLINE", ""))
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    try:
        from huggingface_hub import constants
    except ImportError:
        return False
    return bool(constants.HF_HUB_OFFLINE)


def download(repo_id: str, *, revision: str | None = None, cache_dir: str | Path | None = None) -> Path:
    """Fetch the hub files of ``repo_id`` into huggingface_hub's cache and return the snapshot folder.

    Offline (``HF_HUB_OFFLINE=1``) nothing is fetched: the folder must already be in the cache.
    cache_dir: the cache folder; None uses ``HF_HUB_CACHE`` as set now, else huggingface_hub's default.

    Raises:
        MissingDependencyError: huggingface_hub is not installed.
        CheckpointError: the repository or revision does not exist, cannot be reached, lacks the hub
            files, or is not in the cache while offline.
    """
    try:
        import huggingface_hub
        from huggingface_hub.utils import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError:
        raise MissingDependencyError(
            f"'{repo_id}' is not a local file or folder; to load it from the Hugging Face Hub install "
            "huggingface_hub (pip install 'styleblend[hub]')") from None
    offline = hub_offline()
    cache = cache_dir if cache_dir is not None else os.environ.get("HF_HUB_CACHE") or None
    where = f"'{repo_id}'" + (f" at revision '{revision}'" if revision else "")
    try:
        folder = huggingface_hub.snapshot_download(repo_id, revision=revision, cache_dir=cache,
                                                   local_files_only=offline, allow_patterns=list(HUB_FILES))
    except LocalEntryNotFoundError:
        raise CheckpointError(
            f"{where} is not in the Hugging Face cache ({cache or 'the default cache'})"
            + (" and HF_HUB_OFFLINE is set, so nothing is downloaded; load it once online, or unset HF_HUB_OFFLINE"
               if offline else " and the Hub cannot be reached; check the connection or pass a local folder")) from None
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise CheckpointError(f"cannot fetch {where} from the Hugging Face Hub ({one_line(exc)}); check the "
                              "repository id and revision") from None
    path = Path(folder)
    if not is_model_folder(path):
        raise CheckpointError(f"{where} has no {MODEL_FILE} and {CONFIG_FILE}; it is not a styleblend model "
                              "repository (write one with save_pretrained or the export command, and upload the "
                              "folder)")
    return path


# --------------------------------------------------------------------------------------------- writing

def save_pretrained(model: Checkpoint | torch.nn.Module, folder: str | Path, *, overwrite: bool = False,
                    license: str | None = None, ema_only: bool = False, dtype: torch.dtype | None = None,
                    recipe: Any = None, title: str | None = None) -> Path:
    """Write ``model`` as a hub-style folder (see the module docstring), atomically.

    The files are written into a hidden temporary folder beside ``folder``, which is then renamed: an
    interrupted write leaves no partial folder (the next write removes such leftovers).

    Args:
        model: a :class:`~styleblend.io.Checkpoint`, or a :class:`~styleblend.nn.Generator` (saved as
            the EMA generator of a checkpoint with no lineage).
        folder: the folder to create.
        overwrite: replace an existing model folder (or an empty folder); any other existing path is refused.
        license: the licence of the weights, as a Hub licence id (e.g. 'apache-2.0', 'cc-by-4.0', 'other');
            None keeps the one a loaded folder stated, else the card says none was stated.
        ema_only: write only the EMA generator (drops the training generator and discriminator).
        dtype: store floating tensors in this dtype (torch.float16 halves the size); None keeps float32.
        recipe: the :class:`~styleblend.blend.recipe.Recipe` (or its dict) of a blend made in memory, so
            that the lineage names its parents with their SHA-256 (a blend read from a file finds the
            ``.recipe.json`` written beside it by itself).
        title: the card's heading (default: the folder's name).

    Returns:
        ``folder``.

    Raises:
        InvalidArgumentError: ``folder`` exists and is not replaceable (see ``overwrite``), a model that is
            neither a Checkpoint nor a Generator, or a licence with spaces or line breaks.
        ArchitectureMismatchError: a tensor does not fit the architecture.
    """
    ckpt = _as_checkpoint(model)
    folder = Path(folder)
    if license is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9.+_-]{0,63}", license):
        raise InvalidArgumentError(f"license {license!r} is not a licence id like 'apache-2.0', 'mit' or 'other'")
    _check_target(folder, overwrite)
    ckpt.check_networks()
    if ema_only:
        ckpt = replace(ckpt, g=None, d=None, d_config=None)
    lineage = lineage_of(ckpt, recipe)
    license = license or (ckpt.meta.get("license") if isinstance(ckpt.meta.get("license"), str) else None)
    config = {
        "library": "styleblend", "styleblend_version": __version__, "format_version": FORMAT_VERSION,
        "model_type": "stylegan3" if is_stylegan3(ckpt.g_config) else "stylegan2",
        "g_config": ckpt.g_config.to_dict(),
        "d_config": ckpt.d_config.to_dict() if ckpt.d is not None and ckpt.d_config is not None else None,
        "networks": [n for n in ("g_ema", "g", "d") if getattr(ckpt, n) is not None],
        "dtype": str(dtype or torch.float32).removeprefix("torch."), "license": license, "lineage": lineage,
    }
    meta = {k: v for k, v in ckpt.meta.items() if k not in ("license", "lineage")}
    ckpt = replace(ckpt, meta=meta)
    card = model_card(config, title or folder.name)
    folder.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale(folder)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.{os.getpid()}-", suffix=".tmp", dir=folder.parent))
    try:
        native.write(ckpt, tmp / MODEL_FILE, dtype=dtype)
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        (tmp / CARD_FILE).write_text(card, encoding="utf-8")
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it 0700; give it a plain mkdir's permissions
        _move_into_place(tmp, folder, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("wrote model folder %s", folder)
    return folder


def _as_checkpoint(model: Checkpoint | torch.nn.Module) -> Checkpoint:
    from ..nn import Generator
    from ..nn.stylegan3 import StyleGAN3Generator

    if isinstance(model, Checkpoint):
        return model
    if isinstance(model, (Generator, StyleGAN3Generator)):
        state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        return Checkpoint(g_config=model.cfg, g_ema=state)
    raise InvalidArgumentError(
        f"save_pretrained takes a styleblend Checkpoint or Generator, not a {type(model).__name__}")


def _check_target(folder: Path, overwrite: bool) -> None:
    check_not_protected(folder)
    if not os.path.lexists(folder):
        return
    if not overwrite:
        raise InvalidArgumentError(f"'{folder}' exists; choose another folder, or allow replacing it (`overwrite`)",
                                   param="overwrite")
    if folder.is_symlink() or not folder.is_dir():
        raise InvalidArgumentError(f"'{folder}' is a file or a link, not a model folder; refusing to replace it")
    if any(folder.iterdir()) and not (folder / CONFIG_FILE).is_file():
        raise InvalidArgumentError(f"'{folder}' is a folder that is not a model folder (no {CONFIG_FILE}); refusing "
                                   "to replace it even with overwrite - choose an empty or new folder")
    if (folder / CONFIG_FILE).is_file():
        try:
            read_config(folder / CONFIG_FILE)
        except CheckpointError as exc:
            raise InvalidArgumentError(f"'{folder}' does not hold a styleblend model folder ({exc}); refusing to "
                                       "replace it even with overwrite") from None


def _move_into_place(tmp: Path, folder: Path, overwrite: bool) -> None:
    """Rename ``tmp`` to ``folder``; with ``overwrite``, move the old folder aside first and delete it after."""
    if not os.path.lexists(folder):
        os.rename(tmp, folder)
        return
    if not overwrite:  # created since the check
        raise InvalidArgumentError(f"'{folder}' was created while writing; choose another folder or overwrite")
    old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.{os.getpid()}-", suffix=".tmp", dir=folder.parent))
    os.rmdir(old)
    os.rename(folder, old)
    try:
        os.rename(tmp, folder)
    except BaseException:
        os.rename(old, folder)  # put the old folder back
        raise
    shutil.rmtree(old, ignore_errors=True)


def _clean_stale(folder: Path) -> None:
    """Remove the temporary folders that interrupted writes of ``folder`` left beside it (their writer is gone)."""
    try:
        entries = list(os.scandir(folder.parent))
    except OSError:
        return
    for entry in entries:
        match = _TMP.match(entry.name)
        if match and match["name"] == folder.name and entry.is_dir(follow_symlinks=False) \
                and not _pid_alive(int(match["pid"])):
            shutil.rmtree(entry.path, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
