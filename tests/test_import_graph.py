"""The package's import graph, read statically from the source (nothing is imported).

1. No import cycle among styleblend modules, nor among its sub-packages (``render`` <-> ``latents``
   is a cycle of concepts even when no single pair of modules closes it). Imports inside functions
   count too: a lazy import hides a cycle from Python, not from a reader. The only lazy imports left
   out are the documented ones in :data:`LAZY_ALLOWED`; ``if TYPE_CHECKING:`` imports never run.
2. No name is imported through a module that neither defines nor uses it: such an import looks
   unused there, and ``ruff --fix`` would delete it and break the importer. Deliberate re-exports
   say so with ``__all__`` or ``# noqa: F401``.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

import styleblend

ROOT = "styleblend"

# Function-local imports (importer, imported) that may close a cycle, each with its reason. Keep it short.
LAZY_ALLOWED: dict[tuple[str, str], str] = {}

# Cycles being removed on other branches, each with the branch; the lead deletes an entry when merging its fix.
# (io.checkpoint <-> io.formats was the last one; the format registry removed it.)
KNOWN_CYCLES: dict[frozenset[str], str] = {}


@functools.cache
def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def modules(src: Path) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is it a package's __init__) for every module under ``src``."""
    out = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(mods: dict[str, tuple[Path, bool]], name: str) -> list[tuple[str, str | None, bool, int]]:
    """(module imported, name taken from it or None for a whole module, function-local?, line)."""
    path, is_pkg = mods[name]
    out = []

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _is_type_checking(child):
                continue
            if isinstance(child, ast.Import):
                out.extend((a.name, None, local, child.lineno) for a in child.names if a.name.split(".")[0] == ROOT)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[:len(base) - (child.level - 1)]
                    module = ".".join(base + ([child.module] if child.module else []))
                else:
                    module = child.module or ""
                if module.split(".")[0] == ROOT:
                    for a in child.names:
                        sub = f"{module}.{a.name}"
                        out.append((sub, None, local, child.lineno) if sub in mods
                                   else (module, a.name, local, child.lineno))
            visit(child, local or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(_parse(path), False)
    return out


def graph(mods: dict[str, tuple[Path, bool]]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for m in mods:
        for target, _, local, _ in imports(mods, m):
            if target in mods and target != m and not (local and (m, target) in LAZY_ALLOWED):
                edges[m].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[frozenset[str]]:
    """Strongly connected components with more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while not comp or w != v:
                w = stack.pop()
                comp.add(w)
            if len(comp) > 1:
                found.append(frozenset(comp))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def package_graph(edges: dict[str, set[str]]) -> dict[str, set[str]]:
    """Collapse modules to sub-packages ('styleblend.latents.files' -> 'styleblend.latents').

    The front door (the root package) may import everything; nothing may import it back.
    """
    def package(m: str) -> str:
        return ".".join(m.split(".")[:2])

    out: dict[str, set[str]] = {}
    for m, targets in edges.items():
        out.setdefault(package(m), set())
        if package(m) != ROOT:
            out[package(m)] |= {package(t) for t in targets} - {package(m)}
    return out


def borrowed_names(mods: dict[str, tuple[Path, bool]]) -> list[str]:
    """Imports of a name through a module (not a package) that neither defines, uses nor exports it."""
    out = []
    for m in mods:
        for target, name, _, line in imports(mods, m):
            if name is None or name == "*" or target not in mods or mods[target][1]:
                continue
            tree = _parse(mods[target][0])
            defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
            own = {n.name for n in ast.walk(tree) if isinstance(n, defs)}
            own |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}  # assigned or used there
            src = mods[target][0].read_text(encoding="utf-8").splitlines()
            noqa = {(a.asname or a.name) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
                    and "noqa: F401" in src[n.end_lineno - 1] for a in n.names}
            exported = {e.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                        and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)
                        for e in ast.walk(n.value) if isinstance(e, ast.Constant)}
            if name not in own | noqa | exported:
                out.append(f"{m} imports {name} from {target} (line {line})")
    return out


SRC_MODULES = modules(Path(styleblend.__file__).parent)


def test_no_import_cycle_among_modules():
    found = [sorted(c) for c in cycles(graph(SRC_MODULES)) if c not in KNOWN_CYCLES]
    assert found == [], f"import cycles: {found}"


def test_no_import_cycle_among_subpackages():
    known = {frozenset(".".join(m.split(".")[:2]) for m in c) for c in KNOWN_CYCLES}
    found = [sorted(c) for c in cycles(package_graph(graph(SRC_MODULES))) if c not in known]
    assert found == [], f"cycles between sub-packages: {found}"


def test_names_are_imported_from_a_module_that_has_them():
    found = borrowed_names(SRC_MODULES)
    assert found == [], "import these from the module that defines them:\n" + "\n".join(found)


def test_the_checks_catch_a_lazy_cycle_a_package_cycle_and_a_borrowed_name(tmp_path):
    pkg = tmp_path / ROOT
    (pkg / "a").mkdir(parents=True)
    files = {
        "__init__.py": "def __getattr__(name):\n    from .a import x\n",  # the front door: allowed
        "a/__init__.py": "",
        "a/x.py": "from ..b import helper\n\ndef f():\n    from ..c import g\n",  # lazy: still counts
        "a/y.py": "X = 1\n",
        "b.py": "from .c import g\n\ndef helper():\n    pass\n",  # imports g, never uses it
        "c.py": "from .a.x import f\nfrom .a import y\n\ndef g():\n    pass\n",
        "d.py": "from .b import g\n",  # takes g from b, where it is unused
        "e.py": "from .a.y import X\n\nif TYPE_CHECKING:\n    from .f import Y\n",
        "f.py": "from .e import X\n",
    }
    for rel, text in files.items():
        (pkg / rel).write_text(text)
    mods = modules(pkg)
    edges = graph(mods)
    assert cycles(edges) == [frozenset({"styleblend.a.x", "styleblend.b", "styleblend.c"})]
    assert "styleblend.a.y" in edges["styleblend.c"] and "styleblend.f" not in edges["styleblend.e"]
    assert cycles(package_graph(edges)) == [frozenset({"styleblend.a", "styleblend.b", "styleblend.c"})]
    assert borrowed_names(mods) == ["styleblend.d imports g from styleblend.b (line 1)",
                                    "styleblend.f imports X from styleblend.e (line 1)"]
    with pytest.raises(AssertionError):
        assert cycles({"p": {"q"}, "q": {"p"}}) == []
