"""Live rendering of a two-model blend: after an α change, re-run only the synthesis blocks it touches.

Why: in the web UI every slider move renders the blend again. With a per-resolution schedule a move at
resolution r changes only block r's tensors (the mapping network, hence the latents, does not depend on the
synthesis α), so what enters block r is the same as in the last render. :class:`LiveBlend` keeps, per latent,
the output ``(x, img)`` of every block of its last render with the α that produced it, and restarts from the
first block whose α differs: a move of the last slider costs one block instead of the whole network
(issue 13, "Responsive with big models").

Skip generators (StyleGAN2's default architecture) carry an RGB image at every block, so a render can stop at
a low resolution and show that image as a preview; the next render of the same latent continues from there.

The result is bit for bit what the blended generator gives (``blend_two`` with the same per-resolution table,
loaded into a generator): the same blocks run on the same tensors, only fewer of them
(tests/blend/test_live.py). StyleGAN2 generators only; a StyleGAN3 model has no per-resolution blocks.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import torch

from ..config import GeneratorConfig
from ..errors import InvalidArgumentError
from ..io.checkpoint import load_state_dict_strict
from ..latents.mapping import seeds_to_ws
from ..nn.generator import Generator
from ..nn.synthesis import emulates_fp16, uses_polyphase
from .core import MappingChoice, StateDict, Weight, apply_plan, plan_weights, two_model_weights
from .schedules import Table


class RenderStopped(Exception):
    """Raised by :meth:`LiveBlend.render` when its ``should_stop`` said so between two blocks. The blocks that
    ran stay cached, so a later render of the same latent continues from there."""


@dataclass
class _Chain:
    """The block outputs of a latent's last render: ``outputs[i]`` came from ``alphas[: i + 1]``."""

    ws: torch.Tensor
    alphas: list[float] = field(default_factory=list)
    outputs: list[tuple[torch.Tensor, torch.Tensor | None]] = field(default_factory=list)


@dataclass(frozen=True)
class Stage:
    """What one render reached: the block ``resolution`` and its image [N, C, res, res] (float, about [-1, 1]);
    ``final`` when it is the generator's output. ``blocks_run`` counts the blocks this call ran."""

    resolution: int
    image: torch.Tensor
    final: bool
    blocks_run: int


class LiveBlend:
    """A base/transfer blend rendered block by block with a per-latent cache of block outputs.

    Args:
        base, transfer: generator state dicts of one StyleGAN2 architecture (canonical keys).
        config: their architecture.
        mapping: the mapping network and w_avg of the blend (as :func:`~styleblend.blend.core.blend_two`); fixed
            for the object's life because the latents depend on it.
        device: where the work generator lives.
        max_latents: how many latents' block outputs are kept (least recently used dropped first).
    """

    def __init__(self, base: StateDict, transfer: StateDict, config: GeneratorConfig, mapping: MappingChoice = "base",
                 device: str | torch.device = "cpu", max_latents: int = 16) -> None:
        if not isinstance(config, GeneratorConfig):
            raise InvalidArgumentError("live blending needs StyleGAN2 generators (per-resolution synthesis blocks); "
                                       f"got a {type(config).__name__}")
        if max_latents < 1:
            raise InvalidArgumentError(f"max_latents={max_latents} must be >= 1")
        self.config = config
        self.resolutions: tuple[int, ...] = tuple(config.block_resolutions)
        self._states = [base, transfer]
        self._mapping = mapping
        self.generator = Generator(config).to(device).eval().requires_grad_(False)
        # The mapping network and w_avg come from the blend with any synthesis α (they do not depend on it).
        first = self._plan([0.0] * len(self.resolutions))
        load_state_dict_strict(self.generator, apply_plan(self._states, first), what="the live blend")
        self._loaded: list[float] = [0.0] * len(self.resolutions)
        self._blocks = [getattr(self.generator.synthesis, f"b{res}") for res in self.resolutions]
        self._block_keys = [[k for k in base if k.startswith(f"synthesis.b{res}.")] for res in self.resolutions]
        self._params = dict(self.generator.state_dict())
        self._chains: OrderedDict[Hashable, _Chain] = OrderedDict()
        self.max_latents = max_latents
        self.blocks_run = 0  # total, for measurements and tests

    def _plan(self, alphas: Sequence[float]) -> dict[str, tuple[Weight, ...]]:
        table = Table(tuple(zip(self.resolutions, alphas)))
        return plan_weights(self._states, two_model_weights(table, self._mapping), self.config)

    def _check_alphas(self, alphas: Sequence[float]) -> list[float]:
        values = [float(a) for a in alphas]
        if len(values) != len(self.resolutions):
            raise InvalidArgumentError(f"{len(values)} α values for {len(self.resolutions)} resolutions "
                                       f"{list(self.resolutions)}; give one per resolution")
        for res, a in zip(self.resolutions, values):
            if not 0.0 <= a <= 1.0:
                raise InvalidArgumentError(f"α={a:g} at {res} px must be in [0, 1]")
        return values

    def latents(self, seeds: Sequence[int], truncation_psi: float = 1.0) -> torch.Tensor:
        """ws [len(seeds), num_ws, w_dim] of the blend's mapping network (NVIDIA's seed convention)."""
        return seeds_to_ws(self.generator, seeds, truncation_psi)

    def _load_block(self, i: int, alpha: float, plan: dict[str, tuple[Weight, ...]]) -> None:
        """Blend block ``i``'s tensors into the work generator with the weights of ``plan``."""
        keys = self._block_keys[i]
        blended = apply_plan([{k: s[k] for k in keys if k in s} for s in self._states], plan)
        with torch.no_grad():
            for key, value in blended.items():
                self._params[key].copy_(value)
        self._loaded[i] = alpha

    def render(self, key: Hashable, ws: torch.Tensor, alphas: Sequence[float],
               stop_resolution: int | None = None, should_stop: Callable[[], bool] | None = None) -> Stage:
        """Render latents ``ws`` [N, num_ws, w_dim] (cached under ``key``) through the blend with ``alphas``
        (one per block resolution), from the first block whose α changed since this key's last render.

        stop_resolution: stop after that block and return its skip image (a preview; skip architecture
            only); a later call continues from there. None renders to the end.
        should_stop: asked before every block that has to run; True stops the render with
            :class:`RenderStopped` (a superseded preview in the web UI gives its thread back at once).
        """
        values = self._check_alphas(alphas)
        n = len(self.resolutions)
        stop = n - 1
        if stop_resolution is not None:
            if stop_resolution not in self.resolutions:
                raise InvalidArgumentError(f"stop resolution {stop_resolution} is not one of the model's block "
                                           f"resolutions {list(self.resolutions)}")
            if self.config.synthesis.architecture != "skip" and stop_resolution != self.resolutions[-1]:
                raise InvalidArgumentError("only skip generators have an image at every block; this one is "
                                           f"'{self.config.synthesis.architecture}', render to the end")
            stop = self.resolutions.index(stop_resolution)
        chain = self._chains.get(key)
        if chain is None or chain.ws.shape != ws.shape or not torch.equal(chain.ws, ws):
            chain = _Chain(ws=ws.detach().clone())
        self._chains[key] = chain
        self._chains.move_to_end(key)
        while len(self._chains) > self.max_latents:
            self._chains.popitem(last=False)
        start = 0
        while start < len(chain.alphas) and chain.alphas[start] == values[start]:
            start += 1
        del chain.alphas[start:], chain.outputs[start:]
        ran = 0
        synthesis = self.generator.synthesis
        emulate = emulates_fp16(synthesis.fp16_path, chain.ws.device)
        # The weight plan is validated over every tensor: made once per render, and only if a block needs it.
        plan: dict[str, tuple[Weight, ...]] | None = None
        with torch.inference_mode():
            x, img = chain.outputs[start - 1] if start > 0 else (None, None)
            w_idx = sum(block.num_conv for block in self._blocks[:start])
            for i in range(start, stop + 1):
                if should_stop is not None and should_stop():
                    self.blocks_run += ran
                    raise RenderStopped(f"stopped before the {self.resolutions[i]} px block")
                block = self._blocks[i]
                if self._loaded[i] != values[i]:
                    plan = plan if plan is not None else self._plan(values)
                    self._load_block(i, values[i], plan)
                block_ws = chain.ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
                w_idx += block.num_conv
                x, img = block(x, img, block_ws, noise_mode="const", fused=True,
                               mixed_precision=synthesis.mixed_precision, emulate_fp16=emulate,
                               polyphase=uses_polyphase(synthesis.upsample_path, chain.ws.device,
                                                        block.in_channels, block.resolution // 2))
                chain.alphas.append(values[i])
                # The last block's features are never an input again: keep only its image.
                chain.outputs.append((x if i < n - 1 else x.new_empty(0), img))
                ran += 1
        self.blocks_run += ran
        out = chain.outputs[stop][1]
        assert out is not None  # skip blocks and the last block always have an image
        return Stage(self.resolutions[stop], out, stop == n - 1, ran)

    def start_resolution(self, key: Hashable, ws: torch.Tensor, alphas: Sequence[float]) -> int | None:
        """The resolution of the first block :meth:`render` would run for ``key`` (None: every block is cached)."""
        values = self._check_alphas(alphas)
        chain = self._chains.get(key)
        if chain is None or chain.ws.shape != ws.shape or not torch.equal(chain.ws, ws):
            return self.resolutions[0]
        start = 0
        while start < len(chain.alphas) and chain.alphas[start] == values[start]:
            start += 1
        return self.resolutions[start] if start < len(self.resolutions) else None

    def forget(self) -> None:
        """Drop every cached block output (e.g. when the seeds change)."""
        self._chains.clear()
