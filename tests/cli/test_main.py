"""The entry point: `styleblend --help` lists every command without importing any command module or torch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from styleblend.cli.main import COMMANDS, build_parser, command_name, main

SRC = Path(__file__).resolve().parents[2] / "src"

# Every command's module imports the library inside ``run`` (see cli/main.py), so that `styleblend CMD --help`
# does not load torch.
LIGHT_COMMANDS = tuple(COMMANDS)


def help_in_child(*argv: str, heavy: tuple[str, ...] = ("torch",)) -> subprocess.CompletedProcess:
    """Run `styleblend ARGV` in a child; it fails unless the modules ``heavy`` stay unimported."""
    code = ("import sys; from styleblend.cli.main import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
            f"heavy = sorted(m for m in {heavy!r} if m in sys.modules)\n"
            "assert not heavy, f'imported {heavy}'\n")
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env, timeout=300)


def test_help_imports_no_command_module_and_no_torch():
    proc = help_in_child("--help", heavy=("torch", "numpy", "PIL", "tqdm"))
    assert proc.returncode == 0, proc.stderr
    for name in COMMANDS:
        assert name in proc.stdout
    assert "render images from seeds or latent files" in proc.stdout


@pytest.mark.parametrize("command", LIGHT_COMMANDS)
def test_light_commands_help_imports_no_torch(command):
    proc = help_in_child(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert f"usage: styleblend {command}" in proc.stdout


def test_help_texts_state_the_library_values_they_do_not_import():
    """`ui` and `metrics` --help name values of modules that load torch; they must stay the library's."""
    from styleblend.metrics.evaluate import METRICS
    from styleblend.metrics.fid import SQRT_METHODS
    from styleblend.ui.embedding import MAX_STEPS
    from styleblend.ui.server import DEFAULT_HOST, DEFAULT_PORT

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    ui = {a.dest: a.help for a in sub["ui"]._actions}
    assert f"default {DEFAULT_HOST}," in ui["host"] and f"default {DEFAULT_PORT};" in ui["port"]
    assert f"at most {MAX_STEPS}" in ui["embed_steps"]
    metrics = {a.dest: a.help for a in sub["metrics"]._actions}
    assert [name for name in METRICS if name not in metrics["metrics"]] == []
    assert all(method in metrics["fid_sqrt"] for method in SQRT_METHODS)


def test_library_checked_options_fail_as_one_line_errors(tmp_path, capsys):
    # --embed-steps and --metrics are checked when the command runs (their bounds live with torch).
    assert main(["ui", "--embed-steps", "0"]) == 1
    assert "--embed-steps 0 must be in [1, " in capsys.readouterr().err
    from styleblend.io import save_checkpoint

    from ..conftest import tiny_checkpoint

    net = save_checkpoint(tiny_checkpoint(), tmp_path / "tiny.safetensors")
    assert main(["metrics", "--network", str(net), "--data", str(tmp_path), "--metrics", "fid,lpips"]) == 1
    err = capsys.readouterr().err.strip()
    assert "unknown metric(s) ['lpips']" in err and "--metrics" in err and len(err.splitlines()) == 1


def test_summaries_are_the_ones_the_modules_register():
    """`--help` shows COMMANDS' summaries; each must be the help its module registers (no drift)."""
    parser = build_parser()  # every module
    sub = next(a for a in parser._actions if a.dest == "command")
    registered = {action.dest: action.help for action in sub._choices_actions}
    assert registered == {name: summary for name, (_, summary) in COMMANDS.items()}


def test_only_the_named_command_is_built():
    parser = build_parser(["generate"])
    sub = next(a for a in parser._actions if a.dest == "command")
    generate, mix = sub.choices["generate"], sub.choices["mix"]
    assert "--seeds" in generate._option_string_actions and "--force" in generate._option_string_actions
    assert "--seeds" not in mix._option_string_actions  # a stub: listed, not built


@pytest.mark.parametrize("argv,name", [
    (["generate", "--seeds", "1"], "generate"),
    (["-q", "--debug", "blend"], "blend"),
    (["--help"], None),
    (["-q", "--network", "x"], None),
    (["genrate"], None),
    ([], None),
])
def test_command_name(argv, name):
    assert command_name(argv) == name


def test_a_command_help_and_an_unknown_command(capsys):
    with pytest.raises(SystemExit) as info:
        main(["mix", "--help"])
    assert info.value.code == 0
    assert "--styles" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["genrate", "--seeds", "1"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "invalid choice: 'genrate'" in err and "'generate'" in err


def test_missing_command_is_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "COMMAND" in err
