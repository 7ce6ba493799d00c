"""Every random number of a training step, drawn for the global batch from seeded generators.

A step's minibatch of ``batch`` images is split over processes and, within a process, into
passes of ``batch_gpu`` images. For the run not to depend on that split, nothing random may be
drawn per pass: each random quantity of the step (latents, labels, style-mixing cutoffs, the
synthesis noise, the path-length noise, the augmentation parameters) is drawn here for the whole
batch, per image, from its own generator seeded by (seed, step, phase, purpose), and every pass
takes the rows of its images. The same seed thus gives the same run for any number of processes
and any ``batch_gpu``, and a resumed run repeats what an uninterrupted one does.

Small draws (latents, cutoffs, augmentation parameters: a few numbers per image) are made on the
CPU for the whole batch and moved to the device per pass. The large ones (a noise map per image and
layer, the path-length directions) are not drawn for the whole batch on every process: each image
gets a seed, and a pass draws its own images' maps from those seeds on its device
(:func:`noise_maps`, :func:`image_noise`), which costs each process only its share.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..nn.layers import SynthesisLayer
from .augment import AugmentPipe

if TYPE_CHECKING:
    from ..nn.generator import Generator

#: Purposes: one generator each, so enabling one regulariser does not shift another's numbers.
#: 0 is the data order (:class:`DataOrder`), 1 the latents and labels of the fakes.
LATENTS, MIXING, NOISE, PL_LATENTS, PL_NOISE, AUG_FAKE, AUG_REAL = 1, 3, 4, 5, 6, 7, 8


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (numpy's SeedSequence mixes them; no collisions in practice)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)[0] & (2**63 - 1))


class DataOrder:
    """Epoch-wise shuffled order of a data set; position ``k`` of the stream is fixed by the seed."""

    def __init__(self, num_items: int, seed: int) -> None:
        self.num_items, self.seed = num_items, seed
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def _permutation(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(derive_seed(self.seed, 0, epoch))
            self._epoch, self._perm = epoch, torch.randperm(self.num_items, generator=g)
        return self._perm

    def take(self, start: int, count: int) -> torch.Tensor:
        """Item indices at stream positions [start, start + count)."""
        out = []
        pos = start
        while pos < start + count:
            epoch, i = divmod(pos, self.num_items)
            n = min(start + count - pos, self.num_items - i)
            out.append(self._permutation(epoch)[i:i + n])
            pos += n
        return torch.cat(out)


def generator(seed: int, step: int, phase: int, purpose: int) -> torch.Generator:
    """The CPU generator of one (seed, step, phase, purpose)."""
    return torch.Generator().manual_seed(derive_seed(seed, purpose, step, phase))


def noise_layers(G: Generator) -> list[SynthesisLayer]:
    """G's synthesis layers that add per-pixel noise, in module order."""
    return [m for m in G.synthesis.modules() if isinstance(m, SynthesisLayer) and m.use_noise]


def image_seeds(n: int, gen: torch.Generator) -> torch.Tensor:
    """n per-image seeds (int64 [n])."""
    return torch.randint(0, 2**62, [n], generator=gen)


def _image_generators(seeds: torch.Tensor, device: torch.device) -> list[torch.Generator]:
    return [torch.Generator(device=device).manual_seed(int(s)) for s in seeds.tolist()]


def noise_maps(G: Generator, seeds: torch.Tensor, device: torch.device) -> list[torch.Tensor]:
    """One [n, 1, R, R] standard normal map per entry of :func:`noise_layers`; image i's from seeds[i]."""
    gens = _image_generators(seeds, device)
    return [torch.cat([torch.randn([1, 1, m.resolution, m.resolution], generator=g, device=device) for g in gens])
            if gens else torch.zeros([0, 1, m.resolution, m.resolution], device=device) for m in noise_layers(G)]


def image_noise(seeds: torch.Tensor, shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """A standard normal [n, *shape] tensor; image i's from seeds[i]."""
    gens = _image_generators(seeds, device)
    if not gens:
        return torch.zeros([0, *shape], device=device)
    return torch.cat([torch.randn([1, *shape], generator=g, device=device) for g in gens])


@dataclass
class GenDraws:
    """The random inputs of G for n images besides z and c.

    Attributes:
        mix_z: [n, z_dim] second latents for style mixing (None: no mixing).
        cutoff: int64 [n]; image i takes ws[cutoff:] from ``mix_z`` (num_ws: not mixed).
        noise_seeds: int64 [n] (CPU); image i's synthesis noise is :func:`noise_maps` of seed i.
    """

    mix_z: torch.Tensor | None
    cutoff: torch.Tensor | None
    noise_seeds: torch.Tensor

    def rows(self, sl: slice) -> GenDraws:
        return GenDraws(None if self.mix_z is None else self.mix_z[sl],
                        None if self.cutoff is None else self.cutoff[sl], self.noise_seeds[sl])

    def to(self, device: torch.device) -> GenDraws:
        return GenDraws(None if self.mix_z is None else self.mix_z.to(device),
                        None if self.cutoff is None else self.cutoff.to(device), self.noise_seeds)


def draw_gen(G: Generator, n: int, style_mixing_prob: float, mixing: torch.Generator,
             noise: torch.Generator) -> GenDraws:
    """Style-mixing choices (per image: mixed with probability ``style_mixing_prob``, cutoff uniform
    in [1, num_ws)) and synthesis noise for n images."""
    num_ws = G.num_ws
    mix_z = cutoff = None
    if style_mixing_prob > 0 and num_ws > 1:
        cutoff = torch.randint(1, num_ws, [n], generator=mixing)
        mixed = torch.rand([n], generator=mixing) < style_mixing_prob
        cutoff = torch.where(mixed, cutoff, torch.full_like(cutoff, num_ws))
        mix_z = torch.randn([n, G.z_dim], generator=mixing)
    return GenDraws(mix_z, cutoff, image_seeds(n, noise))


@dataclass
class PhaseDraws:
    """What one phase of one step draws, for the global batch (``rows`` cuts out one pass).

    Attributes:
        gen: G's draws for the fakes (the ``batch`` latents of the phase), or None.
        pl_z, pl_c, pl: latents, labels and G's draws of the path-length batch, or None.
        pl_noise_seeds: int64 [n_pl] (CPU): seeds of the random image-space directions y of the
            path-length penalty (:func:`image_noise`, scaled by 1 / sqrt(H W) by the loss).
        aug_fake, aug_real: augmentation parameters of the fakes and reals D sees, or None.
    """

    gen: GenDraws | None = None
    pl_z: torch.Tensor | None = None
    pl_c: torch.Tensor | None = None
    pl: GenDraws | None = None
    pl_noise_seeds: torch.Tensor | None = None
    aug_fake: dict[str, torch.Tensor] | None = None
    aug_real: dict[str, torch.Tensor] | None = None

    def rows(self, sl: slice, pl_sl: slice) -> PhaseDraws:
        """The draws of the images in ``sl`` (and of the path-length images in ``pl_sl``)."""
        def cut(t: torch.Tensor | None, s: slice) -> torch.Tensor | None:
            return None if t is None else t[s]

        def aug(a: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor] | None:
            return None if a is None else {k: v[sl] for k, v in a.items()}

        return PhaseDraws(self.gen.rows(sl) if self.gen is not None else None, cut(self.pl_z, pl_sl),
                          cut(self.pl_c, pl_sl), self.pl.rows(pl_sl) if self.pl is not None else None,
                          cut(self.pl_noise_seeds, pl_sl), aug(self.aug_fake), aug(self.aug_real))

    def to(self, device: torch.device) -> PhaseDraws:
        def mv(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None else t.to(device)

        def aug(a: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor] | None:
            return None if a is None else {k: v.to(device) for k, v in a.items()}

        return dataclasses.replace(self, gen=self.gen.to(device) if self.gen is not None else None,
                                   pl_z=mv(self.pl_z), pl_c=mv(self.pl_c),
                                   pl=self.pl.to(device) if self.pl is not None else None,
                                   aug_fake=aug(self.aug_fake),
                                   aug_real=aug(self.aug_real))


def draw_phase(phase: str, G: Generator, augment: AugmentPipe | None, *, seed: int, step: int,
               phase_idx: int, batch: int, pl_batch: int, style_mixing_prob: float,
               pl_labels: torch.Tensor | None = None, img_channels: int = 3) -> PhaseDraws:
    """Draw everything phase ``phase`` of step ``step`` needs for the global batch.

    Args:
        phase: 'Gmain', 'Greg', 'Gboth', 'Dmain', 'Dreg' or 'Dboth'.
        G: the generator (for z_dim, num_ws and its noise layers).
        augment: the augmentation pipeline at its current p, or None.
        seed, step, phase_idx: what the generators are seeded with.
        batch: images of the step; pl_batch: images of the path-length batch.
        style_mixing_prob: probability that an image mixes two latents.
        pl_labels: [pl_batch, c_dim] labels of the path-length batch (conditional G), or None.
        img_channels: channels of G's images (colour augmentation needs 3).
    """
    out = PhaseDraws()
    gen_fakes = phase in ("Gmain", "Gboth", "Dmain", "Dboth")
    if gen_fakes:
        out.gen = draw_gen(G, batch, style_mixing_prob, generator(seed, step, phase_idx, MIXING),
                           generator(seed, step, phase_idx, NOISE))
        if augment is not None:
            out.aug_fake = augment.draw(batch, generator=generator(seed, step, phase_idx, AUG_FAKE),
                                        color=img_channels == 3)
    if phase in ("Greg", "Gboth"):
        g = generator(seed, step, phase_idx, PL_LATENTS)
        out.pl_z = torch.randn([pl_batch, G.z_dim], generator=g)
        out.pl_c = pl_labels
        out.pl = draw_gen(G, pl_batch, style_mixing_prob, g, g)
        out.pl_noise_seeds = image_seeds(pl_batch, generator(seed, step, phase_idx, PL_NOISE))
    if phase in ("Dmain", "Dreg", "Dboth") and augment is not None:
        out.aug_real = augment.draw(batch, generator=generator(seed, step, phase_idx, AUG_REAL),
                                    color=img_channels == 3)
    return out


def split(total: int, parts: int, k: int) -> slice:
    """Part ``k`` of ``parts`` nearly equal contiguous parts of range(total) (some may be empty)."""
    return slice(k * total // parts, (k + 1) * total // parts)
