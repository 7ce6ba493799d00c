"""NVIDIA StyleGAN2-ADA-PyTorch / StyleGAN3-repo network pickles (``network-snapshot-*.pkl``).

Such a file is a pickled dict ``{G, D, G_ema, augment_pipe, training_set_kwargs}``. Each network is
a "persistent" object: a meta dict with the module's source code and its ``__dict__`` (constructor
kwargs, parameters, buffers, submodules). We read kwargs and tensors through inert stand-ins and
never touch the source. Writing copies the user's original pickle and overwrites tensor bytes in
place, so the structure NVIDIA's ``legacy.load_network_pkl`` expects is untouched.
"""

from __future__ import annotations

import pickletools
import reprlib
import shutil
import struct
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...config import (
    DiscriminatorConfig,
    GeneratorConfig,
    MappingConfig,
    SynthesisConfig,
)
from ...config_sg3 import StyleGAN3Config
from ...errors import (
    ArchitectureMismatchError,
    CheckpointError,
    InvalidArgumentError,
    UnsupportedArchitectureError,
)
from ..atomic import atomic_path
from ..checkpoint import Checkpoint, StateDict
from ..reading import check_weights_cover, count_elements, reader
from ..safe_unpickle import (
    EasyDictStandIn,
    PersistentObject,
    TensorOrigin,
    plain_data,
    restricted_load,
)
from . import nvidia_sg3

NETWORK_KEYS = {"G_ema": "g_ema", "G": "g", "D": "d"}

# Constructor kwargs that only change speed or memory layout, never the images.
_IGNORED_KWARGS = {"fp16_channels_last", "fused_modconv_default", "freeze_layers", "class_name"}
_MAPPING_FIELDS = {"num_layers", "embed_features", "layer_features", "activation", "lr_multiplier", "w_avg_beta"}
_SYNTHESIS_FIELDS = {"channel_base", "channel_max", "num_fp16_res", "architecture", "conv_clamp",
                     "resample_filter", "use_noise", "activation", "kernel_size"}


def _reconstruct(meta: dict[str, Any]) -> PersistentObject:
    if not isinstance(meta, dict) or not isinstance(meta.get("state"), dict):
        raise CheckpointError("a persistent network object has no state dict")
    version, source = meta.get("version", 0), meta.get("module_src", "")
    if isinstance(version, bool) or not isinstance(version, int) or not isinstance(source, str):
        raise CheckpointError("a persistent network object has a malformed version or module source")
    return PersistentObject(class_name=str(meta.get("class_name"))[:200], version=version, module_src=source,
                            state=meta["state"])


STAND_INS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct,
    ("dnnlib.util", "EasyDict"): EasyDictStandIn,
    ("dnnlib", "EasyDict"): EasyDictStandIn,
}


def _entries(state: dict[str, Any], field: str, where: str) -> list[tuple[str, Any]]:
    """The (name, value) pairs of a module's ``_parameters``/``_buffers``/``_modules`` (a dict of str keys)."""
    value = state.get(field)
    if value is None:
        return []
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise CheckpointError(f"'{where}{field}' is a {type(value).__name__}, not a dict of names; the file is "
                              "not a well-formed NVIDIA network")
    return list(value.items())


def flatten_state(obj: PersistentObject, prefix: str = "") -> OrderedDict[str, torch.Tensor]:
    """Collect parameters and persistent buffers of a persistent module tree under dotted names.

    Raises:
        CheckpointError: a module's parameters, buffers or submodules are not dicts of tensors/modules.
    """
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    state = obj.state
    skip = state.get("_non_persistent_buffers_set") or ()
    if not isinstance(skip, (set, frozenset, list, tuple)):
        raise CheckpointError(f"'{prefix}_non_persistent_buffers_set' is a {type(skip).__name__}, not a set")
    skip = {name for name in skip if isinstance(name, str)}
    for field in ("_parameters", "_buffers"):
        for name, tensor in _entries(state, field, prefix):
            if tensor is None or (field == "_buffers" and name in skip):
                continue
            if not isinstance(tensor, torch.Tensor):
                raise CheckpointError(f"'{prefix + name}' is a {type(tensor).__name__}, not a tensor")
            out[prefix + name] = tensor
    for name, child in _entries(state, "_modules", prefix):
        if isinstance(child, PersistentObject):
            out.update(flatten_state(child, prefix + name + "."))
        elif child is not None:
            raise CheckpointError(f"submodule '{prefix + name}' is not a persistent network object")
    return out


def _split_known(kwargs: dict[str, Any], known: set[str], where: str) -> dict[str, Any]:
    out = {}
    for key, value in kwargs.items():
        if key in known:
            out[key] = value
        elif key not in _IGNORED_KWARGS:
            raise UnsupportedArchitectureError(
                f"{where} kwarg '{key}={reprlib.repr(value)}' changes the network in a way styleblend does not "
                "implement; please report it with the model's origin")
    return out


def generator_config(obj: PersistentObject) -> GeneratorConfig | StyleGAN3Config:
    """Architecture from a Generator's ``_init_kwargs`` (ADA: nested synthesis_kwargs; SG3 repo: flat;
    StyleGAN3 generators: see :mod:`.nvidia_sg3`)."""
    if obj.class_name != "Generator":
        raise UnsupportedArchitectureError(f"expected a Generator network, found class '{obj.class_name}'")
    if nvidia_sg3.is_stylegan3(obj):
        return nvidia_sg3.stylegan3_config(obj)
    kwargs = _init_kwargs(obj, "Generator")
    args = plain_data(obj.state.get("_init_args") or ())
    if not isinstance(args, (list, tuple)):
        raise CheckpointError(f"the Generator's _init_args is a {type(args).__name__}, not a tuple")
    for name, value in zip(("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"), args):
        kwargs[name] = value
    top = {k: _integer(kwargs.pop(k), k) for k in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels")
           if k in kwargs}
    mapping = _split_known(_sub_kwargs(kwargs, "mapping_kwargs"), _MAPPING_FIELDS, "mapping")
    synthesis = _sub_kwargs(kwargs, "synthesis_kwargs")
    synthesis.update(kwargs)  # StyleGAN3-repo StyleGAN2 passes synthesis kwargs flat
    synthesis = _split_known(synthesis, _SYNTHESIS_FIELDS, "synthesis")
    if "resample_filter" in synthesis:
        synthesis["resample_filter"] = _taps(synthesis["resample_filter"])
    missing = {"z_dim", "c_dim", "w_dim", "img_resolution", "img_channels"} - set(top)
    if missing:
        raise CheckpointError(f"the Generator's constructor kwargs lack {sorted(missing)}")
    try:
        return GeneratorConfig(mapping=MappingConfig(**mapping), synthesis=SynthesisConfig(**synthesis), **top)
    except InvalidArgumentError as exc:
        raise CheckpointError(f"the Generator's constructor kwargs are invalid: {exc}") from None


def _init_kwargs(obj: PersistentObject, what: str) -> dict[str, Any]:
    kwargs = plain_data(obj.state.get("_init_kwargs") or {})
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise CheckpointError(f"the {what}'s _init_kwargs is a {type(kwargs).__name__}, not a dict of kwargs")
    return dict(kwargs)


def _sub_kwargs(kwargs: dict[str, Any], key: str) -> dict[str, Any]:
    value = kwargs.pop(key, None) or {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise CheckpointError(f"'{key}' is a {type(value).__name__}, not a dict of kwargs")
    return dict(value)


def _integer(value: Any, name: str) -> int:
    """An integral kwarg (ints, and floats like 512.0 that some tools write); anything else is refused."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise CheckpointError(f"kwarg {name}={reprlib.repr(value)} is not an integer")
    return value


def _taps(value: Any) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or len(value) > 64:
        raise CheckpointError(f"resample_filter={reprlib.repr(value)} is not a short list of taps")
    return tuple(_integer(t, "resample_filter") for t in value)


def discriminator_config(obj: PersistentObject) -> DiscriminatorConfig:
    """Architecture from a Discriminator's ``_init_kwargs``."""
    kwargs = _init_kwargs(obj, "Discriminator")
    block = _split_known(_sub_kwargs(kwargs, "block_kwargs"), {"activation", "resample_filter"}, "D block")
    epilogue = _split_known(_sub_kwargs(kwargs, "epilogue_kwargs"),
                            {"mbstd_group_size", "mbstd_num_channels", "activation"}, "D epilogue")
    mapping = _split_known(_sub_kwargs(kwargs, "mapping_kwargs"), {"num_layers"}, "D mapping")
    top = _split_known(kwargs, {"c_dim", "img_resolution", "img_channels", "architecture", "channel_base",
                                "channel_max", "num_fp16_res", "conv_clamp", "cmap_dim"}, "discriminator")
    if "resample_filter" in block:
        block["resample_filter"] = _taps(block["resample_filter"])
    epilogue.pop("activation", None)
    fields: dict[str, Any] = {**top, **block, **epilogue}
    if "num_layers" in mapping:
        fields["mapping_num_layers"] = mapping["num_layers"]
    return DiscriminatorConfig(**fields)


def _load(path: Path) -> tuple[dict[str, PersistentObject], Any]:
    try:
        with path.open("rb") as f:
            obj, unpickler = restricted_load(f, extra=STAND_INS)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror}") from None
    if isinstance(obj, PersistentObject):
        obj = {"G_ema": obj}
    if not isinstance(obj, dict) or not any(isinstance(obj.get(k), PersistentObject) for k in ("G_ema", "G")):
        raise CheckpointError(f"{path.name} is a pickle but not an NVIDIA network snapshot (no 'G_ema' or 'G' network)")
    return obj, unpickler


@dataclass(frozen=True)
class SourceLayout:
    """Where each tensor of each network lives in the source pickle, valid while the file is unchanged."""

    size: int
    mtime_ns: int
    origins: dict[str, dict[str, TensorOrigin]]

    def matches(self, path: Path) -> bool:
        st = path.stat()
        return (st.st_size, st.st_mtime_ns) == (self.size, self.mtime_ns)


def _layout(path: Path, nets: dict[str, PersistentObject], unpickler: Any) -> SourceLayout:
    st = path.stat()
    origins = {key: {name: unpickler.tensor_origins[id(t)] for name, t in flatten_state(nets[key]).items()}
               for key in NETWORK_KEYS if isinstance(nets.get(key), PersistentObject)}
    return SourceLayout(st.st_size, st.st_mtime_ns, origins)


@reader("NVIDIA network pickle")
def read(path: Path) -> Checkpoint:
    """Read an NVIDIA PyTorch network pickle without executing any of its code.

    Raises:
        CheckpointError: corrupt, truncated, malformed or over budget (one line naming the file).
        UnsafeCheckpointError: a global outside the allow-list, or an attempt to modify a shared object.
        UnsupportedArchitectureError: e.g. a StyleGAN3 generator or an unknown constructor kwarg.
    """
    nets, unpickler = _load(path)
    g_ema_net = nets.get("G_ema")
    main = g_ema_net if isinstance(g_ema_net, PersistentObject) else nets["G"]
    g_config = generator_config(main)
    states = {attr: flatten_state(nets[key]) for key, attr in NETWORK_KEYS.items()
              if isinstance(nets.get(key), PersistentObject)}
    main_attr = "g_ema" if main is nets.get("G_ema") else "g"
    check_weights_cover(g_config, count_elements(states[main_attr]), f"the generator {main_attr}")
    meta: dict[str, Any] = {"dropped": []}
    d_config = None
    if "d" in states:
        try:
            d_config = discriminator_config(nets["D"])
            check_weights_cover(d_config, count_elements(states["d"]), "the discriminator")
        except (CheckpointError, TypeError, ValueError) as exc:
            meta["dropped"].append(f"discriminator ({exc})")
            states.pop("d")
            d_config = None
    kwargs = nets.get("training_set_kwargs")
    if isinstance(kwargs, dict):
        meta["training_set_kwargs"] = plain_data(dict(kwargs))
    elif kwargs is not None:
        meta["dropped"].append(f"training_set_kwargs (a {type(kwargs).__name__}, not a dict)")
    augment = nets.get("augment_pipe")
    if augment is not None:
        meta["has_augment_pipe"] = True
        p = dict(_entries(augment.state, "_buffers", "augment_pipe.")).get("p") \
            if isinstance(augment, PersistentObject) else None
        if isinstance(p, torch.Tensor) and p.numel() == 1:
            meta["augment_p"] = float(p)
    # Recorded (never run) so that a conversion can say it leaves the code behind.
    meta["embedded_source"] = [key for key in ("G", "D", "G_ema", "augment_pipe")
                               if isinstance(nets.get(key), PersistentObject) and nets[key].module_src]
    g_ema = states["g_ema"] if "g_ema" in states else states["g"]  # an empty G_ema is refused later, not skipped
    return Checkpoint(g_config=g_config, g_ema=dict(g_ema), d_config=d_config, g=_opt(states.get("g")),
                      d=_opt(states.get("d")), source=path, meta=meta,
                      source_layout=_layout(path, nets, unpickler))


def _opt(state: OrderedDict[str, Any] | None) -> StateDict | None:
    return dict(state) if state is not None else None


def _blob_offsets(path: Path) -> list[tuple[int, int]]:
    """(start, length) of every bytes object in the pickle stream, in stream order (streams the file)."""
    header = {"SHORT_BINBYTES": 1, "BINBYTES": 4, "BINBYTES8": 8}
    out: list[tuple[int, int]] = []
    with path.open("rb") as f:
        for op, arg, pos in pickletools.genops(f):
            if op.name in header:
                assert pos is not None and arg is not None  # a bytes opcode, at a known position
                out.append((pos + 1 + header[op.name], len(arg)))
    return out


def _storage_contents(ref: Any, items: list[tuple[TensorOrigin, torch.Tensor]]) -> torch.Tensor:
    """New 1-D contents of one storage after writing ``items`` into it."""
    numel = ref.storage.nbytes() // torch.empty(0, dtype=ref.dtype).element_size()
    if len(items) == 1:
        origin, new = items[0]
        whole = origin.offset == 0 and int(np.prod(origin.size, dtype=np.int64)) == numel
        if whole and new.is_contiguous() and torch.empty(origin.size).stride() == origin.stride:
            # The tensor covers its storage exactly: its own bytes are the new storage (no copy).
            return new.detach().to("cpu", ref.dtype).reshape(-1)
    flat = torch.empty(0, dtype=ref.dtype).set_(ref.storage).clone()
    for origin, new in items:
        flat.as_strided(origin.size, origin.stride, origin.offset).copy_(new.detach().to("cpu", ref.dtype))
    return flat


def write(ckpt: Checkpoint, out: Path) -> Path:
    """Write ``ckpt`` into a copy of its source pickle by replacing tensor bytes in place.

    Networks the checkpoint lacks (e.g. ``g`` is None) keep their original tensors. The copy is
    patched storage by storage, so memory stays near one model's size. The registry's
    :meth:`~styleblend.io.format.Format.write` first checks that ``ckpt`` was read from an NVIDIA pickle.
    """
    source = ckpt.source
    if source is None:
        raise CheckpointError(f"{ckpt.describe()} was not read from a file, so there is no NVIDIA pickle to write "
                              "its tensors into; write it into a template with write_into_template")
    layout = ckpt.source_layout
    if not isinstance(layout, SourceLayout) or not layout.matches(source):
        nets, unpickler = _load(source)
        layout = _layout(source, nets, unpickler)
    states = {key: getattr(ckpt, attr) for key, attr in NETWORK_KEYS.items()}
    return _patch_copy(source, layout, states, out)


@dataclass(frozen=True)
class TemplateWrite:
    """What :func:`write_into_template` wrote: the file, the networks written, what of the template it kept
    (one sentence each) and the template's metadata as read."""

    path: Path
    written: tuple[str, ...]
    kept: tuple[str, ...]
    template_meta: dict[str, Any]


def config_differences(ours: Any, theirs: Any, prefix: str = "") -> list[str]:
    """``field: a != b`` for every architecture field where two config dicts differ (nested dicts flattened)."""
    out = []
    for key in sorted(set(ours) | set(theirs)):
        a, b = ours.get(key), theirs.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += config_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} != {b!r}")
    return out


def write_into_template(ckpt: Checkpoint, template: Path, out: Path) -> TemplateWrite:
    """Write the networks of ``ckpt`` (any format) into a copy of the NVIDIA pickle ``template``.

    This is how a model fine-tuned with styleblend goes back to NVIDIA's tools: the template (usually
    the pickle the fine-tune started from) gives the pickle structure - classes, constructor kwargs,
    augment pipeline, training-set kwargs, embedded source - and only tensor bytes change, exactly as
    in :func:`write`. G_ema is always written; G and D when ``ckpt`` has them and they fit, otherwise
    the template's own are kept (and listed in ``kept``).

    Raises:
        CheckpointError: ``template`` is not an NVIDIA network pickle styleblend can read (callers check
            its format first: :func:`styleblend.io.conversion.convert_checkpoint`).
        ArchitectureMismatchError: the generator's architecture differs from the template's (every
            differing field is named), or a tensor does not fit.
    """
    template = Path(template)
    what = f"--template {template.name}"
    base = read(template)
    diffs = config_differences(ckpt.g_config.to_dict(), base.g_config.to_dict())
    if diffs:
        raise ArchitectureMismatchError(
            f"the generator does not have the architecture of {what} ({'; '.join(diffs[:4])}; network != template); "
            "pass as template the NVIDIA pickle this model was trained from")
    layout = base.source_layout
    if "G_ema" not in layout.origins:
        raise CheckpointError(f"{what} has no G_ema network to write the generator into; pass a complete "
                              "NVIDIA network snapshot")
    states: dict[str, StateDict | None] = {"G_ema": ckpt.g_ema, "G": None, "D": None}
    kept = []
    if "G" in layout.origins:
        if ckpt.g is not None:
            states["G"] = ckpt.g
        else:
            kept.append("the template's G (training generator), since the network has none")
    if "D" in layout.origins:
        why = _discriminator_mismatch(ckpt, base)
        if why is None:
            states["D"] = ckpt.d
        else:
            kept.append(f"the template's D (discriminator), since {why}")
    path = _patch_copy(template, layout, states, out)
    written = tuple(k for k, v in states.items() if v is not None)
    return TemplateWrite(path=path, written=written, kept=tuple(kept), template_meta=base.meta)


def _discriminator_mismatch(ckpt: Checkpoint, base: Checkpoint) -> str | None:
    """Why ``ckpt``'s discriminator cannot replace the template's, or None when it can."""
    if ckpt.d is None or ckpt.d_config is None:
        return "the network has none"
    if base.d_config is None:
        return "styleblend cannot read the template's discriminator"
    # The minibatch-stddev group size is a batch setting that training may change; no tensor depends on it.
    diffs = [d for d in config_differences(ckpt.d_config.to_dict(), base.d_config.to_dict())
             if not d.startswith("mbstd_group_size")]
    if diffs:
        return f"the network's has another architecture ({'; '.join(diffs[:3])}; network != template)"
    return None


def _patch_copy(source: Path, layout: SourceLayout, states: dict[str, StateDict | None], out: Path) -> Path:
    """Copy ``source`` to ``out`` atomically with the tensors of ``states`` (keyed 'G_ema', 'G', 'D') put in place.

    Every name and shape is checked before anything is written.
    """
    blob_ends: list[tuple[int, int]] | None = None
    updates: dict[int, list[tuple[TensorOrigin, torch.Tensor]]] = {}
    for key, new_state in states.items():
        old_origins = layout.origins.get(key)
        if new_state is None or old_origins is None:
            continue
        if set(old_origins) != set(new_state):
            diff = sorted(set(old_origins) ^ set(new_state))
            raise ArchitectureMismatchError(f"{key} of {source.name} and the network to write differ in tensor "
                                            f"names, e.g. {diff[:3]}")
        for name, origin in old_origins.items():
            new = new_state[name]
            if tuple(new.shape) != origin.size:
                raise ArchitectureMismatchError(
                    f"{key}.{name}: shape {tuple(new.shape)} does not fit {origin.size} in {source.name}")
            updates.setdefault(origin.storage.blob_index, []).append((origin, new))
    with atomic_path(out) as tmp:
        shutil.copyfile(source, tmp)
        with tmp.open("r+b") as f:
            for index, items in updates.items():
                ref = items[0][0].storage
                flat = _storage_contents(ref, items)
                raw = flat.view(torch.uint8).numpy()
                end = ref.blob_end
                if end is None:
                    blob_ends = blob_ends or [(s + n, n) for s, n in _blob_offsets(source)]
                    end = blob_ends[index][0]
                data_start = end - raw.nbytes
                f.seek(data_start - 8)
                (numel,) = struct.unpack("<q", f.read(8))
                if numel != flat.numel():
                    raise CheckpointError("internal: unexpected storage layout in the source pickle; not written")
                f.write(memoryview(raw))  # type: ignore[arg-type]  # numpy's stubs omit the buffer protocol
    return out
