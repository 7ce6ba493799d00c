"""The interface every generator answers, whatever its family (StyleGAN2 today, StyleGAN3 next).

Blending, rendering, projection and the UI need a generator's mapping and synthesis networks and a few
numbers, not its class: :class:`Generator` names exactly that, so a function typed ``G: Generator``
takes :class:`styleblend.nn.Generator` (StyleGAN2) and any other family that keeps the same attributes.
The protocols are structural (``typing.Protocol``): a class answers them by having the members, without
inheriting from anything here.

This module imports no torch at run time (the annotations are strings), so ``styleblend.Generator`` can
be named in a notebook or a type hint without loading PyTorch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from typing import Self

    import torch

    from .config_sg3 import AnyGeneratorConfig


@runtime_checkable
class MappingNet(Protocol):
    """z (and a class label c) -> ws [N, num_ws, w_dim].

    Most mapping networks also hold ``w_avg`` [w_dim], the running mean of w that truncation pulls towards;
    it is not part of the interface because a model trained without tracking it has none (read it with
    ``getattr(G.mapping, "w_avg", None)``).
    """

    @property
    def z_dim(self) -> int: ...

    @property
    def c_dim(self) -> int: ...

    @property
    def w_dim(self) -> int: ...

    def __call__(self, z: torch.Tensor | None, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                 truncation_cutoff: int | None = None) -> torch.Tensor:
        """z [N, z_dim] (c [N, c_dim] or None) -> ws [N, num_ws, w_dim]; truncation pulls towards w_avg:
        ``w' = w_avg + psi (w - w_avg)`` on the first ``truncation_cutoff`` rows (all when None)."""
        ...


@runtime_checkable
class SynthesisNet(Protocol):
    """ws [N, num_ws, w_dim] -> images [N, img_channels, img_resolution, img_resolution] in about [-1, 1]."""

    @property
    def num_ws(self) -> int: ...

    @property
    def w_dim(self) -> int: ...

    @property
    def img_resolution(self) -> int: ...

    @property
    def img_channels(self) -> int: ...

    #: A mode, like train/eval: render the layers stored as float16 in float16, as NVIDIA's code does
    #: (``Checkpoint.generator(mixed_precision=True)`` sets it); float32 everywhere when False.
    mixed_precision: bool
    #: How those layers run: 'auto' (emulated in float32 on the CPU, true float16 elsewhere; StyleGAN3: true float16
    #: on CUDA only), 'float16' or 'emulated' (``Checkpoint.generator(fp16_path=...)``).
    fp16_path: str

    def __call__(self, ws: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        """noise_mode: 'const' (the stored noise, as NVIDIA's generate.py renders), 'random' or 'none'."""
        ...

    # torch.nn.Module methods the projector uses to find and substitute the noise inputs.
    def named_parameters(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, torch.nn.Parameter]]: ...

    def named_buffers(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, torch.Tensor]]: ...

    def modules(self) -> Iterator[torch.nn.Module]: ...


@runtime_checkable
class Generator(Protocol):
    """A generator of any family: mapping, synthesis and their sizes, plus the torch.nn.Module methods
    the library calls. What the attributes mean:

    - ``z_dim``: width of z (512 for FFHQ models); ``c_dim``: width of the class label (0: unconditional).
    - ``w_dim``: width of w; ``num_ws``: rows of W+ that synthesis consumes (18 at 1024 px for StyleGAN2).
    - ``img_resolution``, ``img_channels``: output size, e.g. 1024 and 3.
    - ``mapping`` (:class:`MappingNet`) and ``synthesis`` (:class:`SynthesisNet`): the two halves;
      ``G(z, c)`` is ``synthesis(mapping(z, c))``.

    :class:`styleblend.nn.Generator` (StyleGAN2) is one; :meth:`styleblend.io.Checkpoint.generator`
    returns one. ``isinstance(x, Generator)`` checks that the members exist (not their types).
    """

    @property
    def z_dim(self) -> int: ...

    @property
    def c_dim(self) -> int: ...

    @property
    def w_dim(self) -> int: ...

    @property
    def num_ws(self) -> int: ...

    @property
    def img_resolution(self) -> int: ...

    @property
    def img_channels(self) -> int: ...

    @property
    def cfg(self) -> AnyGeneratorConfig:
        """The architecture (a StyleGAN2 ``GeneratorConfig`` or a ``StyleGAN3Config``)."""
        ...

    @property
    def mapping(self) -> MappingNet: ...

    @property
    def synthesis(self) -> SynthesisNet: ...

    def __call__(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                 truncation_cutoff: int | None = None, noise_mode: str = "const") -> torch.Tensor:
        """z [N, z_dim] -> images [N, img_channels, R, R] in about [-1, 1]."""
        ...

    # The torch.nn.Module methods the library uses on a generator (device lookup, freezing, saving).
    def parameters(self, recurse: bool = True) -> Iterator[torch.nn.Parameter]: ...

    def named_parameters(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, torch.nn.Parameter]]: ...

    def buffers(self, recurse: bool = True) -> Iterator[torch.Tensor]: ...

    def named_buffers(self, *args: Any, **kwargs: Any) -> Iterator[tuple[str, torch.Tensor]]: ...

    def state_dict(self, *args: Any, **kwargs: Any) -> dict[str, Any]: ...

    def eval(self) -> Self: ...

    def train(self, mode: bool = True) -> Self: ...

    def requires_grad_(self, requires_grad: bool = True) -> Self: ...

    def to(self, *args: Any, **kwargs: Any) -> Self: ...
