#!/usr/bin/env python3
"""Fetch the emoji "heads" data set used to train the bundled emoji models.

Downloads ``emoji-datasource-google`` and ``emoji-datasource-twitter`` from the npm
registry with ``npm pack``, extracts the metadata and the 64 px images with Python's
``tarfile`` (refusing any member whose path would escape the target folder), selects
the "heads" subset and copies the same file names from both styles into::

    <cache>/google/            training images, Noto style (64x64 RGBA PNG)
    <cache>/twitter/           training images, Twemoji style (same file names)
    <cache>/heldout-google/    held-out images for embedding tests and benchmarks
    <cache>/heldout-twitter/
    <cache>/manifest.json      what was selected, from where, and the split

The "heads" subset (see shared/notes/bundled-emoji-models.md):

* Smileys & Emotion, subcategories starting with ``face``;
* People & Body, subcategories ``person``, ``person-role`` and ``person-fantasy``;
* ``animal-mammal`` entries whose name contains "face";

each with all its skin-tone variants, keeping only emoji that have an image in both
styles (``has_img_google`` and ``has_img_twitter`` set, and the file present in both
``img/google/64/`` and ``img/twitter/64/``).

The held-out set is every ``--heldout-every``-th image in file-name order (index 0,
N, 2N, ...), so it is the same on every machine and every run.

Extra styles (``EXTRA_STYLES``) come from other npm packages and reuse that selection
and split: an emoji is matched by its code point sequence (``U+FE0F`` ignored), and
its image is written under the same file name as the Google one, 64 px::

    <cache>/fluent3d/          Microsoft Fluent Emoji 3D (MIT), training (RGBA PNG)
    <cache>/heldout-fluent3d/  the same 20 held-out emoji in that style
    <cache>/heldout-openmoji/  the 20 held-out emoji in OpenMoji's style (CC BY-SA 4.0),
                               composited on white: embedding targets only, never training

Emoji a package lacks are skipped and listed in the manifest. Each extra style is framed
like the Google images the base model learnt from: scaled about the canvas centre so that
the median extent of its content (alpha > 16) over the selected emoji equals the Google
images' median, an image's scale lowered where its content would otherwise be cut off.
OpenMoji is SVG only and is rasterised with ``resvg-py`` (``pip install resvg-py``, a
self-contained wheel; only this script needs it).

Usage::

    python3 scripts/fetch_emoji_data.py [--cache-dir data/emoji] [--version 16.0.0]
        [--styles google,twitter,fluent3d,openmoji]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE_DIR = REPO_ROOT / "data" / "emoji"
DEFAULT_VERSION = "16.0.0"
STYLES = ("google", "twitter")
IMAGE_SIZE = 64

# Subcategories taken whole from People & Body (with every skin-tone variant).
PEOPLE_SUBCATEGORIES = ("person", "person-role", "person-fantasy")

# A pixel counts as content when its alpha exceeds this (drops faint anti-aliasing and soft shadows).
CONTENT_ALPHA = 16
# SVGs are rendered this large, then framed and downsampled to IMAGE_SIZE like the raster styles.
SVG_RENDER_SIZE = 512


@dataclass(frozen=True)
class ExtraStyle:
    """An emoji style from another npm package, matched to the heads selection by code points.

    Attributes:
        name: output folder name (``<cache>/<name>/``, ``<cache>/heldout-<name>/``).
        package: npm package name.
        version: exact version, so the data set is reproducible.
        image_dir: folder inside the tarball whose files are named by code points
            (``1f469-1f3fe.webp``; case and ``fe0f`` do not matter).
        suffix: image file suffix in ``image_dir`` (``.svg`` is rasterised with resvg-py).
        notices: licence/readme files extracted beside the images, as evidence.
        licence: SPDX identifier of the images' licence.
        copyright: the holders to credit.
        licence_evidence: where the package states the licence (file and line).
        heldout_only: write only ``heldout-<name>/``, composited on white: a style for
            embedding targets that is never trained on.
    """

    name: str
    package: str
    version: str
    image_dir: str
    suffix: str
    notices: tuple[str, ...]
    licence: str
    copyright: str
    licence_evidence: str
    heldout_only: bool


EXTRA_STYLES = (
    ExtraStyle(
        name="fluent3d",
        package="@lobehub/fluent-emoji-3d",
        version="1.1.0",
        image_dir="package/assets/",
        suffix=".webp",
        notices=("package/package.json", "package/README.md"),
        licence="MIT",
        copyright="Microsoft Corporation (Fluent Emoji artwork, github.com/microsoft/fluentui-emoji); "
        "LobeHub (the npm packaging, 256 px WebP)",
        licence_evidence='package/package.json line 17: "license": "MIT"; package/README.md lines 23-26: '
        '"License ... This project is MIT licensed" (the tarball carries no LICENSE file)',
        heldout_only=False,
    ),
    ExtraStyle(
        name="openmoji",
        package="openmoji",
        version="17.0.0",
        image_dir="package/color/svg/",
        suffix=".svg",
        notices=("package/LICENSE.txt", "package/package.json", "package/README.md", "package/CITATION.cff"),
        licence="CC-BY-SA-4.0",
        copyright="All emojis designed by OpenMoji - the open-source emoji and icon project (openmoji.org)",
        licence_evidence='package/LICENSE.txt line 1: "Attribution-ShareAlike 4.0 International"; '
        'package/package.json line 39: "license": "CC-BY-SA-4.0"; package/README.md line 81',
        heldout_only=True,
    ),
)


class FetchError(RuntimeError):
    """The packages could not be fetched, extracted or understood."""


@dataclass(frozen=True)
class Selected:
    """One selected emoji image (a base emoji or one of its skin-tone variants)."""

    name: str
    category: str
    subcategory: str
    file: str
    skin_tone: str | None

    def to_json(self) -> dict[str, str | None]:
        """Return the manifest entry for this image."""
        return {
            "name": self.name,
            "category": self.category,
            "subcategory": self.subcategory,
            "file": self.file,
            "skin_tone": self.skin_tone,
        }


def flat_name(package: str) -> str:
    """Return ``package`` as npm names its tarball: ``@scope/name`` -> ``scope-name``."""
    return package.lstrip("@").replace("/", "-")


def npm_pack(package: str, version: str, dest: Path) -> Path:
    """Download ``package@version`` as a tarball into ``dest`` (cached).

    Args:
        package: npm package name.
        version: exact version, so the data set is reproducible.
        dest: folder for the tarball.

    Returns:
        Path of the ``.tgz`` file.

    Raises:
        FetchError: npm is missing or ``npm pack`` failed.
    """
    tarball = dest / f"{flat_name(package)}-{version}.tgz"
    if tarball.is_file():
        return tarball
    npm = shutil.which("npm")
    if npm is None:
        raise FetchError("npm was not found on PATH; install Node.js/npm (e.g. `apt-get install npm`) and retry")
    dest.mkdir(parents=True, exist_ok=True)
    print(f"npm pack {package}@{version} ...", flush=True)
    # --ignore-scripts: we only want the tarball; nothing from the package may run.
    result = subprocess.run(
        [npm, "pack", f"{package}@{version}", "--pack-destination", str(dest), "--ignore-scripts", "--silent"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not tarball.is_file():
        raise FetchError(
            f"`npm pack {package}@{version}` failed (exit {result.returncode}): {result.stderr.strip()[-500:]}"
        )
    return tarball


def _is_safe_member(member: tarfile.TarInfo, target: Path) -> bool:
    """Tell whether extracting ``member`` under ``target`` stays inside ``target``.

    Only regular files and folders are allowed: links could point outside the target
    and device files have no business in an npm package.
    """
    if not (member.isfile() or member.isdir()):
        return False
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or "\\" in member.name:
        return False
    resolved = (target / member.name).resolve()
    return resolved == target or target in resolved.parents


def safe_extract(tarball: Path, target: Path, wanted: tuple[str, ...]) -> int:
    """Extract the members of ``tarball`` whose names start with one of ``wanted``.

    Every member of the archive is checked, not just the wanted ones, so a malicious
    archive is refused whole rather than partly used.

    Args:
        tarball: the ``.tgz`` to read.
        target: folder to extract into (created if needed).
        wanted: name prefixes to extract, e.g. ``("package/emoji.json",)``.

    Returns:
        Number of files extracted.

    Raises:
        FetchError: a member would escape ``target`` or is not a regular file/folder.
    """
    target.mkdir(parents=True, exist_ok=True)
    target = target.resolve()
    count = 0
    with tarfile.open(tarball, "r:gz") as tar:
        members = tar.getmembers()
        bad = [m.name for m in members if not _is_safe_member(m, target)]
        if bad:
            raise FetchError(f"{tarball.name}: refusing to extract unsafe members "
                             f"(links or paths escaping the target): {bad[:5]}")
        for member in members:
            if member.isfile() and member.name.startswith(wanted):
                # filter="data" is a second line of defence (also drops odd permission bits).
                tar.extract(member, target, filter="data")
                count += 1
    return count


def fetch_package(style: str, version: str, cache: Path) -> Path:
    """Download and extract one emoji-datasource style's package; return its ``package/`` folder."""
    wanted = ("package/emoji.json", "package/package.json", f"package/img/{style}/{IMAGE_SIZE}/")
    return fetch_npm(f"emoji-datasource-{style}", version, cache, wanted)


def fetch_npm(package: str, version: str, cache: Path, wanted: tuple[str, ...]) -> Path:
    """Download ``package@version``, extract the members under ``wanted``; return its ``package/`` folder."""
    tarball = npm_pack(package, version, cache / "npm")
    root = cache / "extracted" / f"{flat_name(package)}-{version}"
    marker = root / ".complete"
    if not marker.is_file():
        if root.exists():
            shutil.rmtree(root)
        n = safe_extract(tarball, root, wanted)
        print(f"extracted {n} files from {tarball.name}")
        marker.write_text("ok\n")
    return root / "package"


def _has_both(entry: dict, files: dict[str, set[str]]) -> bool:
    """Tell whether an emoji.json entry (or skin variation) has an image in both styles."""
    image = entry.get("image")
    return bool(
        image
        and all(entry.get(f"has_img_{style}") for style in STYLES)
        and all(image in files[style] for style in STYLES)
    )


def is_head(entry: dict) -> bool:
    """Tell whether an emoji.json entry belongs to the "heads" subset (before image checks)."""
    category = entry.get("category", "")
    subcategory = entry.get("subcategory", "")
    name = (entry.get("name") or entry.get("short_name") or "").lower()
    if category == "Smileys & Emotion" and subcategory.startswith("face"):
        return True
    if category == "People & Body" and subcategory in PEOPLE_SUBCATEGORIES:
        return True
    return subcategory == "animal-mammal" and "face" in name


def select_heads(emoji: list[dict], files: dict[str, set[str]]) -> tuple[list[Selected], int]:
    """Select the heads subset with images in both styles.

    Args:
        emoji: parsed ``emoji.json`` of the google package.
        files: for each style, the file names present in ``img/<style>/64/``.

    Returns:
        The selected images sorted by file name, and how many candidate images were
        dropped because a style lacks them.
    """
    selected: dict[str, Selected] = {}
    dropped = 0
    for entry in emoji:
        if not is_head(entry):
            continue
        name = entry.get("name") or entry.get("short_name") or entry["image"]
        candidates: list[tuple[dict, str | None]] = [(entry, None)]
        for tone, variation in sorted((entry.get("skin_variations") or {}).items()):
            candidates.append((variation, tone))
        for item, tone in candidates:
            if not _has_both(item, files):
                dropped += 1
                continue
            file = item["image"]
            # A file name is the emoji's code points, so duplicates are the same picture.
            selected.setdefault(
                file,
                Selected(name=name, category=entry["category"], subcategory=entry["subcategory"], file=file,
                         skin_tone=tone),
            )
    return sorted(selected.values(), key=lambda s: s.file), dropped


def _reset_dir(path: Path) -> None:
    """Empty ``path`` so a rerun never leaves stale images behind."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def code_key(file_stem: str) -> str:
    """Return the key an emoji is matched by across packages: lower-case code points without ``fe0f``.

    Packages disagree on whether the variation selector U+FE0F is part of a file name
    (``2620-fe0f.png`` vs ``2620.svg``) and on case (OpenMoji is upper-case).
    """
    return "-".join(part for part in file_stem.lower().split("-") if part != "fe0f")


def index_images(image_dir: Path, suffix: str) -> dict[str, Path]:
    """Map :func:`code_key` -> image file for every ``*suffix`` in ``image_dir`` (first by name wins)."""
    index: dict[str, Path] = {}
    for path in sorted(image_dir.glob(f"*{suffix}")):
        index.setdefault(code_key(path.stem), path)
    return index


def load_rgba(path: Path) -> Image.Image:
    """Decode a raster image, or rasterise an SVG at ``SVG_RENDER_SIZE``, as a square RGBA image."""
    if path.suffix.lower() == ".svg":
        try:
            import resvg_py  # only this script needs it, and only for SVG styles
        except ImportError as exc:
            raise FetchError(
                f"{path.name} is an SVG and resvg-py is not installed; `pip install resvg-py` and retry"
            ) from exc
        png = resvg_py.svg_to_bytes(svg_path=str(path), width=SVG_RENDER_SIZE, height=SVG_RENDER_SIZE)
        im = Image.open(io.BytesIO(bytes(png)))
    else:
        im = Image.open(path)
    im.load()
    rgba = im.convert("RGBA")
    if rgba.width != rgba.height:  # pad to a square, centred, so framing works about the centre
        side = max(rgba.size)
        square = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        square.paste(rgba, ((side - rgba.width) // 2, (side - rgba.height) // 2))
        rgba = square
    return rgba


def content_box(rgba: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box of the pixels with alpha > ``CONTENT_ALPHA``, or None for an empty image."""
    return rgba.getchannel("A").point(lambda v: 255 if v > CONTENT_ALPHA else 0).getbbox()


def extent(rgba: Image.Image) -> float:
    """Longer side of :func:`content_box` as a fraction of the canvas side (0 when empty)."""
    box = content_box(rgba)
    if box is None:
        return 0.0
    return max(box[2] - box[0], box[3] - box[1]) / rgba.width


def frame(rgba: Image.Image, zoom: float, size: int) -> tuple[Image.Image, float]:
    """Scale ``rgba`` by ``zoom`` about the canvas centre and resample it to ``size`` x ``size``.

    The zoom is lowered for this image where its content would otherwise leave the canvas.
    Resampling (Lanczos) runs on premultiplied alpha, so transparent pixels' colours do not
    bleed into the edges.

    Returns:
        The RGBA image and the zoom actually used.
    """
    side = rgba.width
    centre = side / 2
    box = content_box(rgba)
    if box is not None:
        reach = max(centre - box[0], box[2] - centre, centre - box[1], box[3] - centre)
        if reach > 0:
            zoom = min(zoom, centre / reach)
    half = centre / zoom
    premultiplied = rgba.convert("RGBa")
    if half > centre:  # zooming out: pad with transparency first
        pad = int(half - centre) + 1
        padded = Image.new("RGBa", (side + 2 * pad, side + 2 * pad), (0, 0, 0, 0))
        padded.paste(premultiplied, (pad, pad))
        premultiplied, centre = padded, centre + pad
    crop = (centre - half, centre - half, centre + half, centre + half)
    out = premultiplied.resize((size, size), Image.Resampling.LANCZOS, box=crop)
    return out.convert("RGBA"), zoom


def on_white(rgba: Image.Image) -> Image.Image:
    """Composite RGBA on white and return RGB."""
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def write_extra_style(
    style: ExtraStyle,
    package_dir: Path,
    train: list[Selected],
    heldout: list[Selected],
    reference_extent: float,
    cache: Path,
) -> dict:
    """Write one extra style's folders (same file names and split as Google); return its manifest entry.

    Args:
        style: the style to write.
        package_dir: its extracted ``package/`` folder.
        train: the training split of the heads selection (skipped for a held-out-only style).
        heldout: the held-out split.
        reference_extent: median content extent of the Google images, the framing to match.
        cache: output folder.
    """
    index = index_images(package_dir.parent / style.image_dir, style.suffix)
    if not index:
        raise FetchError(f"{style.package}@{style.version}: no *{style.suffix} images in {style.image_dir}")
    splits = [("heldout-", heldout)] if style.heldout_only else [("", train), ("heldout-", heldout)]
    source = {s.file: index.get(code_key(Path(s.file).stem)) for s in [*train, *heldout]}
    missing = sorted(s.file for _, items in splits for s in items if source[s.file] is None)
    # The style's own scale: its median content extent over every emoji of the whole selection it
    # has (also for a held-out-only style, so 20 images do not decide it). Images are decoded one at
    # a time: 953 SVGs rendered at 512 px would take 1 GB at once.
    style_extent = statistics.median(extent(load_rgba(path)) for path in source.values() if path is not None)
    zoom = reference_extent / style_extent
    counts: dict[str, int] = {}
    zooms: list[float] = []
    for split, items in splits:
        out_dir = cache / f"{split}{style.name}"
        _reset_dir(out_dir)
        counts["train" if not split else "heldout"] = 0
        for s in items:
            if s.file in missing:
                continue
            framed, used = frame(load_rgba(source[s.file]), zoom, IMAGE_SIZE)
            zooms.append(used)
            # Held-out-only styles are embedding targets: stored the way they are compared, on white.
            (on_white(framed) if style.heldout_only else framed).save(out_dir / s.file)
            counts["train" if not split else "heldout"] += 1
    return {
        "package": style.package,
        "version": style.version,
        "licence": style.licence,
        "copyright": style.copyright,
        "licence_evidence": style.licence_evidence,
        "use": "held-out embedding targets only, never training" if style.heldout_only else "training + held-out",
        "format": ("RGB PNG composited on white" if style.heldout_only else "RGBA PNG") + f", {IMAGE_SIZE} px",
        "framing": {
            "reference_extent_google": round(reference_extent, 4),
            "style_extent_median": round(style_extent, 4),
            "zoom": round(zoom, 4),
            "images_with_lowered_zoom": sum(1 for z in zooms if z < zoom - 1e-9),
        },
        "counts": counts,
        "missing": missing,
        "matched_in_selection": sum(1 for path in source.values() if path is not None),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the fetch; return the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR,
                        help="output/cache folder (default: data/emoji)")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="emoji-datasource version (default: %(default)s)")
    parser.add_argument("--heldout-every", type=int, default=50, help="hold out every N-th image by file name "
                                                                      "(default: %(default)s)")
    known = list(STYLES) + [s.name for s in EXTRA_STYLES]
    parser.add_argument(
        "--styles",
        default=",".join(known),
        help="comma-separated styles whose folders to (re)write; the selection always comes from "
        "google+twitter and manifest.json is always rewritten (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    if args.heldout_every < 2:
        parser.error(f"--heldout-every must be >= 2, got {args.heldout_every}")
    write = [name.strip() for name in args.styles.split(",") if name.strip()]
    unknown = [name for name in write if name not in known]
    if unknown:
        parser.error(f"--styles: unknown style(s) {unknown}; known: {','.join(known)}")
    cache: Path = args.cache_dir.resolve()

    try:
        packages = {style: fetch_package(style, args.version, cache) for style in STYLES}
        extra_packages = {
            style.name: fetch_npm(style.package, style.version, cache, (style.image_dir, *style.notices))
            for style in EXTRA_STYLES
            if style.name in write
        }
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    emoji = json.loads((packages["google"] / "emoji.json").read_text(encoding="utf-8"))
    image_dirs = {style: packages[style] / "img" / style / str(IMAGE_SIZE) for style in STYLES}
    files = {style: {p.name for p in image_dirs[style].glob("*.png")} for style in STYLES}
    selected, dropped = select_heads(emoji, files)
    if not selected:
        print("error: no emoji selected; has the emoji.json layout changed?", file=sys.stderr)
        return 1

    heldout = [s for i, s in enumerate(selected) if i % args.heldout_every == 0]
    heldout_files = {s.file for s in heldout}
    train = [s for s in selected if s.file not in heldout_files]

    for style in STYLES:
        if style not in write:
            continue
        for split, items in (("", train), ("heldout-", heldout)):
            out_dir = cache / f"{split}{style}"
            _reset_dir(out_dir)
            for s in items:
                shutil.copyfile(image_dirs[style] / s.file, out_dir / s.file)

    counts: dict[str, int] = {}
    for s in selected:
        key = f"{s.category} / {s.subcategory}"
        counts[key] = counts.get(key, 0) + 1
    manifest = {
        "source": {f"emoji-datasource-{style}": args.version for style in STYLES},
        "image_size": IMAGE_SIZE,
        "styles": list(STYLES),
        "selection": (
            "Smileys & Emotion face*; People & Body person, person-role, person-fantasy; "
            "animal-mammal with 'face' in the name; all skin tones; image in both styles"
        ),
        "heldout_rule": f"every {args.heldout_every}th image by sorted file name, starting at index 0",
        "counts": {"total": len(selected), "train": len(train), "heldout": len(heldout), "by_subcategory": counts},
        "train": [s.to_json() for s in train],
        "heldout": [s.to_json() for s in heldout],
    }
    # Extra styles: recorded in the manifest even when not rewritten this run (kept from the last one).
    previous: dict = {}
    if (cache / "manifest.json").is_file():
        previous = json.loads((cache / "manifest.json").read_text(encoding="utf-8")).get("extra_styles", {})
    reference_extent = statistics.median(extent(load_rgba(image_dirs["google"] / s.file)) for s in selected)
    extra: dict[str, dict] = {}
    for style in EXTRA_STYLES:
        if style.name in extra_packages:
            try:
                extra[style.name] = write_extra_style(
                    style, extra_packages[style.name], train, heldout, reference_extent, cache
                )
            except FetchError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
        elif style.name in previous:
            extra[style.name] = previous[style.name]
    if extra:
        manifest["extra_styles"] = extra
    tmp = cache / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, cache / "manifest.json")

    for key, n in sorted(counts.items()):
        print(f"  {key:45s} {n:5d}")
    print(f"selected {len(selected)} images in both styles ({dropped} candidates dropped: missing in a style)")
    for style in STYLES:
        if style in write:
            heldout_dir = cache / f"heldout-{style}"
            print(f"{style}: train {len(train)} -> {cache / style}, heldout {len(heldout)} -> {heldout_dir}")
    for name, entry in extra.items():
        if name in extra_packages:
            c = entry["counts"]
            print(
                f"{name} ({entry['package']}@{entry['version']}, {entry['licence']}): train {c.get('train', 0)}, "
                f"heldout {c['heldout']}, missing {len(entry['missing'])}, zoom {entry['framing']['zoom']}"
            )
    print(f"manifest -> {cache / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
