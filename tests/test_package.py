"""The front door `import styleblend as sb`: lazy, complete, typed, and no name shadowed by a subpackage."""

import ast
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import styleblend as sb

SRC = Path(__file__).resolve().parents[1] / "src"
INIT = SRC / "styleblend" / "__init__.py"


def run_python(code: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


def test_import_does_not_import_torch():
    proc = run_python("import styleblend, sys; assert 'torch' not in sys.modules, 'torch imported'; "
                      "print(len(styleblend.__all__))")
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) == len(sb.__all__)


def test_listing_and_the_generator_type_need_no_torch():
    proc = run_python("import styleblend as sb, sys; names = dir(sb); sb.Generator; sb.__version__; "
                      "assert 'torch' not in sys.modules, 'torch imported'; print(' '.join(names))")
    assert proc.returncode == 0, proc.stderr
    assert set(sb.__all__) <= set(proc.stdout.split())


def test_every_public_name_resolves_and_is_listed():
    assert 15 <= len(sb.__all__) <= 30  # a small surface
    for name in sb.__all__:
        value = getattr(sb, name)
        assert value is not None
        assert name in dir(sb)
        if callable(value) and name != "__version__":
            assert value.__doc__, f"sb.{name} has no docstring"
    assert "importlib" not in dir(sb) and "TYPE_CHECKING" not in dir(sb)  # only public names and dunders


def test_all_lists_exactly_the_lazy_names():
    assert sorted(sb.__all__) == sorted(["__version__", *sb._EXPORTS])
    assert len(set(sb.__all__)) == len(sb.__all__)


def test_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'blend_model'"):
        sb.blend_model  # noqa: B018 - a typo of blend_models


def test_type_checkers_see_the_same_names():
    """The stub __init__.pyi must offer exactly the names __getattr__ serves (else IDEs and mypy drift)."""
    tree = ast.parse((SRC / "styleblend" / "__init__.pyi").read_text())
    imported = {alias.asname or alias.name for node in tree.body if isinstance(node, ast.ImportFrom)
                for alias in node.names}
    assert imported == set(sb.__all__) - {"__version__"}
    listed = next(node.value for node in tree.body if isinstance(node, ast.Assign) and node.targets[0].id == "__all__")
    assert ast.literal_eval(listed) == sb.__all__
    for node in tree.body:  # in a stub only 'import X as X' (or __all__) re-exports a name
        if isinstance(node, ast.ImportFrom):
            assert all(alias.asname for alias in node.names)


def test_the_package_imports_no_submodule():
    """No import statement in __init__.py names a styleblend module, so no import cycle can run through the
    package (modules that import styleblend.__version__ are safe) and importing it stays cheap."""
    tree = ast.parse(INIT.read_text())
    relative = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level]
    assert not relative


def test_no_public_name_is_also_a_subpackage():
    """Importing styleblend.X sets attribute X on the package: a function named like a subpackage would be
    replaced by the module (why the verb is blend_models, not blend)."""
    submodules = {m.name for m in pkgutil.iter_modules([str(SRC / "styleblend")])}
    assert "blend" in submodules and "project" in submodules  # what this guards against
    assert not submodules & set(sb.__all__)


def test_a_subpackage_import_does_not_replace_a_verb():
    import styleblend.blend.model  # noqa: F401
    import styleblend.project.batch  # noqa: F401

    assert callable(sb.blend_models) and callable(sb.embed)
    assert sb.Swap.__module__ == "styleblend.blend.schedules"


def test_py_typed_ships():
    """PEP 561: the marker file exists and the package data names it, so installed copies are typed."""
    import tomllib

    assert (SRC / "styleblend" / "py.typed").is_file()
    pyproject = tomllib.loads((SRC.parent / "pyproject.toml").read_text())
    data = pyproject["tool"]["setuptools"]["package-data"]["styleblend"]
    assert "py.typed" in data and "*.pyi" in data  # the marker, and the front door's stub
