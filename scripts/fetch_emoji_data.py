#!/usr/bin/env python3
"""Fetch the emoji "heads" data set used to train the bundled emoji model pair.

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

Usage::

    python3 scripts/fetch_emoji_data.py [--cache-dir data/emoji] [--version 16.0.0]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE_DIR = REPO_ROOT / "data" / "emoji"
DEFAULT_VERSION = "16.0.0"
STYLES = ("google", "twitter")
IMAGE_SIZE = 64

# Subcategories taken whole from People & Body (with every skin-tone variant).
PEOPLE_SUBCATEGORIES = ("person", "person-role", "person-fantasy")


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
    tarball = dest / f"{package}-{version}.tgz"
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
            raise FetchError(f"{tarball.name}: refusing to extract unsafe members (links or paths escaping the target): {bad[:5]}")
        for member in members:
            if member.isfile() and member.name.startswith(wanted):
                # filter="data" is a second line of defence (also drops odd permission bits).
                tar.extract(member, target, filter="data")
                count += 1
    return count


def fetch_package(style: str, version: str, cache: Path) -> Path:
    """Download and extract one style's package; return its ``package/`` folder."""
    package = f"emoji-datasource-{style}"
    tarball = npm_pack(package, version, cache / "npm")
    root = cache / "extracted" / f"{package}-{version}"
    marker = root / ".complete"
    if not marker.is_file():
        if root.exists():
            shutil.rmtree(root)
        wanted = ("package/emoji.json", "package/package.json", f"package/img/{style}/{IMAGE_SIZE}/")
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
                Selected(name=name, category=entry["category"], subcategory=entry["subcategory"], file=file, skin_tone=tone),
            )
    return sorted(selected.values(), key=lambda s: s.file), dropped


def _reset_dir(path: Path) -> None:
    """Empty ``path`` so a rerun never leaves stale images behind."""
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def main(argv: list[str] | None = None) -> int:
    """Run the fetch; return the process exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE_DIR, help="output/cache folder (default: data/emoji)")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="emoji-datasource version (default: %(default)s)")
    parser.add_argument("--heldout-every", type=int, default=50, help="hold out every N-th image by file name (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.heldout_every < 2:
        parser.error(f"--heldout-every must be >= 2, got {args.heldout_every}")
    cache: Path = args.cache_dir.resolve()

    try:
        packages = {style: fetch_package(style, args.version, cache) for style in STYLES}
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
    tmp = cache / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, cache / "manifest.json")

    for key, n in sorted(counts.items()):
        print(f"  {key:45s} {n:5d}")
    print(f"selected {len(selected)} images in both styles ({dropped} candidates dropped: missing in a style)")
    print(f"train {len(train)} -> {cache / 'google'}, {cache / 'twitter'}")
    print(f"heldout {len(heldout)} -> {cache / 'heldout-google'}, {cache / 'heldout-twitter'}")
    print(f"manifest -> {cache / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
