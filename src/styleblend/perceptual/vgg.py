"""VGG-16 feature extractor (Simonyan & Zisserman 2015) for perceptual losses, and where its weights come from.

The module tree mirrors torchvision's ``vgg16().features`` (13 convolutions at indices 0, 2, 5, 7, 10,
12, 14, 17, 19, 21, 24, 26, 28, ReLUs between, max-pools at 4, 9, 16, 23, 30), so torchvision's
ImageNet state dict (``features.{i}.weight``/``bias``) loads directly; the classifier is not needed.

Weights are found, verified and (only when allowed) downloaded by :mod:`styleblend.weights`
(:data:`~styleblend.weights.VGG16`): an explicit file - a torchvision state dict ``.pth`` or NVIDIA's
TorchScript ``vgg16.pt`` - then the torch hub cache, then NVIDIA's dnnlib cache. TorchScript archives are
read as data: their tensors are unpickled with an allow-list and their code is never loaded or executed
(``torch.jit.load`` would run it).
"""

from __future__ import annotations

import logging
import zipfile
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from ..io.safe_torch_load import safe_torch_load
from ..io.safe_unpickle import STORAGE_DTYPES, RestrictedUnpickler, check_graph, check_view, one_line
from ..weights import VGG16, find_weights

log = logging.getLogger(__name__)

#: conv name -> index in ``features`` (torchvision layout).
CONV_INDEX = OrderedDict([
    ("conv1_1", 0), ("conv1_2", 2), ("conv2_1", 5), ("conv2_2", 7),
    ("conv3_1", 10), ("conv3_2", 12), ("conv3_3", 14),
    ("conv4_1", 17), ("conv4_2", 19), ("conv4_3", 21),
    ("conv5_1", 24), ("conv5_2", 26), ("conv5_3", 28),
])
CONV_CHANNELS = (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512)
POOL_INDICES = (4, 9, 16, 23, 30)
#: Layers LPIPS (Zhang et al. 2018) compares, i.e. the last conv of each stage.
LPIPS_LAYERS = ("conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3")
#: ImageNet statistics torchvision's VGG was trained with (inputs in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG16Features(nn.Module):
    """The convolutional part of VGG-16; returns post-ReLU activations of the requested conv layers.

    Attributes:
        lpips_weights: optional per-channel LPIPS linear weights, a list of 5 tensors [C] for
            :data:`LPIPS_LAYERS` (present only when read from NVIDIA's ``vgg16.pt``); None otherwise.
        source: where the weights came from (for reports).
    """

    mean: torch.Tensor  # buffers, declared for the type checker
    std: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        convs = iter(CONV_CHANNELS)
        for i in range(31):
            if i in POOL_INDICES:
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            elif i in CONV_INDEX.values():
                out_ch = next(convs)
                layers.append(nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1))
                in_ch = out_ch
            else:
                layers.append(nn.ReLU(inplace=False))
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.lpips_weights: list[torch.Tensor] | None = None
        self.source = "random init"

    def forward(self, img: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """img [N, 3 (or 1), H, W] in [-1, 1] -> {layer: post-ReLU activation [N, C, h, w]}.

        Only the network up to the deepest requested layer is evaluated.
        """
        unknown = [name for name in layers if name not in CONV_INDEX]
        if unknown:
            raise ValueError(f"unknown VGG-16 layers {unknown}; choose from {list(CONV_INDEX)}")
        wanted = {CONV_INDEX[name] + 1: name for name in layers}  # +1: the ReLU after the conv
        if img.shape[1] == 1:  # grayscale models: VGG sees the gray value in all three channels
            img = img.repeat(1, 3, 1, 1)
        x = ((img + 1) / 2 - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        for i, layer in enumerate(list(self.features)[: max(wanted) + 1]):
            x = layer(x)
            if i in wanted:
                out[wanted[i]] = x
        return out


# ----------------------------------------------------------------------------------------------
# Reading weights


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as zf:
        return any(n.endswith("/constants.pkl") or "/code/" in n for n in zf.namelist())


class _ScriptObject:
    """Inert stand-in for a ``__torch__.*`` class in a TorchScript pickle: just its attribute dict."""

    def __init__(self) -> None:
        self.attrs: dict[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        self.attrs = dict(state) if isinstance(state, dict) else {"state": state}


def _restore_type_tag(value: Any, _type: Any) -> Any:
    return value


class _TorchScriptUnpickler(RestrictedUnpickler):
    """Unpickles a TorchScript ``data.pkl``/``constants.pkl`` into stand-ins and tensors; runs nothing.

    Built on the checkpoint readers' restricted unpickler, so the same budgets hold: stated lengths
    against the file, BUILD only on fresh stand-ins, storages against their zip records, tensor
    views against their storages.
    """

    def __init__(self, data: bytes, zf: zipfile.ZipFile, folder: str, archive_size: int) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self.zf, self.folder, self.archive_size = zf, folder, archive_size
        self.storages: dict[str, torch.Tensor] = {}
        allowed: dict[tuple[str, str], Any] = {
            ("collections", "OrderedDict"): self._ordered_dict,
            ("torch._utils", "_rebuild_tensor_v2"): self._script_tensor,
            ("torch._utils", "_rebuild_tensor"): self._script_tensor,
            ("torch.jit._pickle", "build_intlist"): list,
            ("torch.jit._pickle", "build_doublelist"): list,
            ("torch.jit._pickle", "build_boollist"): list,
            ("torch.jit._pickle", "build_tensorlist"): list,
            ("torch.jit._pickle", "restore_type_tag"): _restore_type_tag,
            ("__torch__", "*"): _ScriptObject,  # every __torch__.* class (see find_class)
        }
        allowed.update({("torch", name): dtype for name, dtype in STORAGE_DTYPES.items()})
        self.allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("__torch__"):
            return _ScriptObject
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> torch.Tensor:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and isinstance(pid[1], torch.dtype)
                and isinstance(pid[4], int) and not isinstance(pid[4], bool) and pid[4] >= 0):
            raise CheckpointError(f"unexpected persistent id {pid!r:.80} in a TorchScript archive")
        dtype, key, numel = pid[1], str(pid[2]), pid[4]
        if key not in self.storages:
            info = self.zf.getinfo(f"{self.folder}{key}")
            nbytes = numel * torch.empty(0, dtype=dtype).element_size()
            # Records are stored uncompressed; a compressed one could inflate to anything.
            if (info.compress_type != zipfile.ZIP_STORED or info.file_size > self.archive_size
                    or info.file_size < nbytes):
                raise CheckpointError(f"storage record '{key[:40]}' is compressed or does not hold the {nbytes} bytes "
                                      "its tensor announces")
            raw = self.zf.read(info)[:nbytes]
            self.storages[key] = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        return self.storages[key]

    def _script_tensor(self, storage: Any, offset: Any, size: Any, stride: Any, *_rest: Any) -> torch.Tensor:
        if not isinstance(storage, torch.Tensor):
            raise CheckpointError(f"a tensor is rebuilt from {type(storage).__name__}, not a storage")
        offset, size, stride = check_view(storage.numel(), offset, size, stride)
        return torch.as_strided(storage, size, stride, offset).clone()


def _walk(obj: Any, path: str, out: list[tuple[str, torch.Tensor]], depth: int = 0) -> None:
    if depth > 64:
        return
    if isinstance(obj, torch.Tensor):
        out.append((path, obj))
    elif isinstance(obj, _ScriptObject):
        _walk(getattr(obj, "attrs", {}), path, out, depth + 1)
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _walk(v, f"{path}.{k}" if path else str(k), out, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _walk(v, f"{path}.{i}" if path else str(i), out, depth + 1)


def read_torchscript_tensors(path: str | Path) -> list[tuple[str, torch.Tensor]]:
    """All tensors of a TorchScript archive as (attribute path, tensor), in pickle order; code is not run.

    Tensors in ``constants.pkl`` are named ``constants.{i}``.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            data_pkl = next((n for n in names if n.endswith("/data.pkl") or n == "data.pkl"), None)
            if data_pkl is None:
                raise CheckpointError(f"'{path}' is a zip file without data.pkl; not a TorchScript archive")
            prefix = data_pkl[: -len("data.pkl")]
            byteorder = prefix + "byteorder"
            if byteorder in names and zf.read(byteorder).strip() not in (b"little", b""):
                raise CheckpointError(f"'{path}' stores big-endian tensors; re-save it on a little-endian machine")
            found: list[tuple[str, torch.Tensor]] = []
            size = path.stat().st_size
            for pkl in (data_pkl, prefix + "constants.pkl"):
                if pkl in names and zf.getinfo(pkl).file_size > size:
                    raise CheckpointError(f"'{path}': '{pkl}' inflates beyond the archive's size")
            root = _TorchScriptUnpickler(zf.read(data_pkl), zf, prefix + "data/", size).load()
            check_graph(root, f"'{path}'")
            _walk(root, "", found)
            if prefix + "constants.pkl" in names:
                unpickler = _TorchScriptUnpickler(zf.read(prefix + "constants.pkl"), zf, prefix + "constants/", size)
                consts = unpickler.load()
                check_graph(consts, f"'{path}'")
                _walk(consts, "constants", found)
            return found
    except CheckpointError as exc:
        raise CheckpointError(f"'{path}' could not be read as a TorchScript archive ({exc})") from None
    except Exception as exc:  # noqa: BLE001 - a malformed archive fails in many ways; all mean "unreadable"
        raise CheckpointError(f"'{path}' could not be read as a TorchScript archive ({one_line(exc)})") from None


def _state_from_torchscript(path: Path) -> tuple[dict[str, torch.Tensor], list[torch.Tensor] | None]:
    """Map a TorchScript VGG-16 (e.g. NVIDIA's LPIPS ``vgg16.pt``) onto torchvision keys by order and shape.

    The 13 3x3 convolution weights must appear in VGG-16's channel order, each with a bias beside it
    (same attribute prefix, or the next 1-D tensor of matching length). LPIPS linear layers are 1x1
    convs with one output [1, C, 1, 1] for C = 64, 128, 256, 512, 512.
    """
    tensors = read_torchscript_tensors(path)
    by_name = dict(tensors)
    convs: list[tuple[torch.Tensor, torch.Tensor]] = []
    lins: list[torch.Tensor] = []
    for i, (name, t) in enumerate(tensors):
        if t.ndim == 4 and tuple(t.shape[2:]) == (3, 3):
            bias = by_name.get(name.rsplit(".", 1)[0] + ".bias") if "." in name else None
            if bias is None:
                bias = next((b for _, b in tensors[i + 1:] if b.ndim == 1 and b.numel() == t.shape[0]), None)
            if bias is None:
                raise CheckpointError(f"'{path}': conv weight '{name}' has no bias; not a VGG-16 file")
            convs.append((t, bias))
        elif t.ndim == 4 and t.shape[0] == 1 and tuple(t.shape[2:]) == (1, 1) and t.shape[1] in (64, 128, 256, 512):
            lins.append(t.reshape(-1))  # (excludes [1, 3, 1, 1] normalisation constants)
    shapes = [tuple(w.shape[:2]) for w, _ in convs]
    expected = list(zip(CONV_CHANNELS, (3,) + CONV_CHANNELS[:-1]))
    if shapes != expected:
        raise CheckpointError(f"'{path}' holds 3x3 convolutions of shapes {shapes[:4]}... ({len(shapes)} of them), "
                              f"not VGG-16's 13; pass torchvision's {VGG16.filename} as `vgg_path` instead",
                              param="vgg_path")
    state = {}
    for (w, b), idx in zip(convs, CONV_INDEX.values()):
        state[f"features.{idx}.weight"] = w.float()
        state[f"features.{idx}.bias"] = b.float()
    lin_ok = [t.numel() for t in lins] == [64, 128, 256, 512, 512]
    return state, ([t.float() for t in lins] if lin_ok else None)


def load_vgg16(path: str | Path | None = None, download: bool = False,
               device: str | torch.device = "cpu") -> VGG16Features:
    """Build :class:`VGG16Features` with ImageNet weights, frozen, in eval mode.

    Args:
        path: a weights file; None looks in the caches (:func:`styleblend.weights.find_weights`).
        download: allow downloading torchvision's weights into the torch hub cache when none are found.
    Raises:
        MissingWeightsError: no weights, or a cached file that fails its SHA-256 check.
        CheckpointError: the file is not a VGG-16 state dict / TorchScript VGG-16, or is unreadable.
    """
    p = find_weights(VGG16, path, download)
    net = VGG16Features()
    lpips: list[torch.Tensor] | None = None
    state: object
    if _is_torchscript(p):
        state, lpips = _state_from_torchscript(p)
    else:
        try:
            state = safe_torch_load(p)  # allow-list dry run and size budgets, then weights_only
        except CheckpointError as exc:
            raise CheckpointError(f"VGG weights '{p}' could not be read ({exc}); pass a "
                                  "torchvision vgg16 state dict (.pth)") from None
        if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
            state = state["state_dict"]
        if not isinstance(state, dict):
            raise CheckpointError(f"VGG weights '{p}' hold a {type(state).__name__}, not a state dict")
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    if missing:
        raise CheckpointError(f"VGG weights '{p}' lack {len(missing)} of VGG-16's tensors (first: {missing[:2]}); "
                              "expected torchvision keys like 'features.0.weight'")
    for key, value in own.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise CheckpointError(f"VGG weights '{p}': '{key}' has shape {tuple(state[key].shape)}, "
                                  f"VGG-16 needs {tuple(value.shape)}")
    net.load_state_dict({k: state[k].float() for k in own})
    net.lpips_weights = lpips
    net.source = str(p)
    log.info("VGG-16 weights: %s%s", p, " (with LPIPS linear weights)" if lpips else "")
    net = net.eval().requires_grad_(False).to(device)
    if lpips is not None:
        net.lpips_weights = [t.to(device) for t in lpips]
    return net


def resize_for_vgg(img: torch.Tensor, size: int = 256) -> torch.Tensor:
    """Resize to ``size`` x ``size``: area averaging when shrinking (as NVIDIA's projector), bilinear when growing."""
    if img.shape[-1] == size and img.shape[-2] == size:
        return img
    if img.shape[-1] > size:
        return F.interpolate(img, size=(size, size), mode="area")
    return F.interpolate(img, size=(size, size), mode="bilinear", align_corners=False)
