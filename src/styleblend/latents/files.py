"""Latent files (z, W, W+ as .npy/.npz), PCA files, and one resolver from a text spec to ws.

The one layout every command writes (:func:`save_latents`) and every command reads
(:func:`read_latent_file`):

=====================  =======================================================================
``w``                  W+ codes ``[n, num_ws, w_dim]`` (3-D, so never ambiguous; a projection is
                       n = 1, the layout of NVIDIA's ``projected_w.npz``) - or ``z`` ``[n, z_dim]``
``meta_json``          all metadata as one JSON object (a 0-d string array); JSON scalars are also
                       stored as 0-d arrays under their own name, so ``np.load(f)["method"]`` works
``noise.<buffer>``     optimised noise maps of a projection (optional)
``features``           ``[n, C, r, r]``: the generator's feature map at block r that replaces its own
                       when rendering (a "W+ + r px features" pair of an encoder with a feature head,
                       :mod:`styleblend.nn.feature_space`; optional); r is ``feature_block`` in the
                       metadata. Commands that render only W+ use ``w`` and say the features are unused.
=====================  =======================================================================

A ``.npy`` holds the bare array. Files written by older versions - projections with ``w`` of shape
``[num_ws, w_dim]``, edits with metadata as separate arrays and no ``meta_json`` - read the same.

Accepted latent arrays (checked against the network's z_dim, w_dim and num_ws):

=====================  =======================================================================
z file                 ``[z_dim]`` or ``[n, z_dim]``; ``.npy``, or ``.npz`` key ``z``
W file                 ``[w_dim]`` or ``[n, w_dim]`` (one w per image, broadcast to all layers)
W+ file                ``[n, num_ws, w_dim]``; ``.npz`` key ``ws`` or ``w``
projection ``.npz``    key ``w`` of shape ``[num_ws, w_dim]`` plus metadata keys (one W+ code),
                       as written by ``styleblend project`` and NVIDIA's projector (``[1, num_ws, w_dim]``)
=====================  =======================================================================

A 2-D array is ambiguous when n == num_ws. The rule: in an ``.npz`` under key ``w`` a
``[num_ws, w_dim]`` array is one W+ code (the projection convention); everywhere else a 2-D array is
rows of W. Pass ``layout='w'`` or ``layout='w+'`` to override. Files are read with
``allow_pickle=False``: a latent file can never run code.
"""

from __future__ import annotations

import json
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from ..config_sg3 import AnyGeneratorConfig
from ..errors import InvalidArgumentError
from ..io.atomic import atomic_path
from ..media.load import IMAGE_SUFFIXES
from .mapping import generator_device, map_z
from .pca import PCA
from .seeds import parse_int_list, z_from_seeds

if TYPE_CHECKING:
    from ..nn import Generator as StyleGAN2Generator
    from ..types import Generator

log = logging.getLogger(__name__)

LATENT_KEYS = ("z", "w", "ws")
META_KEY = "meta_json"
NOISE_PREFIX = "noise."
FEATURES_KEY = "features"
FEATURE_BLOCK_KEY = "feature_block"
KINDS = ("auto", "z", "w")
LAYOUTS = ("auto", "w", "w+")


@dataclass
class LatentFile:
    """The content of a latent file.

    Attributes:
        kind: 'z' (data [n, z_dim]) or 'w' (data [n, num_ws, w_dim]; W rows are broadcast to all layers).
        data: float32 array.
        meta: the metadata: ``meta_json`` parsed, plus other ``.npz`` entries of older files (0-d arrays
            as Python values), e.g. a projection's network, method, steps and loss.
        path: where it was read from.
        noise: a projection's optimised noise maps by buffer name (``noise.<name>`` entries).
        features: the feature map [n, C, r, r] at block ``feature_block`` that renders with the W+ code
            (:mod:`styleblend.nn.feature_space`), or None (a pure latent; every older file).
    """

    kind: str
    data: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    noise: dict[str, np.ndarray] = field(default_factory=dict)
    features: np.ndarray | None = None
    feature_block: int | None = None


def _read_arrays(path: Path) -> tuple[dict[str, np.ndarray], str | None]:
    """Return the arrays of a .npy/.npz file and the latent key found (None for .npy)."""
    if not path.is_file():
        raise InvalidArgumentError(f"latent file '{path}' does not exist; check the path")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise InvalidArgumentError(
            f"'{path}' is an image, not a latent; embed it first (styleblend.project, or the 'project' command) "
            "and pass the .npz it writes")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return {"": loaded}, None
        with loaded:
            arrays = {k: np.asarray(loaded[k]) for k in loaded.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise InvalidArgumentError(
            f"cannot read latent file '{path}' ({exc}); it must be a .npy or .npz of numbers "
            "(pickled objects are refused)") from None
    keys = [k for k in LATENT_KEYS if k in arrays]
    if len(keys) > 1:
        raise InvalidArgumentError(
            f"latent file '{path}' holds several latents {keys}; keep one of {list(LATENT_KEYS)} per file")
    if not keys:
        raise InvalidArgumentError(
            f"latent file '{path}' has keys {sorted(arrays)} but none of {list(LATENT_KEYS)}; "
            "save z under 'z' and W/W+ under 'w' (e.g. np.savez(path, w=ws))")
    return arrays, keys[0]


def _meta(arrays: dict[str, np.ndarray], key: str | None, path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(metadata, noise maps) of a file's non-latent entries."""
    meta: dict[str, Any] = {}
    noise: dict[str, np.ndarray] = {}
    for k, v in arrays.items():
        if k in (key, "", META_KEY, FEATURES_KEY):
            continue
        if k.startswith(NOISE_PREFIX):
            noise[k[len(NOISE_PREFIX):]] = v
        else:
            meta[k] = v.item() if v.ndim == 0 else v
    if META_KEY in arrays:
        try:
            parsed = json.loads(str(arrays[META_KEY]))
        except ValueError:
            raise InvalidArgumentError(f"latent file '{path}' has unreadable metadata ({META_KEY} is not JSON); "
                                       "write the file again") from None
        if isinstance(parsed, dict):
            meta.update(parsed)
    return meta, noise


def read_latent_file(path: str | Path, cfg: AnyGeneratorConfig, kind: str = "auto",
                     layout: str = "auto") -> LatentFile:
    """Read and validate a latent file for the network described by ``cfg``.

    Args:
        path: ``.npy`` or ``.npz`` file.
        cfg: the generator's architecture (z_dim, w_dim, num_ws).
        kind: 'z', 'w' or 'auto' (from the .npz key; a .npy is taken as W/W+).
        layout: for 2-D W arrays: 'w' (rows of W), 'w+' (one W+ code) or 'auto' (see module docstring).
    Returns:
        A :class:`LatentFile` with z [n, z_dim] or ws [n, num_ws, w_dim].
    Raises:
        InvalidArgumentError: unreadable file, wrong keys, shape not matching the network, non-finite values.
    """
    path = Path(path)
    if kind not in KINDS:
        raise InvalidArgumentError(f"latent kind {kind!r} is unknown; choose one of {KINDS}")
    if layout not in LAYOUTS:
        raise InvalidArgumentError(f"latent layout {layout!r} is unknown; choose one of {LAYOUTS}")
    arrays, key = _read_arrays(path)
    raw = arrays[key if key is not None else ""]
    if kind == "auto":
        kind = "z" if key == "z" else "w"
    elif key is not None and (key == "z") != (kind == "z"):
        raise InvalidArgumentError(
            f"'{path}' stores '{key}' but was given as a {kind}-file; pass it as a "
            f"{'z' if key == 'z' else 'w'}-file instead")
    if not np.issubdtype(raw.dtype, np.number) or np.issubdtype(raw.dtype, np.complexfloating):
        raise InvalidArgumentError(f"latent file '{path}' holds {raw.dtype} data; expected real numbers")
    data = raw.astype(np.float32)
    if not np.isfinite(data).all():
        raise InvalidArgumentError(f"latent file '{path}' contains NaN or infinite values; regenerate it")
    if kind == "z":
        data = _z_shape(data, cfg, path)
    else:
        data = _ws_shape(data, cfg, path, layout, projection=key in ("w", "ws"))
    meta, noise = _meta(arrays, key, path)
    features, block = _features(arrays, meta, cfg, data, path) if FEATURES_KEY in arrays else (None, None)
    return LatentFile(kind=kind, data=data, meta=meta, path=path, noise=noise, features=features,
                      feature_block=block)


def _features(arrays: dict[str, np.ndarray], meta: dict[str, Any], cfg: AnyGeneratorConfig, data: np.ndarray,
              path: Path) -> tuple[np.ndarray, int]:
    """The file's feature map and its block, checked against the network and the latents."""
    from ..config import GeneratorConfig

    raw, block = arrays[FEATURES_KEY], meta.get(FEATURE_BLOCK_KEY)
    inner = list(cfg.block_resolutions[:-1]) if isinstance(cfg, GeneratorConfig) else []
    if not isinstance(block, int) or isinstance(block, bool) or block not in inner:
        raise InvalidArgumentError(f"latent file '{path}' has features at block {block!r}, which is not an inner "
                                   f"block {inner} of this network; use the network it was encoded for")
    assert isinstance(cfg, GeneratorConfig)
    expected = (data.shape[0], cfg.channels(block), block, block)
    if raw.shape != expected or not np.issubdtype(raw.dtype, np.floating):
        raise InvalidArgumentError(f"latent file '{path}' has features of shape {list(raw.shape)} ({raw.dtype}); "
                                   f"this network needs {list(expected)} floats at block {block}")
    features = raw.astype(np.float32)
    if not np.isfinite(features).all():
        raise InvalidArgumentError(f"latent file '{path}' has NaN or infinite features; encode the image again")
    return features, block


def _z_shape(data: np.ndarray, cfg: AnyGeneratorConfig, path: Path) -> np.ndarray:
    if data.ndim == 1:
        data = data[None]
    if data.ndim != 2 or data.shape[1] != cfg.z_dim or data.shape[0] == 0:
        raise InvalidArgumentError(
            f"z-file '{path}' has shape {list(data.shape)}; this network needs [n, {cfg.z_dim}] "
            f"(z_dim={cfg.z_dim}); make the z with the same network's z_dim, or pass W codes as a w-file")
    return data


def _ws_shape(data: np.ndarray, cfg: AnyGeneratorConfig, path: Path, layout: str, projection: bool) -> np.ndarray:
    num_ws, w_dim = cfg.num_ws, cfg.w_dim
    expected = (f"[n, {w_dim}] (W), [n, {num_ws}, {w_dim}] (W+) or [{num_ws}, {w_dim}] (one projected W+) "
                f"for this network (w_dim={w_dim}, num_ws={num_ws})")
    fix = "the file was probably made with another network: re-project or regenerate it with this one"
    if data.ndim not in (1, 2, 3) or data.size == 0 or data.shape[-1] != w_dim:
        raise InvalidArgumentError(f"w-file '{path}' has shape {list(data.shape)}; expected {expected}; {fix}")
    if data.ndim == 1:
        data = data[None]
    if data.ndim == 2:
        as_wplus = layout == "w+" or (layout == "auto" and projection and data.shape[0] == num_ws)
        if as_wplus:
            if data.shape[0] != num_ws:
                raise InvalidArgumentError(
                    f"w-file '{path}' has shape {list(data.shape)} but layout 'w+' needs [{num_ws}, {w_dim}]; {fix}")
            log.info("reading %s as one W+ code [%d, %d]", path, num_ws, w_dim)
            return data[None].copy()
        return np.repeat(data[:, None, :], num_ws, axis=1)
    if data.shape[1] != num_ws:
        raise InvalidArgumentError(
            f"w-file '{path}' has {data.shape[1]} W+ layers (shape {list(data.shape)}) but this network has "
            f"num_ws={num_ws}; expected {expected}; {fix}")
    return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.ndarray, torch.Tensor)):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, Path):
        value = str(value)
    elif isinstance(value, (list, tuple)):
        value = [_jsonable(v) for v in value]
    return value


def save_latents(path: str | Path, data: np.ndarray | torch.Tensor, kind: str = "w",
                 meta: dict[str, Any] | None = None, noise: dict[str, torch.Tensor] | None = None,
                 features: torch.Tensor | None = None, feature_block: int | None = None) -> Path:
    """Write latents atomically in the one layout of this module (see the module docstring), or a bare ``.npy``.

    Args:
        path: target; its suffix picks the format.
        data: z [n, z_dim] or W+ [n, num_ws, w_dim] (one W+ code [num_ws, w_dim] is written as [1, num_ws, w_dim]).
        kind: 'z' or 'w'.
        meta: metadata for ``.npz`` (ignored for ``.npy``): JSON values (numbers, strings, lists, dicts);
            numpy arrays and paths are converted.
        noise: optimised noise maps by buffer name (``.npz`` only).
        features, feature_block: a feature map [n, C, r, r] at block r that renders with the W+ codes
            (``.npz`` only; see the module docstring).
    """
    path = Path(path)
    if kind not in ("z", "w"):
        raise InvalidArgumentError(f"latent kind {kind!r} must be 'z' or 'w'")
    arr = data.detach().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data)
    arr = arr.astype(np.float32)
    if kind == "w" and arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != (2 if kind == "z" else 3):
        raise InvalidArgumentError(f"{kind} latents have shape {list(arr.shape)}; expected "
                                   + ("[n, z_dim]" if kind == "z" else "[n, num_ws, w_dim]"))
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise InvalidArgumentError(f"latent file '{path}' must end in .npz or .npy")
    meta = {k: _jsonable(v) for k, v in (meta or {}).items()}
    if features is not None:
        if kind != "w" or suffix != ".npz" or feature_block is None or features.ndim != 4 \
                or features.shape[0] != arr.shape[0]:
            raise InvalidArgumentError(f"features {list(features.shape)} go with W+ latents in an .npz, one map per "
                                       "latent, with their feature_block")
        meta[FEATURE_BLOCK_KEY] = int(feature_block)
    reserved = [k for k in meta if k in LATENT_KEYS or k in (META_KEY, FEATURES_KEY) or k.startswith(NOISE_PREFIX)]
    if reserved:
        raise InvalidArgumentError(f"metadata keys {reserved} are reserved for the latents; rename them")
    try:
        arrays: dict[str, np.ndarray] = {kind: arr, META_KEY: np.array(json.dumps(meta, sort_keys=True))}
    except TypeError as exc:
        raise InvalidArgumentError(f"latent metadata must be JSON values ({exc})") from None
    arrays.update({k: np.array(v) for k, v in meta.items() if isinstance(v, (str, int, float, bool))})
    arrays.update({f"{NOISE_PREFIX}{name}": buf.detach().cpu().numpy() for name, buf in (noise or {}).items()})
    if features is not None:
        arrays[FEATURES_KEY] = features.detach().cpu().to(torch.float32).numpy()
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        if suffix == ".npy":
            np.save(f, arr)
        else:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # the stub types allow_pickle, which no key names
    return path


def save_pca(path: str | Path, pca: PCA, meta: dict[str, Any] | None = None) -> Path:
    """Write a PCA basis to ``.npz`` atomically (keys mean, components, variance, explained_ratio, num_samples)."""
    arrays = {"mean": pca.mean, "components": pca.components, "variance": pca.variance,
              "explained_ratio": pca.explained_ratio}
    out = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in arrays.items()}
    out["num_samples"] = np.asarray(pca.num_samples)
    for k, v in (meta or {}).items():
        out[f"meta_{k}"] = np.asarray(v)
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **out)  # type: ignore[arg-type]  # the stub types allow_pickle, which no key names
    return path


def load_pca(path: str | Path, w_dim: int | None = None) -> PCA:
    """Read a basis written by :func:`save_pca`; checks ``w_dim`` when given."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: np.asarray(f[k]) for k in f.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, AttributeError, TypeError) as exc:
        raise InvalidArgumentError(f"cannot read PCA file '{path}' ({exc}); write it with `styleblend pca`") from None
    needed = ("mean", "components", "variance", "explained_ratio", "num_samples")
    if any(k not in arrays for k in needed):
        raise InvalidArgumentError(
            f"'{path}' is not a PCA file (needs keys {list(needed)}); write it with `styleblend pca`")
    comps = arrays["components"]
    if comps.ndim != 2 or arrays["mean"].shape != (comps.shape[1],) or arrays["variance"].shape != (comps.shape[0],):
        raise InvalidArgumentError(f"PCA file '{path}' has inconsistent shapes; write it again with `styleblend pca`")
    if w_dim is not None and comps.shape[1] != w_dim:
        raise InvalidArgumentError(
            f"PCA file '{path}' was fitted on w_dim={comps.shape[1]} but this network has w_dim={w_dim}; "
            "fit a PCA for this network")
    t = {k: torch.from_numpy(arrays[k].astype(np.float32)) for k in needed[:4]}
    return PCA(num_samples=int(arrays["num_samples"]), **t)


# --------------------------------------------------------------------------- resolving specs to ws


def _truncate_file_ws(G: Generator, ws: torch.Tensor, psi: float, cutoff: int | None) -> torch.Tensor:
    if psi == 1:
        return ws
    w_avg = getattr(G.mapping, "w_avg", None)
    if not isinstance(w_avg, torch.Tensor):
        raise InvalidArgumentError("this network tracks no w_avg, so truncation is impossible; use psi 1")
    from .interpolate import truncate_ws

    return truncate_ws(ws, w_avg, psi, cutoff)


def load_ws(path: str | Path, G: Generator, truncation_psi: float = 1.0,
            truncation_cutoff: int | None = None, kind: str = "auto", class_idx: int | None = None,
            layout: str = "auto") -> torch.Tensor:
    """ws [n, num_ws, w_dim] on G's device from a z-file (mapped, with truncation) or a w-file.

    For ``generate --z-file`` call with ``kind='z'``, for ``--w-file`` with ``kind='w'``. W codes from
    a file are truncated towards ``G.mapping.w_avg`` too when psi != 1 (same formula as for z);
    ``class_idx`` is only used to map z of a conditional model.
    """
    lf = read_latent_file(path, cast("StyleGAN2Generator", G).cfg, kind=kind, layout=layout)
    data = torch.from_numpy(lf.data).to(generator_device(G))
    if lf.kind == "z":
        return map_z(G, data, class_idx, truncation_psi, truncation_cutoff)
    return _truncate_file_ws(G, data, truncation_psi, truncation_cutoff)


@dataclass
class LatentSpec:
    """A parsed latent spec: seeds, or a file with its kind ('auto', 'z' or 'w')."""

    seeds: list[int] | None = None
    path: Path | None = None
    kind: str = "auto"

    def describe(self) -> str:
        if self.seeds is not None:
            return "seed " + ",".join(map(str, self.seeds))
        return str(self.path)


def parse_latent_spec(spec: str) -> LatentSpec:
    """'42', 'seed:42', 'seeds:0-7', 'z:file.npy', 'w:proj.npz' or an existing file path -> :class:`LatentSpec`."""
    text = str(spec).strip()
    head, sep, rest = text.partition(":")
    if sep and head.lower() in ("seed", "seeds"):
        return LatentSpec(seeds=parse_int_list(rest, "seeds"))
    if sep and head.lower() in ("z", "w") and len(head) == 1:
        return LatentSpec(path=Path(rest), kind=head.lower())
    if Path(text).is_file():
        return LatentSpec(path=Path(text))
    if text and all(ch.isdigit() or ch in ",- " for ch in text):
        return LatentSpec(seeds=parse_int_list(text, "seeds"))
    raise InvalidArgumentError(
        f"latent '{spec}' is neither a seed list ('42', 'seed:42', 'seeds:0-7') nor an existing file; "
        "pass seeds, a z-file ('z:path.npy'), a w-file ('w:path.npz') or a projection .npz")


def latent_source(spec: str | LatentSpec, G: Generator, truncation_psi: float = 1.0,
                  truncation_cutoff: int | None = None, class_idx: int | None = None) -> torch.Tensor:
    """Resolve a latent spec to ws [n, num_ws, w_dim] on G's device.

    Seeds use NVIDIA's convention (:func:`~styleblend.latents.seeds.z_from_seeds`) and ``G.mapping``
    with truncation; files go through :func:`load_ws`.
    """
    parsed = spec if isinstance(spec, LatentSpec) else parse_latent_spec(spec)
    if parsed.seeds is not None:
        z = z_from_seeds(parsed.seeds, G.z_dim, device=generator_device(G))
        return map_z(G, z, class_idx, truncation_psi, truncation_cutoff)
    assert parsed.path is not None
    return load_ws(parsed.path, G, truncation_psi, truncation_cutoff, kind=parsed.kind, class_idx=class_idx)


def latent_source_z(spec: str | LatentSpec, G: Generator) -> torch.Tensor:
    """Resolve a spec to z [n, z_dim] (seeds or a z-file) for interpolation in Z.

    Raises:
        InvalidArgumentError: the spec is a W/W+ file, which has no z.
    """
    parsed = spec if isinstance(spec, LatentSpec) else parse_latent_spec(spec)
    device = generator_device(G)
    if parsed.seeds is not None:
        return z_from_seeds(parsed.seeds, G.z_dim, device=device)
    assert parsed.path is not None
    lf = read_latent_file(parsed.path, cast("StyleGAN2Generator", G).cfg, kind=parsed.kind)
    if lf.kind != "z":
        raise InvalidArgumentError(
            f"'{parsed.path}' holds W codes, which have no z; interpolate in W (`space` 'w') or give seeds/z-files",
            param="space")
    return torch.from_numpy(lf.data).to(device)
