"""The front door's verbs: small, typed wrappers over the library for scripts and notebooks.

Everything here calls the library's own functions (``styleblend.io``, ``styleblend.render``,
``styleblend.blend``, ``styleblend.project`` ...) and adds only what a notebook needs: a generator *or*
a checkpoint wherever a model is taken, images back as uint8 arrays, schedules as values or as the
CLI's text. Reach these through ``import styleblend as sb`` (``sb.load``, ``sb.generate`` ...); the
modules underneath stay the place for every option.

Images are uint8 numpy arrays [N, H, W, C] (what PIL, matplotlib and :func:`save_image` take);
latents are torch tensors: z [N, z_dim], ws [N, num_ws, w_dim].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from .errors import InvalidArgumentError
from .io.checkpoint import Checkpoint
from .types import Generator

if TYPE_CHECKING:
    from .blend.multi import MultiSchedule
    from .blend.schedules import Schedule
    from .io.conversion import Conversion
    from .project.projector import ProjectionCallback, ProjectionResult

#: What ``progress`` callbacks receive: (images done, images in all).
ProgressFn = Callable[[int, int], None]


# -- models: load, save, convert ----------------------------------------------------------------------

#: Sample images shipped with styleblend: emoji the bundled models never saw in training.
SAMPLE_IMAGES = {"heldout-woman": "heldout-woman.png", "heldout-persevering": "heldout-persevering.png"}


def bundled(name: str = "base") -> Path:
    """Path of a model or sample image shipped with styleblend (no download).

    Args:
        name: 'base' (64 px emoji, Noto style), 'transfer' (fine-tuned from it to Twemoji style),
            'fluent3d' (fine-tuned from the same base to Microsoft Fluent 3D style), 'encoder' (image -> W+
            of the base, for :func:`embed`), or a held-out emoji image for embedding: 'heldout-woman',
            'heldout-persevering'.

    Raises:
        MissingWeightsError: an unknown name, or the file is missing from this installation.
    """
    from importlib import resources

    from .errors import MissingWeightsError
    from .models import BUNDLED, bundled_encoder_path, bundled_path

    if name in SAMPLE_IMAGES:
        image = Path(str(resources.files("styleblend.data") / SAMPLE_IMAGES[name]))
        if not image.is_file():
            raise MissingWeightsError(f"the sample image {image.name} is missing from this installation; "
                                      "reinstall styleblend")
        return image
    if name == "encoder":
        path = bundled_encoder_path()
        if path is None:
            raise MissingWeightsError("the bundled encoder is missing from this installation; reinstall styleblend "
                                      "or train one with 'styleblend encoder train'")
        return path
    if name not in BUNDLED:
        raise MissingWeightsError(f"nothing bundled is named {name!r}; choose one of "
                                  f"{[*BUNDLED, 'encoder', *SAMPLE_IMAGES]}")
    return bundled_path(name)


def load(source: str | Path) -> Checkpoint:
    """Read a model: a checkpoint file of any supported format, a hub-style model folder, or a Hugging Face
    Hub repository ``'owner/name[@revision]'`` (through huggingface_hub's cache; offline with
    ``HF_HUB_OFFLINE=1``).

    The format of a file is detected from its content (NVIDIA pickle, NVIDIA TensorFlow pickle,
    rosinality .pt, styleblend .safetensors), never from its name, and no code in it is run. This is
    :func:`styleblend.io.load_checkpoint`; :func:`save_pretrained` writes the folders.

    Returns:
        A :class:`~styleblend.io.Checkpoint` (architecture + tensors); ``.generator()`` builds the network.

    Raises:
        CheckpointError: missing, empty, corrupt or unknown file. UnsafeCheckpointError: the file asks to
        run code. UnsupportedArchitectureError: an architecture styleblend cannot build.
    """
    from .io import load_checkpoint

    return load_checkpoint(source)


def save(ckpt: Checkpoint, path: str | Path, format: str | None = None) -> Path:
    """Write ``ckpt`` atomically and return the path.

    format: 'native' (safetensors + JSON architecture), 'rosinality' or 'nvidia-pkl'; None picks it from
        the suffix (.safetensors, .pt/.pth, .pkl), else the checkpoint's own format, else native. An NVIDIA
        pickle is written into a copy of the checkpoint's own NVIDIA pickle (use :func:`convert` with a
        template for other sources).
    """
    from .io import save_checkpoint
    from .io.registry import output_format

    return save_checkpoint(ckpt, path, format or output_format(ckpt, path))


def convert(ckpt: Checkpoint, out: str | Path, format: str, template: str | Path | None = None) -> Conversion:
    """Check ``ckpt``'s tensors against its architecture and write it as ``format``.

    format: 'native', 'rosinality' or 'nvidia-pkl' (which needs ``template``, an NVIDIA pickle of the same
        architecture, unless the checkpoint was read from one).

    Returns:
        A :class:`~styleblend.io.conversion.Conversion`: ``.path``, and ``.dropped`` with one sentence per
        thing the target format cannot hold (what ``styleblend convert`` prints as warnings).
    """
    from .io.conversion import convert_checkpoint

    return convert_checkpoint(ckpt, out, format, template)


# -- generating ---------------------------------------------------------------------------------------

def _generator(model: Generator | Checkpoint) -> Generator:
    return model.generator() if isinstance(model, Checkpoint) else model


def seeds_to_ws(model: Generator | Checkpoint, seeds: int | Sequence[int], truncation_psi: float = 1.0, *,
                truncation_cutoff: int | None = None, class_idx: int | None = None) -> torch.Tensor:
    """W+ latents ws [len(seeds), num_ws, w_dim] of seeds, with NVIDIA's z convention (seed N is the same
    image as NVIDIA's generate.py) and truncation ``w_avg + psi (w - w_avg)`` on the first
    ``truncation_cutoff`` rows (all when None).
    """
    from .latents.limits import check_psi
    from .latents.mapping import seeds_to_ws as _seeds_to_ws

    G = _generator(model)
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    psi = check_psi(truncation_psi, "truncation_psi")
    # (the library's functions still say nn.Module; they take any Generator)
    return _seeds_to_ws(G, seeds, psi, truncation_cutoff, class_idx)


def generate(model: Generator | Checkpoint, latents: int | Sequence[int] | torch.Tensor,
             truncation_psi: float = 1.0, *, truncation_cutoff: int | None = None, class_idx: int | None = None,
             noise_mode: str = "const", batch_size: int = 8, progress: ProgressFn | None = None) -> np.ndarray:
    """Render images from seeds or from W+ latents.

    Args:
        model: a generator (``ckpt.generator()``) or a checkpoint (its EMA generator is built on the CPU).
        latents: a seed, a list of seeds, or ws [N, num_ws, w_dim] or [num_ws, w_dim] (e.g. from
            :func:`embed` or :func:`interpolate`), rendered as they are.
        truncation_psi, truncation_cutoff, class_idx: for seeds; see :func:`seeds_to_ws`.
        noise_mode: 'const' (the model's stored noise, as NVIDIA's generate.py), 'random' or 'none'.
        batch_size: images per forward pass.
        progress: called as ``progress(done, total)`` after each batch.

    Returns:
        uint8 images [N, H, W, C].
    """
    from .media.images import to_uint8
    from .render import render_ws

    G = _generator(model)
    if isinstance(latents, torch.Tensor):
        if truncation_psi != 1 or truncation_cutoff is not None or class_idx is not None:
            raise InvalidArgumentError("truncation_psi, truncation_cutoff and class_idx apply to seeds, and W+ "
                                       "latents were given; truncate when making them (seeds_to_ws)")
        ws = latents if latents.ndim == 3 else latents[None]
    else:
        ws = seeds_to_ws(G, latents, truncation_psi, truncation_cutoff=truncation_cutoff, class_idx=class_idx)
    if noise_mode not in ("const", "random", "none"):
        raise InvalidArgumentError(f"noise_mode {noise_mode!r} must be 'const', 'random' or 'none'")
    if batch_size < 1:
        raise InvalidArgumentError(f"batch_size {batch_size} must be >= 1")
    return to_uint8(render_ws(G, ws, noise_mode=noise_mode, batch_size=batch_size,
                              progress=progress))


# -- latents ------------------------------------------------------------------------------------------

def interpolate(a: torch.Tensor, b: torch.Tensor, steps: int = 8, *, method: str = "lerp") -> torch.Tensor:
    """``steps`` latents from ``a`` to ``b`` inclusive, evenly spaced.

    Args:
        a, b: one latent each - ws [num_ws, w_dim] or [1, num_ws, w_dim], w [w_dim], or z [z_dim] - of the
            same shape.
        method: 'lerp' (straight line; W and W+, Image2StyleGAN 4.1) or 'slerp' (great circle over the last
            dimension with the norm interpolated linearly; for Z).

    Returns:
        [steps, *shape] with the leading 1 of a batched input dropped; row 0 is ``a`` and row -1 is ``b``
        bit for bit.
    """
    from .latents.interpolate import lerp, slerp

    if method not in ("lerp", "slerp"):
        raise InvalidArgumentError(f"method {method!r} must be 'lerp' or 'slerp'")
    if steps < 2:
        raise InvalidArgumentError(f"steps {steps} must be >= 2 (the two ends)")
    if a.shape != b.shape:
        raise InvalidArgumentError(f"the latents have shapes {tuple(a.shape)} and {tuple(b.shape)}; give two of "
                                   "the same shape")
    if a.ndim == 3 and a.shape[0] == 1:
        a, b = a[0], b[0]
    t = torch.linspace(0, 1, steps, dtype=a.dtype, device=a.device)
    a_rows, b_rows = a.expand(steps, *a.shape), b.expand(steps, *b.shape)
    return (lerp if method == "lerp" else slerp)(a_rows, b_rows, t)


# -- blending -----------------------------------------------------------------------------------------

def blend_models(base: Checkpoint, transfers: Checkpoint | Sequence[Checkpoint],
                 schedule: Schedule | MultiSchedule | str, *, mapping: str | float = "base") -> Checkpoint:
    """Blend generators by resolution (Pinkney & Adler 2020): ``p = (1 - α(r)) p_base + α(r) p_transfer``.

    Args:
        base: the model the transfers were fine-tuned from; gives the format, the mapping network (by
            default) and the discriminator.
        transfers: one fine-tuned model, or a list for an N-model schedule.
        schedule: α per resolution as a value - ``Swap(16)`` (the transfer's layers up to 16 px),
            ``Linear(8, 32)``, ``Sigmoid(16, 1)``, ``Table({4: 1, 8: 0.5}, default=0)`` - or for N models
            ``WeightTable``/``Bands``; or the CLI's text (``'swap:16'``, ``'bands:8,32'``).
        mapping: whose mapping network the blend keeps: 'base', 'transfer', 'blend' or an α.

    Returns:
        The blended checkpoint (the base's format and source, so :func:`save` can write it back in the
        base's own format). Its ``meta['blend']`` records the schedule, mapping and input paths
        (styleblend's own files keep it); the per-layer recipe file comes from
        :func:`styleblend.blend.blend_checkpoints` and :func:`styleblend.blend.save_blend`, as
        ``styleblend blend`` writes it.

    Raises:
        ArchitectureMismatchError: the models cannot be blended. InvalidArgumentError: a bad schedule.
    """
    from .blend.model import blend_checkpoints
    from .blend.multi import parse_multi_schedule
    from .blend.schedules import parse_schedule

    models = [transfers] if isinstance(transfers, Checkpoint) else list(transfers)
    if isinstance(schedule, str):
        kind = schedule.strip().partition(":")[0].lower()
        schedule = parse_multi_schedule(schedule) if kind in ("bands", "weights") else parse_schedule(schedule)
    blended, _ = blend_checkpoints(base, models, schedule, mapping=mapping, hash_inputs=False)
    return blended


# -- embedding ----------------------------------------------------------------------------------------

def _target(G: Generator, image: str | Path | np.ndarray | torch.Tensor) -> torch.Tensor:
    """An image as [N, C, R, R] in [-1, 1]: files are centre-cropped and resized to the model's size."""
    from .media.images import from_uint8
    from .media.load import load_target

    if isinstance(image, torch.Tensor):
        return image if image.ndim == 4 else image[None]
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise InvalidArgumentError(f"an image array must be uint8 [H, W, C] or [N, H, W, C], not {image.dtype}; "
                                       "pass a float image as a torch tensor in [-1, 1]")
        return from_uint8(image)
    return load_target(image, G.img_resolution, channels=G.img_channels)


def embed(model: Generator | Checkpoint, image: str | Path | np.ndarray | torch.Tensor, *,
          method: str = "editable", steps: int | None = None, encoder: str | Path | None = None,
          seed: int = 0, callback: ProjectionCallback | None = None) -> ProjectionResult:
    """Find the W+ latent whose image matches ``image`` (projection / GAN inversion).

    Args:
        model: the generator to embed into (a checkpoint's EMA generator is built on the CPU).
        image: a file (centre-cropped and resized to the model's resolution), uint8 [H, W, C] /
            [N, H, W, C], or a tensor [N, C, R, R] in [-1, 1].
        method: 'editable' ('fast' plus a regulariser that keeps the W+ rows near one w, so the latent
            renders well through blended models; 300 steps), 'fast' (W+, 300), 'image2stylegan' (W+, 5000)
            or 'nvidia' (W, 1000); see :func:`styleblend.project.settings_for`.
        steps: optimisation steps (None: the method's default, above).
        encoder: an encoder file for this generator (``bundled('encoder')`` for the bundled base, or one
            from ``styleblend encoder train``): its prediction is the start, so a few steps suffice (and,
            as ``styleblend project --method encoder`` does, the model's tracked w_avg is used instead of
            sampling W).
        seed: seeds every random draw; the same seed gives the same result.
        callback: ``callback(step, losses, ws)`` after every step; returning False stops early.

    The loss is the method's perceptual loss when VGG-16 weights are found, else pixel MSE + MS-SSIM
    (a warning is logged); :mod:`styleblend.project` has every other knob.

    Returns:
        A :class:`~styleblend.project.ProjectionResult`: ``.ws`` [N, num_ws, w_dim], ``.history``,
        ``.final_loss``. Render it through any model of the same latent layout with :func:`generate`.
    """
    from .project import project, resolve_loss, settings_for

    G = _generator(model)
    target = _target(G, image).to(next(G.parameters()).device)
    init_ws = None
    overrides: dict[str, int] = {} if steps is None else {"steps": steps}
    if encoder is not None:
        from .project.encoder import encode, load_encoder

        enc = load_encoder(encoder, next(G.parameters()).device)
        enc.check_generator(G, f"encoder '{encoder}'")
        with torch.no_grad():
            init_ws = encode(enc, G, target)
        if getattr(G.mapping, "w_avg", None) is not None:
            overrides["num_w_samples"] = 0  # the start is given: W's mean need not be sampled
    loss, _, _ = resolve_loss(method)
    settings = settings_for(method, **overrides)
    return project(G, target, settings, loss, seed=seed, init_ws=init_ws, callback=callback)


# -- images -------------------------------------------------------------------------------------------

def _stack(images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """uint8 [N, H, W, C] from one such array, or from a list of images [H, W, C] and batches [N, H, W, C]."""
    if isinstance(images, np.ndarray):
        arr = images
    else:
        parts = [np.asarray(part) for part in images]
        if not parts:
            raise InvalidArgumentError("no images given")
        shapes = {part.shape[-3:] for part in parts}
        if len(shapes) > 1 or any(part.ndim not in (3, 4) for part in parts):
            raise InvalidArgumentError(f"the images have shapes {sorted(part.shape for part in parts)}; give "
                                       "images [H, W, C] or batches [N, H, W, C] of one size")
        arr = np.concatenate([part[None] if part.ndim == 3 else part for part in parts])
    if arr.ndim != 4 or arr.dtype != np.uint8:
        raise InvalidArgumentError(f"images must be uint8 [N, H, W, C], got {arr.dtype} of shape {list(arr.shape)}")
    return arr


def image_grid(images: np.ndarray | Sequence[np.ndarray], cols: int | None = None, pad: int = 0) -> np.ndarray:
    """Tile images row by row into one uint8 image [rows*H, cols*W, C].

    images: uint8 [N, H, W, C], or a list of images [H, W, C] and batches [N, H, W, C] of one size (e.g.
        one :func:`generate` result per model: a row each with ``cols`` = the batch size).
    cols: columns (default: all images in one row).
    """
    from .media.images import make_grid

    arr = _stack(images)
    count = cols if cols is not None else arr.shape[0]
    if count < 1:
        raise InvalidArgumentError(f"cols {count} must be >= 1")
    return make_grid(arr, cols=count, pad=pad)


def save_image(images: np.ndarray | Sequence[np.ndarray], path: str | Path,
               cols: int | None = None) -> Path:
    """Write one image [H, W, C] as a PNG, or several (as :func:`image_grid` takes them) as a grid of ``cols``
    columns (default: one row). The write is atomic; the folder must exist."""
    from .media.images import save_png

    arr = images if isinstance(images, np.ndarray) and images.ndim == 3 else image_grid(images, cols)
    if arr.ndim != 3 or arr.dtype != np.uint8:
        raise InvalidArgumentError(f"an image must be uint8 [H, W, C] or [N, H, W, C], got {arr.dtype} of shape "
                                   f"{list(arr.shape)}")
    return save_png(arr, path)


__all__ = ["blend_models", "bundled", "convert", "embed", "generate", "image_grid", "interpolate", "load",
                      "save", "save_image", "seeds_to_ws"]
