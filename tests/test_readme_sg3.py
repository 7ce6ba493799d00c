"""The README's StyleGAN3 commands run as written on NVIDIA's StyleGAN3-T fixture (fewer frames and seeds), and
their comments hold: which layers each blend takes from B, what the videos contain."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch

from styleblend.cli.main import main
from styleblend.io import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def stylegan3_commands() -> list[str]:
    section = (ROOT / "README.md").read_text().split("\n## StyleGAN3\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the README's StyleGAN3 section should hold one bash block"
    return [line.split("  #")[0].strip() for line in blocks[0].splitlines() if line.strip()]


@pytest.fixture(scope="module")
def two_models(nvidia_sg3t32, tmp_path_factory):
    """sg3.pkl / A.pkl: NVIDIA's fixture; B.pkl: the same pickle with other synthesis weights written back into it."""
    import styleblend as sb

    folder = tmp_path_factory.mktemp("readme")
    a = folder / "A.pkl"
    a.write_bytes((nvidia_sg3t32 / "network-snapshot.pkl").read_bytes())
    ckpt = load_checkpoint(a)
    gen = torch.Generator().manual_seed(0)
    for state in (ckpt.g_ema, ckpt.g):
        for key, value in state.items():
            if key.startswith("synthesis.") and key.endswith(".weight"):
                state[key] = value + 0.1 * torch.randn(value.shape, generator=gen)
    sb.convert(ckpt, folder / "B.pkl", "nvidia-pkl", template=a)
    (folder / "sg3.pkl").write_bytes(a.read_bytes())
    return folder


def test_readme_stylegan3_commands_parse():
    """Every flag and value of the examples is one the commands take (the quick check; the next test runs them)."""
    from styleblend.cli.main import build_parser

    for command in stylegan3_commands():
        argv = shlex.split(command)
        args = build_parser([argv[1]]).parse_args(argv[1:])
        assert args.command == argv[1]


@pytest.mark.slow  # a minute or more on a loaded 2-core machine: three blends of a pickle and two videos
def test_readme_stylegan3_commands_run_as_documented(two_models, monkeypatch):
    from styleblend.media.video import read_video

    commands = stylegan3_commands()
    assert [c.split()[1] for c in commands] == ["info", "generate", "blend", "blend", "blend", "transform-video",
                                               "transform-video"], "update this test with the README's examples"
    a = load_checkpoint(two_models / "A.pkl").g_ema
    b = load_checkpoint(two_models / "B.pkl").g_ema
    names = list(dict.fromkeys(["input"] + [k.split(".")[1] for k in a if k.startswith("synthesis.L")]))
    sizes = [36 if name == "input" else int(name.split("_")[1]) for name in names]
    assert len(names) == 16 and sizes.count(36) == 6  # input and L0-L4 are the 36 px layers

    def sources(path: str) -> list[str]:
        c = load_checkpoint(two_models / path).g_ema
        keys = [f"synthesis.{name}.weight" for name in names]
        return ["B" if torch.equal(c[k], b[k]) else "A" if torch.equal(c[k], a[k]) else "mixed" for k in keys]

    # What each blend's comment says it takes from B ("by sampling rate": this model samples at 16 and 32 only).
    from_b = {"swap:32": ["B"] * 16, "index:swap:5": ["B"] * 6 + ["A"] * 10,
              "size:table:36:1,*:0": ["B" if size == 36 else "A" for size in sizes]}
    monkeypatch.chdir(two_models)
    for command in commands:
        # Fewer seeds and frames than the README renders; everything else as written.
        command = (command.replace("--seeds 0-3", "--seeds 0-1").replace("--frames 120", "--frames 4")
                   .replace("--bounce", "--bounce --frames 3"))
        argv = shlex.split(command)
        assert argv[0] == "styleblend"
        assert main(argv[1:]) == 0, command
        if argv[1] == "blend":
            assert sources(argv[argv.index("--out") + 1]) == from_b[argv[argv.index("--spec") + 1]], command
    assert {p.name for p in (two_models / "out").iterdir()} == {"seed0000.png", "seed0001.png"}
    assert read_video(two_models / "slide.gif").shape == (4, 32, 32, 3)
    if (two_models / "turn.mp4").exists():  # written when imageio-ffmpeg is installed (else the command failed)
        assert read_video(two_models / "turn.mp4").shape == (4, 32, 64, 3)
