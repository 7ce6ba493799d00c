"""The README's Python section and examples/quickstart.py run as written (with fewer embedding steps)."""

import re
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = ROOT / "examples" / "quickstart.py"


def readme_python_block() -> str:
    section = (ROOT / "README.md").read_text().split("\n## Python\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the README's Python section should hold one Python block"
    return blocks[0]


def only_the_front_door(code: str) -> None:
    imports = re.findall(r"^\s*(?:import|from)\s+(\S+)", code, re.M)
    assert "styleblend" in imports
    assert not [m for m in imports if m.startswith("styleblend.")], imports  # sb.<name> only
    assert "from styleblend import" not in code


def fewer_steps(code: str, pattern: str, replacement: str) -> str:
    assert re.search(pattern, code), f"{pattern!r} not found: update this test with the example"
    return re.sub(pattern, replacement, code)


def test_readme_python_block_runs(tmp_path, monkeypatch):
    code = readme_python_block()
    only_the_front_door(code)
    monkeypatch.chdir(tmp_path)
    exec(compile(fewer_steps(code, r"steps=50", "steps=2"), "README.md", "exec"), {"__name__": "readme"})
    import styleblend as sb

    assert sb.load("toon.safetensors").g_config.img_resolution == 64
    assert Path("embedded-and-toonified.png").stat().st_size > 0


def test_quickstart_runs(tmp_path, monkeypatch):
    code = QUICKSTART.read_text()
    only_the_front_door(code)
    assert code.count("# %%") >= 5  # notebook cells
    script = tmp_path / "quickstart.py"
    script.write_text(fewer_steps(code, r"(?m)^STEPS = \d+", "STEPS = 2"))
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(script), run_name="__main__")
    out = tmp_path / "quickstart-out"
    assert {p.name for p in out.iterdir()} >= {"base-seeds.png", "blends.png", "morph.png", "toonified.png",
                                               "mixed.npz", "swap16.safetensors"}


def test_package_docstring_example_runs(tmp_path, monkeypatch):
    import styleblend

    doc = styleblend.__doc__
    lines = []
    for line in doc.split("::\n", 1)[1].splitlines():  # the indented block after '::'
        if line and not line.startswith("    "):
            break
        lines.append(line[4:])
    code = "\n".join(lines)
    only_the_front_door(code)
    monkeypatch.chdir(tmp_path)
    exec(compile(fewer_steps(code, r"steps=50", "steps=2"), "styleblend.__doc__", "exec"), {})
    assert (tmp_path / "toon.png").is_file() and (tmp_path / "toon.safetensors").is_file()


def test_readme_counts_the_front_door_names():
    import styleblend as sb

    said = re.search(r"`import styleblend as sb` is the front door: (\d+) names", (ROOT / "README.md").read_text())
    assert said and int(said.group(1)) == len(sb.__all__) - 1  # not counting __version__
