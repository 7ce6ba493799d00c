"""The demo: blends (two and three models), style mixing, a morph and an embedding (W+, and W+ + features with
the bundled feature head) on the bundled emoji models.

A library function so that the CLI only prints; every file is written atomically.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from .blend import Swap, WeightTable, blend_checkpoints, save_blend, swap_sweep
from .blend.compat import check_configs
from .blend.preview import preview_grid
from .config_sg3 import AnyGeneratorConfig
from .io import Checkpoint, load_checkpoint
from .latents.crossover import mix_styles
from .latents.files import save_latents
from .latents.interpolate import lerp
from .latents.mapping import seeds_to_ws
from .media.images import make_grid, save_png, to_uint8
from .models import bundled_checkpoint, bundled_encoder_path, bundled_feature_head_path
from .render import render_ws

log = logging.getLogger(__name__)

DEMO_SEEDS = (1, 3, 5, 8, 13, 21)
TRUNCATION_PSI = 0.7
Written = list[tuple[Path, str]]


def labelled(grid: np.ndarray, labels: Sequence[str], cell: int, height: int = 14) -> np.ndarray:
    """Add a white strip with one centred label per column above a grid of ``cell``-wide columns."""
    strip = Image.new("RGB", (grid.shape[1], height), "white")
    draw = ImageDraw.Draw(strip)
    for i, text in enumerate(labels):
        width = draw.textlength(text)
        draw.text((i * cell + (cell - width) / 2, 1), text, fill="black")
    return np.concatenate([np.asarray(strip), grid], axis=0)


def _load(path: str | Path | None, name: str) -> Checkpoint:
    return load_checkpoint(path) if path is not None else bundled_checkpoint(name)


def blend_grids(base: Checkpoint, transfer: Checkpoint, outdir: Path, seeds: Sequence[int] = DEMO_SEEDS) -> Written:
    """Rows = seeds; columns = base, a swap at every resolution below full, transfer (and the flipped version)."""
    written: Written = []
    res_list = [r for r in base.g_config.block_resolutions if r < base.g_config.img_resolution]
    size = base.g_config.img_resolution
    for flip, name, what in [(False, "blend-grid.png", "structure from the transfer up to r, rendering from the base"),
                             (True, "blend-grid-flipped.png", "structure from the base up to r, rendering from the "
                                                              "transfer")]:
        models = [base, *(ckpt for _, ckpt, _ in swap_sweep(base, transfer, flip=flip, resolutions=res_list)), transfer]
        grid = preview_grid(models, seeds, truncation_psi=TRUNCATION_PSI)
        labels = ["base", *(f"swap {r}" for r in res_list), "transfer"]
        written.append((save_png(labelled(grid, labels, size), outdir / name), what))
    return written


# Three-model blends (Pinkney & Adler's "more than two models"): which model gives the structure
# (4-8 px), the mid-level features (16 px) and the rendering (32 px and up). Indices are into
# [base, transfer, third]; the labels name them by their short names.
THREE_MODEL_ORDERS = ((1, 2, 0), (2, 1, 0), (0, 1, 2), (0, 2, 1))
STRUCTURE_MAX, MID_MAX = 8, 16


def three_model_schedule(cfg: AnyGeneratorConfig, structure: int, mid: int, rendering: int) -> WeightTable:
    """One-hot weights over [base, transfer, third]: ``structure`` up to 8 px, ``mid`` at 16, ``rendering`` above."""
    def row(owner: int) -> tuple[float, ...]:
        return tuple(1.0 if i == owner else 0.0 for i in range(3))

    owner = {r: structure if r <= STRUCTURE_MAX else mid if r <= MID_MAX else rendering for r in cfg.block_resolutions}
    return WeightTable(tuple((r, row(owner[r])) for r in cfg.block_resolutions))


def three_model_grid(models: Sequence[tuple[str, Checkpoint]], outdir: Path, seeds: Sequence[int] = DEMO_SEEDS,
                     orders: Sequence[tuple[int, int, int]] = THREE_MODEL_ORDERS) -> Written:
    """Rows = seeds; columns = the three models, then one 3-model blend per (structure, mid, rendering) order.

    ``models`` is [(short name, checkpoint)] for [base, transfer, third]; a blend column is labelled
    'structure/mid/rendering' by short names. Every blend keeps the base's mapping network.
    """
    (_, base), *rest = models
    transfers = [ckpt for _, ckpt in rest]
    names = [name for name, _ in models]
    blends, labels = [], []
    for order in orders:
        blended, _ = blend_checkpoints(base, transfers, three_model_schedule(base.g_config, *order), hash_inputs=False)
        blends.append(blended)
        labels.append("/".join(names[i] for i in order))
    grid = preview_grid([ckpt for _, ckpt in models] + blends, seeds, truncation_psi=TRUNCATION_PSI)
    path = save_png(labelled(grid, [*names, *labels], base.g_config.img_resolution), outdir / "blend-grid-3models.png")
    return [(path, f"3-model blends, labelled structure (<= {STRUCTURE_MAX} px)/mid ({MID_MAX} px)/rendering: "
                   + ", ".join(names))]


def style_mixing(ckpt: Checkpoint, outdir: Path, rows: Sequence[int] = (1, 3, 5), cols: Sequence[int] = (8, 13, 21),
                 styles: Sequence[int] = (0, 1, 2, 3)) -> Written:
    """NVIDIA-style mixing grid: row seeds with the coarse styles (pose, shape) of the column seeds."""
    G = ckpt.generator()
    row_ws = seeds_to_ws(G, rows, TRUNCATION_PSI)
    col_ws = seeds_to_ws(G, cols, TRUNCATION_PSI)
    mixed = mix_styles(row_ws, col_ws, styles)
    cells = to_uint8(render_ws(G, mixed.reshape(-1, *mixed.shape[2:])))
    row_imgs, col_imgs = to_uint8(render_ws(G, row_ws)), to_uint8(render_ws(G, col_ws))
    tiles = [np.full_like(row_imgs[0], 255), *col_imgs]
    for i in range(len(rows)):
        tiles += [row_imgs[i], *cells[i * len(cols): (i + 1) * len(cols)]]
    grid = make_grid(np.stack(tiles), cols=len(cols) + 1)
    path = save_png(grid, outdir / "style-mixing.png")
    return [(path, f"rows take W+ {styles[0]}-{styles[-1]} (coarse) from the column seeds")]


def morph_strip(ckpts: Sequence[tuple[str, Checkpoint]], outdir: Path, seed_a: int = 3, seed_b: int = 21,
                steps: int = 8) -> Written:
    """Lerp in W between two seeds, one row per model, the same latents in every row."""
    rows = []
    for _, ckpt in ckpts:
        G = ckpt.generator()
        ws = seeds_to_ws(G, [seed_a, seed_b], TRUNCATION_PSI)
        rows.append(to_uint8(render_ws(G, lerp(ws[0:1], ws[1:2], torch.linspace(0, 1, steps)))))
    grid = make_grid(np.concatenate(rows), cols=steps)
    path = save_png(grid, outdir / "morph.png")
    names = ", ".join(name for name, _ in ckpts)
    return [(path, f"seed {seed_a} -> {seed_b} in W ({steps} steps); rows: {names}")]


HELDOUT = ("heldout-woman.png", "heldout-persevering.png")


def embedding(base: Checkpoint, renders: Sequence[tuple[str, Checkpoint]], outdir: Path, steps: int,
              say: Callable[[str], None], encoder: Path | None = None) -> Written:
    """Embed held-out emoji into the base (W+, the 'editable' method, started from ``encoder``'s prediction
    when one is given) and render each latent through every model.

    Rows: one per image; columns: target | each model in ``renders``.
    """
    from importlib import resources

    from .media.load import load_target
    from .project import project, resolve_loss, settings_for

    G = base.generator()
    loss, _, _ = resolve_loss("editable")  # without VGG-16 weights this logs a visible warning
    predict = None
    if encoder is not None:
        from .project.encoder import encode, load_encoder

        loaded = load_encoder(encoder)
        predict = lambda img: encode(loaded, G, img)  # noqa: E731
    rows, written = [], []
    for name in HELDOUT:
        with resources.as_file(resources.files("styleblend.data") / name) as path:
            target = load_target(path, G.img_resolution)
        init_ws = None
        if predict is not None:
            with torch.no_grad():
                init_ws = predict(target)
        result = project(G, target, settings_for("editable", steps=steps), loss, seed=0, init_ws=init_ws)
        row = [to_uint8(target)[0]]
        for _, ckpt in renders:
            row.append(to_uint8(render_ws(ckpt.generator(), result.ws))[0])
        rows.append(np.stack(row))
        latent = save_latents(outdir / f"embedding-{Path(name).stem}.npy", result.ws, "w")
        written.append((latent, f"W+ latent of {name} in the base (use with generate --w-file)"))
        say(f"  embedded {name}: loss {result.final_loss:.4f} after {result.steps_done} steps")
    size = base.g_config.img_resolution
    grid = make_grid(np.concatenate(rows), cols=len(renders) + 1)
    labels = ["held out", *(label for label, _ in renders)]
    path = save_png(labelled(grid, labels, size), outdir / "embedding.png")
    return [(path, "held-out emoji embedded with the base, rendered through each model (toonify)"), *written]


def feature_embedding(base: Checkpoint, renders: Sequence[tuple[str, Checkpoint]], outdir: Path, encoder: Path,
                      feature_head: Path) -> Written:
    """The held-out emoji of :func:`embedding` as W+ + features: ``encoder`` with ``feature_head``'s prediction
    (no optimisation: a fraction of a second), rendered through each model as toonify does
    (:func:`~styleblend.nn.feature_space.blend_features`: a model's own features plus the pair's change of the
    base's). Not a pure latent (docs/projection.md). Rows and columns as :func:`embedding`."""
    from importlib import resources

    from .media.load import load_target
    from .nn.feature_space import blend_features, synthesize_from_features
    from .project.encoder import load_encoder
    from .project.feature_encoder import check_head_encoder, encode_features, load_feature_head

    G = base.generator()
    enc, head = load_encoder(encoder), load_feature_head(feature_head)
    head.check_generator(G)
    check_head_encoder(head, encoder)
    block = head.cfg.block_res
    targets = []
    for name in HELDOUT:
        with resources.as_file(resources.files("styleblend.data") / name) as path:
            targets.append(load_target(path, G.img_resolution))
    target = torch.cat(targets)
    with torch.no_grad():  # all images in one batch: this strip should cost little beside the W+ one
        ws, feats = encode_features(enc, head, G, target)
        columns = [to_uint8(target)]
        for _, ckpt in renders:
            M = ckpt.generator()
            columns.append(to_uint8(synthesize_from_features(M, ws, blend_features(G, M, ws, feats, block), block)))
    rows = [np.stack([column[i] for column in columns]) for i in range(len(targets))]
    grid = make_grid(np.concatenate(rows), cols=len(renders) + 1)
    labels = ["held out", *(label for label, _ in renders)]
    path = save_png(labelled(grid, labels, base.g_config.img_resolution), outdir / "embedding-features.png")
    return [(path, f"the same emoji as W+ + {block} px features (the feature head's prediction, no steps; not a "
                   "pure latent), through each model")]


def run_demo(outdir: str | Path, base: str | Path | None = None, transfer: str | Path | None = None,
             embed_steps: int = 300, report: Callable[[str], None] | None = None,
             third: str | Path | None = None) -> Written:
    """Write the demo files into ``outdir`` and return (path, description) pairs.

    The 3-model grid uses ``third`` or, when base and transfer are both the bundled ones, the bundled
    third style; a custom pair without ``third`` skips it (the bundled third fits only the bundled base).
    """
    say = report or (lambda _: None)
    outdir = Path(outdir)
    base_ckpt, transfer_ckpt = _load(base, "base"), _load(transfer, "transfer")
    third_ckpt = _load(third, "fluent3d") if third is not None or (base is None and transfer is None) else None
    if third_ckpt is not None:  # refuse a third model that does not fit before writing anything
        check_configs(base_ckpt.g_config, third_ckpt.g_config, name=f"the third model ({third_ckpt.describe()})")
    written: Written = []
    say("blending by resolution ...")
    written += blend_grids(base_ckpt, transfer_ckpt, outdir)
    if third_ckpt is not None:
        say("blending three models ...")
        names = ("noto", "tw", "fl") if third is None else ("base", "transfer", "third")
        written += three_model_grid(list(zip(names, (base_ckpt, transfer_ckpt, third_ckpt))), outdir)
    else:
        say("no third model given (--third): skipping the 3-model grid")
    blend_res = base_ckpt.g_config.img_resolution // 4
    blended, recipe = blend_checkpoints(base_ckpt, [transfer_ckpt], Swap(blend_res))
    model_path, recipe_file = save_blend(blended, recipe, outdir / f"blend-swap{blend_res}.safetensors")
    written += [(model_path, f"a blended model (transfer's layers up to {blend_res} px)"),
                (recipe_file, "its recipe: inputs, schedule and alpha per layer")]
    say("style mixing ...")
    written += style_mixing(base_ckpt, outdir)
    say("morphing ...")
    models = [("base", base_ckpt), (f"swap {blend_res}", blended), ("transfer", transfer_ckpt)]
    written += morph_strip(models, outdir)
    if embed_steps > 0:
        encoder = bundled_encoder_path() if base is None else None  # the bundled encoder fits the bundled base only
        start = "from the bundled encoder's prediction, " if encoder is not None else ""
        say(f"embedding held-out emoji ({start}{embed_steps} steps each) ...")
        written += embedding(base_ckpt, models, outdir, embed_steps, say, encoder)
        head = bundled_feature_head_path() if encoder is not None else None  # the head of the bundled encoder
        if encoder is not None and head is not None:
            say("the same emoji as W+ + features (the bundled feature head, no steps) ...")
            written += feature_embedding(base_ckpt, models, outdir, encoder, head)
    return written
