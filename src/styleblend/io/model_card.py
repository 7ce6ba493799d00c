"""The lineage and model card of a hub-style model folder (:mod:`styleblend.io.hub`).

The lineage is what styleblend knows of where a model's weights come from - the file they were read from, a
blend's parents and schedule, a training run's options - each with the SHA-256 that identifies it; the card
(``README.md``) shows it beside the architecture and the licence, with the Hub's YAML front matter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..config_sg3 import generator_config_from_dict, is_stylegan3
from ..errors import InvalidArgumentError
from .checkpoint import Checkpoint
from .digest import file_sha256

#: Largest ``.recipe.json`` read for a blend's lineage (the same budget as a folder's config.json).
MAX_RECIPE_BYTES = 4 * 2**20
MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def lineage_of(ckpt: Checkpoint, recipe: Any = None) -> dict[str, Any]:
    """What ``ckpt``'s weights were made from, as far as it is known (JSON-able).

    Keys (each only when known):
        source: the file the weights were read from: ``{file, format, sha256}``;
        blend: ``{schedule, mapping, parents: [{role, file, format, sha256}]}`` from ``recipe``, the
            ``.recipe.json`` beside the source file, or the checkpoint's own blend note (then the parents'
            SHA-256 are those of the files as they are now, None for files that are gone);
        training: ``{kimg, options}`` of a styleblend training snapshot (its ``options.json``);
        started_from: the NVIDIA pickle a training run fine-tuned (``{format, path, sha256}``);
        credit / trained_from: notes the bundled models carry.
    """
    meta = ckpt.meta
    out: dict[str, Any] = {}
    source = Path(ckpt.source) if ckpt.source is not None else None
    blend = _blend_lineage(meta, source, recipe)
    parents = {p.get("path") for p in (blend or {}).get("parents", [])}
    if source is not None and source.is_file() and str(source) not in parents:
        out["source"] = {"file": source.name, "format": ckpt.format, "sha256": file_sha256(source)}
    if blend is not None:
        for parent in blend["parents"]:
            parent["file"] = Path(parent.pop("path")).name if parent.get("path") else None
        out["blend"] = blend
    if isinstance(meta.get("training_options"), dict):
        out["training"] = {"kimg": meta.get("kimg"), "options": meta["training_options"]}
    for key in ("started_from", "credit", "trained_from"):
        if meta.get(key):
            out[key] = meta[key]
    plain: dict[str, Any] = json.loads(json.dumps(out, default=str))  # JSON-able: paths and the like as text
    return plain


def _blend_lineage(meta: Mapping[str, Any], source: Path | None, recipe: Any) -> dict[str, Any] | None:
    record: Any = None
    if recipe is not None:
        record = recipe.to_dict() if hasattr(recipe, "to_dict") else recipe
        if not isinstance(record, Mapping):
            raise InvalidArgumentError(f"recipe must be a blend Recipe or its dict, not a {type(recipe).__name__}")
    elif isinstance(meta.get("blend"), Mapping) and source is not None:
        beside = source.with_name(source.name + ".recipe.json")
        if beside.is_file() and beside.stat().st_size <= MAX_RECIPE_BYTES:
            try:
                record = json.loads(beside.read_bytes())
            except (ValueError, RecursionError, OSError):
                record = None
        if not isinstance(record, Mapping):  # no readable recipe: the note the blend left in the weights
            note = meta["blend"]
            paths = note.get("inputs") if isinstance(note.get("inputs"), list) else []
            record = {"schedule": note.get("schedule"), "mapping": note.get("mapping"),
                      "inputs": [{"role": _role(i, len(paths)), "path": p, "format": None,
                                  "sha256": file_sha256(p) if isinstance(p, str) and Path(p).is_file() else None}
                                 for i, p in enumerate(paths)]}
    if record is None:
        return None
    inputs = record.get("inputs") if isinstance(record.get("inputs"), list) else []
    parents = [{"role": i.get("role"), "path": i.get("path"), "format": i.get("format"), "sha256": i.get("sha256")}
               for i in inputs if isinstance(i, Mapping)]
    return {"schedule": record.get("schedule"), "mapping": record.get("mapping"), "parents": parents}


def _role(index: int, count: int) -> str:
    """The names blend recipes give their inputs: base, transfer (two models) or transfer1, transfer2, ..."""
    return "base" if index == 0 else "transfer" if count == 2 else f"transfer{index}"


def model_card(config: Mapping[str, Any], title: str) -> str:
    """The ``README.md`` of a model folder: Hub front matter, architecture, lineage and how to load it."""
    g = config["g_config"]
    s = g.get("synthesis", {})
    license = config.get("license")
    cfg = generator_config_from_dict(dict(g))
    family = "StyleGAN3" if is_stylegan3(cfg) else "StyleGAN2"
    k = s.get("conv_kernel")
    architecture = s.get("architecture") or f"{s.get('num_layers')} layers, {k}x{k} convs"
    lines = ["---", "library_name: styleblend", f"license: {license or 'other'}",
             "tags:", f"- {family.lower()}", "- gan", "- image-generation", "- styleblend", "---", "",
             f"# {title}", "",
             f"A {family} generator of {cfg.img_resolution}x{cfg.img_resolution} images, saved by styleblend "
             f"{config.get('styleblend_version')}: `{MODEL_FILE}` holds the weights, `{CONFIG_FILE}` the architecture; "
             "no code travels with them.", "",
             "## Architecture", "",
             "| | |", "| --- | --- |",
             f"| resolution | {cfg.img_resolution} px, {cfg.img_channels} channels |",
             f"| z_dim / w_dim / c_dim | {cfg.z_dim} / {cfg.w_dim} / {cfg.c_dim} |",
             f"| num_ws (W+ entries) | {cfg.num_ws} |",
             f"| mapping layers | {cfg.mapping.num_layers} |",
             f"| synthesis | {architecture}, channel_base {s.get('channel_base')}, channel_max "
             f"{s.get('channel_max')}, num_fp16_res {s.get('num_fp16_res')} |",
             f"| networks | {', '.join(config.get('networks') or [])} (stored as {config.get('dtype')}) |", "",
             "## Licence", "",
             (f"`{license}` (as stated by whoever saved the model)." if license else
              "Not stated: ask the model's author before you use or share it."), "",
             "## Lineage", ""]
    lines += _lineage_lines(config.get("lineage") or {})
    lines += ["", "## Use", "", "```python", "from styleblend.io import load_checkpoint",
              "G = load_checkpoint('path/to/this/folder').generator()  # or 'owner/name' on the Hub", "```", "",
              "or `styleblend generate --network path/to/this/folder --seeds 0-7 --outdir out`.", ""]
    return "\n".join(lines)


def _lineage_lines(lineage: Mapping[str, Any]) -> list[str]:
    lines = []
    source = lineage.get("source")
    if isinstance(source, Mapping):
        lines.append(f"- Weights read from `{source.get('file')}` ({source.get('format')}), "
                     f"SHA-256 `{source.get('sha256')}`.")
    blend = lineage.get("blend")
    if isinstance(blend, Mapping):
        lines.append(f"- A blend (schedule `{blend.get('schedule')}`, "
                     f"mapping network from `{blend.get('mapping')}`) of:")
        for p in blend.get("parents") or []:
            lines.append(f"  - {p.get('role')}: `{p.get('file')}`" + (f" ({p['format']})" if p.get("format") else "")
                         + (f", SHA-256 `{p['sha256']}`" if p.get("sha256") else ", SHA-256 unknown"))
    started = lineage.get("started_from")
    if isinstance(started, Mapping):
        lines.append(f"- Fine-tuned from the NVIDIA pickle `{Path(str(started.get('path'))).name}`, SHA-256 "
                     f"`{started.get('sha256')}`.")
    if lineage.get("trained_from"):
        lines.append(f"- Trained from `{lineage['trained_from']}`.")
    training = lineage.get("training")
    if isinstance(training, Mapping):
        lines += [f"- Trained by `styleblend train` for {training.get('kimg')} kimg with these options "
                  "(its `options.json`):", "", "```json", json.dumps(training.get("options"), indent=2), "```"]
    if lineage.get("credit"):
        lines.append(f"- Credit: {lineage['credit']}")
    return lines or ["Unknown: the weights were saved from memory without a record of their origin."]
