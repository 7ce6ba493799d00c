"""Detect a checkpoint's format from its first bytes and, for pickles, the globals it names."""

from __future__ import annotations

import json
import pickletools
import struct
import warnings
from pathlib import Path

from ..errors import CheckpointError
from .reading import reader

_TORCH_LEGACY_MAGIC = b"\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


def _pickle_globals(data: bytes, limit: int = 200_000) -> set[str]:
    """Module names of globals a pickle refers to (scans opcodes only; nothing is loaded)."""
    found: set[str] = set()
    recent: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pickletools warns about odd escapes in damaged text opcodes
        try:
            for op, arg, _ in pickletools.genops(data[:limit] if len(data) > limit else data):
                if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                    recent = (recent + [arg])[-2:]
                elif op.name == "STACK_GLOBAL" and len(recent) == 2:
                    found.add(recent[0])
                elif op.name == "GLOBAL":
                    found.add(str(arg).split(" ")[0])
        except Exception:  # noqa: BLE001 - a truncated scan window is expected for big files
            pass
    return found


@reader("checkpoint")
def detect_format(path: Path) -> str:
    """Return 'native', 'nvidia-pkl', 'nvidia-tf' or 'rosinality'; raise CheckpointError otherwise."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such file")
    if path.is_dir():
        raise CheckpointError(f"{path} is a directory; pass the checkpoint file")
    size = path.stat().st_size
    if size == 0:
        raise CheckpointError(f"{path.name} is empty (0 bytes); the download or copy probably failed")
    with path.open("rb") as f:
        head = f.read(1 << 20)
    if head[:4] == b"PK\x03\x04":
        return "rosinality"
    if len(head) >= 9 and head[8:9] == b"{":
        (header_len,) = struct.unpack("<Q", head[:8])
        if header_len < size:
            try:
                json.loads(head[8: 8 + header_len])
                return "native"
            except (ValueError, RecursionError):
                pass
    if head[:1] == b"\x80":
        if head[2:2 + len(_TORCH_LEGACY_MAGIC)] == _TORCH_LEGACY_MAGIC:
            return "rosinality"
        modules = _pickle_globals(head)
        if any(m.startswith("dnnlib.tflib") for m in modules):
            return "nvidia-tf"
        if any(m.startswith("torch_utils") for m in modules):
            return "nvidia-pkl"
        if any(m.startswith(("dnnlib", "torch")) for m in modules):
            return "nvidia-pkl"
        raise CheckpointError(
            f"{path.name} is a pickle but not a known network checkpoint (it names {sorted(modules)[:5]}); "
            "supported: NVIDIA StyleGAN2(-ADA) PyTorch/TensorFlow pickles, rosinality .pt, styleblend .safetensors")
    raise CheckpointError(
        f"{path.name} is not a checkpoint styleblend knows (first bytes {head[:8]!r}); supported: NVIDIA "
        "StyleGAN2(-ADA) PyTorch/TensorFlow pickles, rosinality .pt, styleblend .safetensors")
