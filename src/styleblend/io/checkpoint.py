"""The in-memory checkpoint every format reads into and writes from.

A :class:`Checkpoint` is data only: architecture configs plus state dicts under canonical
(NVIDIA module-tree) names. This module knows no format: formats (``io/formats``) build checkpoints,
and :func:`styleblend.io.load_checkpoint` / :func:`styleblend.io.save_checkpoint` choose a format
through the registry (``io/registry.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..config import DiscriminatorConfig, GeneratorConfig
from ..config_sg3 import StyleGAN3Config
from ..errors import ArchitectureMismatchError, CheckpointError, InvalidArgumentError
from ..types import Generator as GeneratorType

if TYPE_CHECKING:
    from ..nn.discriminator import Discriminator

log = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]


@dataclass
class Checkpoint:
    """Generators (and discriminator) of one model as architecture + state dicts.

    Attributes:
        format: the registry name of the format it was read from (see :mod:`styleblend.io.registry`),
            or 'memory' for one built in code.
        g_config / d_config: architectures (d_config is None when there is no discriminator); g_config is a
            :class:`~styleblend.config_sg3.StyleGAN3Config` for a StyleGAN3 generator.
        g_ema: the generator to render with (EMA weights); always present.
        g / d: the training generator and the discriminator, when the file has them.
        source: the file it was read from, if any (a format written into an existing file re-uses it).
        meta: free-form, JSON-able notes (e.g. what a conversion dropped, training kwargs).
        source_layout: opaque, owned by the reader of ``format``: where ``source`` keeps each tensor, so
            that its writer can patch a copy without parsing the file again. Code outside ``io`` never
            reads or sets it; ``dataclasses.replace`` carries it to a checkpoint derived from this one.
    """

    g_config: GeneratorConfig | StyleGAN3Config
    g_ema: StateDict
    d_config: DiscriminatorConfig | None = None
    g: StateDict | None = None
    d: StateDict | None = None
    format: str = "memory"
    source: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Never serialised, and not part of equality: it describes the source file, not the network.
    source_layout: Any = field(default=None, repr=False, compare=False)

    def generator(self, device: str | torch.device = "cpu", which: str = "g_ema",
                  mixed_precision: bool = False, fp16_path: str = "auto") -> GeneratorType:
        """Build a :class:`~styleblend.nn.Generator` in eval mode with the chosen weights on ``device``.

        Returns a :class:`styleblend.types.Generator` (the interface both generator families answer).

        mixed_precision: render the model's fp16 resolutions (StyleGAN3: layers) in float16 as NVIDIA's
            code does on the device (StyleGAN3: only on CUDA) (see
            :meth:`styleblend.nn.synthesis.SynthesisNetwork.forward`); float32 otherwise.
        fp16_path: how those resolutions compute: 'auto' (float16 emulated in float32 on the CPU, where
            float16 convolutions are 20-600x slower; native float16 elsewhere; StyleGAN3: native on CUDA,
            float32 elsewhere, as NVIDIA's code, see :func:`styleblend.nn.stylegan3.uses_fp16`), 'float16'
            (always native) or 'emulated' (StyleGAN3: CUDA's float16 path emulated on any device).
        """
        from ..nn.build import build_generator
        from ..nn.synthesis import FP16_PATHS

        if fp16_path not in FP16_PATHS:
            raise InvalidArgumentError(f"fp16_path {fp16_path!r} is unknown; choose one of {FP16_PATHS}")

        state = {"g_ema": self.g_ema, "g": self.g}.get(which)
        if state is None:
            raise InvalidArgumentError(f"generator {which!r} is not in this checkpoint; use 'g_ema'")
        net = build_generator(self.g_config)
        load_state_dict_strict(net, state, what=f"{which} of {self.describe()}")
        net.synthesis.mixed_precision = mixed_precision
        net.synthesis.fp16_path = fp16_path
        return net.eval().requires_grad_(False).to(device)

    def release(self, g_ema: bool = False) -> None:
        """Let go of the tensors a renderer does not need: the training generator, the discriminator and the
        source file's layout (which holds every storage the file had); with ``g_ema`` the EMA weights too (once
        a generator is built from them). The checkpoint can then no longer be written back into its source
        file, nor (with ``g_ema``) build a generator."""
        self.g = self.d = None
        self.source_layout = None
        if g_ema:
            self.g_ema = {}

    def discriminator(self, device: str | torch.device = "cpu") -> Discriminator:
        from ..nn import Discriminator

        if self.d is None or self.d_config is None:
            raise InvalidArgumentError(f"{self.describe()} has no discriminator")
        net = Discriminator(self.d_config)
        load_state_dict_strict(net, self.d, what=f"discriminator of {self.describe()}")
        return net.to(device)

    def check_networks(self) -> None:
        """Check every network's tensor names and shapes against its architecture, as loading it would.

        Readers take a file's architecture and its tensors separately; this is the check that they
        agree, run before a checkpoint is described or written (the error is the one
        :meth:`generator` and :meth:`discriminator` give).

        Raises:
            ArchitectureMismatchError: a tensor is missing, unexpected or of the wrong shape.
        """
        from ..nn import Discriminator
        from ..nn.build import build_generator

        g_shapes = state_shapes(lambda: build_generator(self.g_config))
        for which in ("g_ema", "g"):
            state = getattr(self, which)
            if state is not None:
                check_state_dict(state, g_shapes, what=f"{which} of {self.describe()}")
        d_config = self.d_config
        if self.d is not None and d_config is not None:
            check_state_dict(self.d, state_shapes(lambda: Discriminator(d_config)),
                             what=f"discriminator of {self.describe()}")

    def generators_only(self) -> Checkpoint:
        """This checkpoint without its discriminator and its source layout (frees the discriminator's memory
        when nothing else holds it: the layout held every storage of the file).

        A blend needs only the transfers' generators; dropping their discriminators right after
        loading keeps the peak memory of blending big snapshots lower. The result can no longer be written
        back into its source file.
        """
        return replace(self, d=None, d_config=None, source_layout=None)

    def describe(self) -> str:
        name = self.source.name if self.source is not None else "<memory>"
        return f"{name} ({self.format})"


def state_shapes(build: Callable[[], torch.nn.Module]) -> dict[str, tuple[int, ...]]:
    """Shapes of every tensor in the state dict of ``build()``.

    The module is built on the CPU (0.3-1.5 s for a 1024-px config-f generator): building on the meta
    device would be free per call but pulls in torch's decomposition machinery on first use, which
    costs more. ``fork_rng`` keeps the random initialisation from advancing the caller's RNG.
    """
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        module = build()
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def fill_module(module: torch.nn.Module, tensors: StateDict, what: str) -> None:
    """Copy a file's ``tensors`` into ``module``'s state after checking them: exactly its keys and shapes
    (:func:`check_state_dict`), floating point and finite.

    Raises:
        CheckpointError: a missing, unexpected, mis-shaped, non-float or non-finite tensor, named.
    """
    own = module.state_dict()
    try:
        check_state_dict(tensors, {k: tuple(v.shape) for k, v in own.items()}, what=what)
    except ArchitectureMismatchError as exc:
        raise CheckpointError(str(exc)) from None
    with torch.no_grad():
        for key, value in own.items():
            src = tensors[key]
            if not src.is_floating_point() or not bool(torch.isfinite(src).all()):
                raise CheckpointError(f"{what}: tensor '{key}' is not finite floating point")
            value.copy_(src.to(value.dtype))


def check_state_dict(state: StateDict, shapes: dict[str, tuple[int, ...]], what: str) -> None:
    """Every key of ``shapes`` must be in ``state`` with that shape, and nothing else.

    Raises:
        ArchitectureMismatchError: naming the counts and first missing/unexpected keys, or the first
            tensor whose shape differs.
    """
    missing = [k for k in shapes if k not in state]
    unexpected = [k for k in state if k not in shapes]
    if missing or unexpected:
        raise ArchitectureMismatchError(
            f"{what}: {len(missing)} missing and {len(unexpected)} unexpected tensors "
            f"(first missing: {missing[:3]}, first unexpected: {unexpected[:3]}); "
            "the tensors do not fit the architecture they are loaded into")
    for key, shape in shapes.items():
        if tuple(state[key].shape) != tuple(shape):
            raise ArchitectureMismatchError(
                f"{what}: '{key}' has shape {tuple(state[key].shape)} in the file but the architecture "
                f"expects {tuple(shape)}")


def load_state_dict_strict(module: torch.nn.Module, state: StateDict, what: str) -> None:
    """Copy ``state`` into ``module``; every key must exist on both sides with the same shape."""
    own = module.state_dict()
    check_state_dict(state, {k: tuple(v.shape) for k, v in own.items()}, what)
    with torch.no_grad():
        for key, value in own.items():
            value.copy_(state[key].to(value.dtype))
