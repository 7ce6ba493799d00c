"""The shape of ``io``: no import cycle through it (lazy imports included), formats below the registry, and no
format spelled or suffix-mapped outside it."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import styleblend
from styleblend.io.registry import FORMATS

SRC = Path(styleblend.__file__).parent
IO = "styleblend.io"
#: io modules above the registry, and the registry itself: nothing below them may import them.
TOP = {f"{IO}.registry", f"{IO}.detect", f"{IO}.files", f"{IO}.conversion", f"{IO}.hub", IO}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in SRC.rglob("*.py")}
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _imports(name: str) -> set[str]:
    """Every styleblend module ``name`` imports, at any depth (a function-level import is still an import)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in MODULES else target for a in node.names]
        else:
            continue
        found.update(t for t in targets if t in MODULES)
    return found


GRAPH = {name: _imports(name) for name in MODULES}


def _cycle_through(start: str) -> list[str] | None:
    """A shortest import path from ``start`` back to itself, or None."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for dep in sorted(GRAPH[node]):
                if dep == start:
                    return paths[node] + [start]
                if dep not in paths:
                    paths[dep] = paths[node] + [dep]
                    nxt.append(dep)
        frontier = nxt
    return None


def test_the_import_scan_sees_lazy_and_relative_imports():
    # The scan itself must find what it is meant to forbid, or the tests below would pass vacuously.
    assert f"{IO}.formats.nvidia_pkl" in GRAPH[f"{IO}.registry"]  # imported inside a function
    assert f"{IO}.checkpoint" in GRAPH[f"{IO}.formats.native"]  # '..checkpoint'
    assert "styleblend.nn" in GRAPH[f"{IO}.checkpoint"]  # lazy, inside Checkpoint.generator


def test_no_import_cycle_runs_through_io():
    cycles = [c for name in sorted(MODULES) if name.startswith(IO) and (c := _cycle_through(name))]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles[:3])


def test_formats_sit_on_the_core_and_the_registry_on_the_formats():
    for name, deps in GRAPH.items():
        if not name.startswith(IO) or name in TOP:
            continue
        # The core and the formats never reach up to the registry, detection, load/save or conversion.
        assert not deps & TOP, f"{name} imports {sorted(deps & TOP)}"
        if not name.startswith(f"{IO}.formats"):
            formats = {d for d in deps if d.startswith(f"{IO}.formats")}
            assert not formats, f"core module {name} imports the formats {sorted(formats)}"
    registry = {d for d in GRAPH[f"{IO}.registry"] if d.startswith(IO)}
    formats = {f"{IO}.formats.{m}" for m in ("native", "nvidia_pkl", "nvidia_tf", "rosinality")}
    assert formats <= registry <= {f"{IO}.format", f"{IO}.checkpoint"} | formats  # checkpoint: for type hints


def test_no_module_outside_io_spells_a_format_or_maps_suffixes():
    names = {f.name for f in FORMATS}
    suffixes = {s for f in FORMATS for s in f.suffixes}
    problems = []
    for name, path in MODULES.items():
        if name == IO or name.startswith(IO + "."):
            continue
        rel = path.relative_to(SRC)
        for node in ast.walk(TREES[name]):
            if isinstance(node, ast.Constant) and node.value in names:
                problems.append(f"{rel}:{node.lineno} spells the format {node.value!r}")
            elif isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
                items = node.keys + node.values if isinstance(node, ast.Dict) else node.elts
                hit = [i.value for i in items if isinstance(i, ast.Constant) and i.value in suffixes]
                if hit:
                    problems.append(f"{rel}:{node.lineno} lists format suffixes {hit}")
            elif isinstance(node, ast.ImportFrom) and node.module and "formats" in node.module.split("."):
                problems.append(f"{rel}:{node.lineno} imports a format module ({node.module}); ask "
                                "styleblend.io.registry")
    assert not problems, "\n".join(problems)


def test_the_registry_and_the_format_names_load_without_torch():
    code = ("import sys; from styleblend.io.registry import format_names, output_format; "
            "assert 'native' in format_names(writable=True); "
            "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))[:3]")
    env = {**os.environ, "PYTHONPATH": str(SRC.parent)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
