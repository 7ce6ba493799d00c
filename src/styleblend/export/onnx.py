"""ONNX export of a generator's mapping network, synthesis network or both, with a dynamic batch size.

The graphs compute what :class:`~styleblend.nn.Generator` computes by default in float32 - the stored
(``noise_mode='const'``) noise, truncation ``w_avg + psi (w - w_avg)`` - so that an ONNX runtime renders
the images ``styleblend generate --precision float32`` renders. Two choices make the graph exportable:

- the modulated convolutions take their unfused path (styles scale the activations, one shared weight):
  the fused path folds the styles into a grouped convolution with one group per sample, and ONNX fixes
  a convolution's group count in the graph, so a fused graph could not take a dynamic batch. Both
  paths are held equal by ``tests/ops/test_modulated_conv.py``; rendering in PyTorch keeps the fused one;
- mixed precision is off: every layer runs in float32, as ``--precision float32`` renders.

Graphs (N is dynamic; shapes are those of the model):

- ``synthesis``: ``ws`` [N, num_ws, w_dim] -> ``img`` [N, img_channels, R, R] (about [-1, 1]);
- ``mapping``: ``z`` [N, z_dim], ``truncation_psi`` (a float32 scalar, 1 = no truncation)
  [, ``c`` [N, c_dim] for conditional models] -> ``ws`` [N, num_ws, w_dim];
- ``both``: the mapping's inputs -> ``img`` and ``ws``.

Export uses ``torch.onnx.export(dynamo=True)``, which needs the ``onnx`` and ``onnxscript`` packages;
:func:`check_onnx` needs ``onnxruntime`` (``pip install 'styleblend[onnx]'``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import inspect
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import InvalidArgumentError, MissingDependencyError
from ..io.atomic import atomic_path
from ..io.checkpoint import Checkpoint
from ..nn import Generator
from ..nn.mapping import truncate
from ..nn.stylegan3 import StyleGAN3Generator
from ..types import Generator as AnyGenerator

#: The generator classes the exporter traces.
Exportable = Generator | StyleGAN3Generator

log = logging.getLogger(__name__)

WHAT = ("synthesis", "mapping", "both")
#: ONNX opset of the exported graphs (supported by onnxruntime >= 1.14).
DEFAULT_OPSET = 18
#: Opsets the export accepts (torch's exporter writes 18 and newer).
OPSETS = range(18, 22)
_EXPORT_PACKAGES = ("onnx", "onnxscript")


class SynthesisGraph(nn.Module):
    """``ws`` [N, num_ws, w_dim] -> ``img``: the synthesis network as the ONNX graph computes it (see module doc)."""

    def __init__(self, G: Exportable) -> None:
        super().__init__()
        self.synthesis = G.synthesis

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        return self.synthesis(ws, noise_mode="const", fused_modconv=False, mixed_precision=False)


class MappingGraph(nn.Module):
    """``z`` [N, z_dim], ``truncation_psi`` [] (, ``c`` [N, c_dim]) -> ``ws`` [N, num_ws, w_dim].

    truncation_cutoff: truncate only the first this many ws (None: all); fixed in the graph.
    """

    def __init__(self, G: Exportable, truncation_cutoff: int | None = None) -> None:
        super().__init__()
        self.mapping = G.mapping
        self.truncation_cutoff = truncation_cutoff

    def forward(self, z: torch.Tensor, truncation_psi: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        # psi is a graph input, so truncation is always applied (psi = 1 leaves ws as they are: lerp's end
        # point is exact) instead of the mapping's Python-level `if psi != 1`.
        ws = self.mapping(z, c)
        return truncate(ws, self.mapping.w_avg, truncation_psi, self.truncation_cutoff)


class GeneratorGraph(nn.Module):
    """The mapping's inputs -> (``img``, ``ws``)."""

    def __init__(self, G: Exportable, truncation_cutoff: int | None = None) -> None:
        super().__init__()
        self.mapping = MappingGraph(G, truncation_cutoff)
        self.synthesis = SynthesisGraph(G)

    def forward(self, z: torch.Tensor, truncation_psi: torch.Tensor,
                c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ws = self.mapping(z, truncation_psi, c)
        return self.synthesis(ws), ws


@dataclass(frozen=True)
class OnnxExport:
    """What :func:`export_onnx` wrote: the file, the graph kind and its inputs/outputs as name -> shape
    (``'N'`` is the dynamic batch)."""

    path: Path
    what: str
    inputs: dict[str, tuple[int | str, ...]]
    outputs: dict[str, tuple[int | str, ...]]
    opset: int

    def describe(self) -> str:
        def sig(io: dict[str, tuple[int | str, ...]]) -> str:
            return ", ".join(f"{name} [{', '.join(str(d) for d in shape)}]" for name, shape in io.items())

        return f"{self.what}: {sig(self.inputs)} -> {sig(self.outputs)} (opset {self.opset})"


def export_graph(G: Exportable, what: str = "synthesis", truncation_cutoff: int | None = None) -> nn.Module:
    """The module that :func:`export_onnx` exports (eval mode, no gradients); runs in PyTorch as well.

    Raises:
        InvalidArgumentError: ``what`` is not one of :data:`WHAT`.
    """
    if what not in WHAT:
        raise InvalidArgumentError(f"cannot export {what!r}; choose one of {list(WHAT)}")
    if truncation_cutoff is not None and what == "synthesis":
        raise InvalidArgumentError("a truncation cutoff belongs to the mapping graph; export 'mapping' or 'both'")
    if truncation_cutoff is not None and not 0 <= truncation_cutoff <= G.num_ws:
        raise InvalidArgumentError(f"truncation_cutoff={truncation_cutoff} must lie in [0, num_ws={G.num_ws}]")
    module: nn.Module
    if what == "synthesis":
        module = SynthesisGraph(G)
    elif what == "mapping":
        module = MappingGraph(G, truncation_cutoff)
    else:
        module = GeneratorGraph(G, truncation_cutoff)
    return module.eval().requires_grad_(False)


def example_inputs(G: Exportable, what: str, batch: int = 2, seed: int = 0,
                   truncation_psi: float = 0.7) -> dict[str, torch.Tensor]:
    """Inputs of the ``what`` graph for ``batch`` samples drawn with ``seed``, by name, in graph order.

    ``ws`` are the mapping of random z (the magnitudes real latents have), not unit Gaussians.
    """
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn([batch, G.z_dim], generator=gen)
    c = None
    if G.c_dim:
        c = torch.nn.functional.one_hot(torch.randint(G.c_dim, [batch], generator=gen), G.c_dim).float()
    if what == "synthesis":
        with torch.no_grad():
            return {"ws": G.mapping(z, c, truncation_psi=truncation_psi)}
    inputs = {"z": z, "truncation_psi": torch.tensor(truncation_psi, dtype=torch.float32)}
    if c is not None:
        inputs["c"] = c
    return inputs


def _signature(G: Exportable, what: str) -> tuple[dict[str, tuple[int | str, ...]], dict[str, tuple[int | str, ...]]]:
    ws = ("N", G.num_ws, G.w_dim)
    img = ("N", G.img_channels, G.img_resolution, G.img_resolution)
    if what == "synthesis":
        return {"ws": ws}, {"img": img}
    inputs: dict[str, tuple[int | str, ...]] = {"z": ("N", G.z_dim), "truncation_psi": ()}
    if G.c_dim:
        inputs["c"] = ("N", G.c_dim)
    return inputs, ({"ws": ws} if what == "mapping" else {"img": img, "ws": ws})


def export_onnx(model: AnyGenerator | Checkpoint, out: str | Path, what: str = "synthesis", *,
                truncation_cutoff: int | None = None, opset: int = DEFAULT_OPSET,
                overwrite: bool = False) -> OnnxExport:
    """Write the ``what`` graph of ``model`` (its EMA generator for a checkpoint) as one ONNX file.

    Args:
        model: a :class:`~styleblend.nn.Generator` or a :class:`~styleblend.io.Checkpoint`.
        out: the ``.onnx`` file, written atomically (weights inside the file, no external data).
        what: 'synthesis' (W+ input), 'mapping' or 'both'; see the module docstring for the signatures.
        truncation_cutoff: mapping/both: truncate only the first this many ws (None: all).
        opset: ONNX opset version.
        overwrite: replace an existing ``out`` (otherwise refused).

    Returns:
        An :class:`OnnxExport` naming the file and its inputs and outputs.

    Raises:
        MissingDependencyError: onnx or onnxscript is not installed.
        InvalidArgumentError: unknown ``what``, a cutoff out of range, or ``out`` exists and not ``overwrite``.
    """
    G = _generator(model)
    module = export_graph(G, what, truncation_cutoff)
    if opset not in OPSETS:
        raise InvalidArgumentError(f"opset {opset} is not supported; choose one of {OPSETS.start}..{OPSETS.stop - 1}")
    out = Path(out)
    _check_out(out, overwrite)
    _require(_EXPORT_PACKAGES, "ONNX export")
    if not {"dynamo", "dynamic_shapes"} <= set(inspect.signature(torch.onnx.export).parameters):
        raise MissingDependencyError("ONNX export needs torch's dynamo exporter (torch "
                                     f"2.5 or newer); this is torch {torch.__version__}")
    inputs, outputs = _signature(G, what)
    example = example_inputs(G, what)
    batch = torch.export.Dim("N", min=1)
    dynamic_shapes = {name: ({0: batch} if t.ndim else None) for name, t in example.items()}
    with _quiet_exporter():
        program = torch.onnx.export(module, tuple(example.values()), dynamo=True, opset_version=opset,
                                    input_names=list(inputs), output_names=list(outputs),
                                    dynamic_shapes=dynamic_shapes, external_data=False, verbose=False)
        if program is None:  # only the legacy exporter returns None
            raise RuntimeError("torch.onnx.export returned no program")
        with atomic_path(out) as tmp:
            program.save(str(tmp), external_data=False)
    log.info("wrote %s (%s)", out, what)
    return OnnxExport(path=out, what=what, inputs=inputs, outputs=outputs, opset=opset)


def check_onnx(path: str | Path, model: AnyGenerator | Checkpoint, what: str = "synthesis", *, batch: int = 3,
               seed: int = 0, truncation_psi: float = 0.7, truncation_cutoff: int | None = None) -> float:
    """Run the ONNX file under onnxruntime (CPU) and return the largest absolute difference from PyTorch.

    The PyTorch side is the default rendering in float32 (fused modulated convolutions, stored noise),
    not the exported module, so the number bounds everything the export changed.

    Args:
        batch: samples to compare (any size: the graph's batch is dynamic; the export used 2).
        truncation_psi / truncation_cutoff: for mapping/both, as given to the export.

    Raises:
        MissingDependencyError: onnxruntime is not installed.
    """
    _require(("onnxruntime",), "checking an ONNX export")
    import onnxruntime

    G = _generator(model)
    inputs = example_inputs(G, what, batch=batch, seed=seed, truncation_psi=truncation_psi)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {name: t.numpy() for name, t in inputs.items()})
    with torch.no_grad():
        if what == "synthesis":
            expected = [G.synthesis(inputs["ws"], noise_mode="const")]
        else:
            ws = G.mapping(inputs["z"], inputs.get("c"), truncation_psi=truncation_psi,
                           truncation_cutoff=truncation_cutoff)
            expected = [ws] if what == "mapping" else [G.synthesis(ws, noise_mode="const"), ws]
    if len(got) != len(expected):
        raise InvalidArgumentError(f"{Path(path).name} has {len(got)} outputs, but a '{what}' graph has "
                                   f"{len(expected)}; check it with the same 'what' it was exported with")
    diffs = []
    for value, ref in zip(got, expected):
        if tuple(value.shape) != tuple(ref.shape):
            raise InvalidArgumentError(f"{Path(path).name} outputs shape {tuple(value.shape)} where this model "
                                       f"gives {tuple(ref.shape)}; it was exported from another model or graph")
        diffs.append(float((torch.from_numpy(value) - ref).abs().max()))
    return max(diffs)


def _generator(model: AnyGenerator | Checkpoint) -> Exportable:
    G = model.generator() if isinstance(model, Checkpoint) else model
    if isinstance(G, (Generator, StyleGAN3Generator)):  # the networks this exporter traces
        return G
    raise InvalidArgumentError(f"cannot export a {type(G).__name__}; pass a styleblend Generator or Checkpoint "
                               "(StyleGAN2 or StyleGAN3)")


def _check_out(out: Path, overwrite: bool) -> None:
    if out.is_dir():
        raise InvalidArgumentError(f"the output '{out}' is a folder; give a file name such as "
                                   f"'{out / 'generator.onnx'}'")
    if out.exists() and not overwrite:
        raise InvalidArgumentError(f"'{out}' exists; choose another name or allow replacing it (`overwrite`)",
                                   param="overwrite")


def _require(packages: tuple[str, ...], what: str) -> None:
    missing = [p for p in packages if importlib.util.find_spec(p) is None]
    if missing:
        raise MissingDependencyError(f"{what} needs {', '.join(missing)}, which is not installed; "
                                     "install it with: pip install 'styleblend[onnx]'")


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Keep the exporter's notes (missing torchvision ops, deprecations inside torch) out of the user's log.

    Restores the logger levels and warning filters on exit; errors still propagate.
    """
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch._dynamo", "torch.export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def describe_file(path: str | Path) -> str:
    """The inputs and outputs an ONNX file declares, e.g. ``ws [N, 10, 128] -> img [N, 3, 64, 64]``
    (reads the graph's header with ``onnx``; no runtime needed)."""
    _require(("onnx",), "reading an ONNX file")
    import onnx

    model = onnx.load(os.fspath(path), load_external_data=False)

    def dims(value: onnx.ValueInfoProto) -> str:
        shape = value.type.tensor_type.shape.dim
        return "[" + ", ".join(d.dim_param or str(d.dim_value) for d in shape) + "]"

    inits = {i.name for i in model.graph.initializer}
    ins = ", ".join(f"{v.name} {dims(v)}" for v in model.graph.input if v.name not in inits)
    outs = ", ".join(f"{v.name} {dims(v)}" for v in model.graph.output)
    return f"{ins} -> {outs}"
