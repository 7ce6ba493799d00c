"""The CLI under careless and hostile use: one line per user error, no input overwritten, bounded work."""

import io
import logging
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from tqdm import tqdm

from styleblend.cli.common import check_outputs, cli_logging, close_progress_bars, warn
from styleblend.cli.main import main
from styleblend.errors import InvalidArgumentError
from styleblend.io import save_checkpoint

from ..conftest import tiny_checkpoint

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def net(tmp_path):
    return save_checkpoint(tiny_checkpoint(), tmp_path / "tiny.safetensors")


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def argparse_error(capsys, argv) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines  # no usage block: one line, as for every other user error
    return lines[0]


# -- numbers and ranges ------------------------------------------------------------------------------

@pytest.mark.parametrize("trunc", ["nan", "inf", "-1e309", "1e309", "-5", "3"])
def test_trunc_must_be_finite_and_in_range(tmp_path, net, capsys, trunc):
    err = argparse_error(capsys, ["generate", "--network", str(net), "--seeds", "0", f"--trunc={trunc}",
                                  "--outdir", str(tmp_path / "o")])
    assert "--trunc" in err and "[-1, 2]" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("cutoff,ok", [("-5", False), ("1000000", False), ("0", True), ("8", True), ("9", False)])
def test_trunc_cutoff_within_num_ws(tmp_path, net, capsys, cutoff, ok):
    argv = ["generate", "--network", str(net), "--seeds", "0", "--trunc", "0.5", f"--trunc-cutoff={cutoff}",
            "--outdir", str(tmp_path / "o")]
    if ok:
        assert main(["-q", *argv]) == 0
    elif cutoff.startswith("-"):
        assert ">= 0" in argparse_error(capsys, argv)
    else:
        assert main(argv) == 1
        assert "[0, 8]" in one_error_line(capsys)  # the tiny network has num_ws = 8


def test_batch_is_capped_by_a_stated_budget(tmp_path, net, capsys):
    assert "[1, 4096]" in argparse_error(capsys, ["generate", "--network", str(net), "--seeds", "0",
                                                  "--batch", "1000000000", "--outdir", str(tmp_path)])
    assert "[1, 4096]" in argparse_error(capsys, ["generate", "--network", str(net), "--seeds", "0",
                                                  "--batch", "0", "--outdir", str(tmp_path)])
    from styleblend.cli.common import check_batch

    assert check_batch(16, 1024) == 16
    with pytest.raises(InvalidArgumentError, match="at most 16 images of 1024x1024"):
        check_batch(17, 1024)


def test_huge_seed_range_is_refused_at_once_without_allocating(tmp_path, net, capsys):
    import tracemalloc

    tracemalloc.start()
    start = time.perf_counter()
    err = argparse_error(capsys, ["generate", "--network", str(net), "--seeds", "0-9999999999",
                                  "--outdir", str(tmp_path)])
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "4294967295" in err and seconds < 5 and peak < 50 * 2**20
    err = argparse_error(capsys, ["generate", "--network", str(net), "--seeds", "0-99999999",
                                  "--outdir", str(tmp_path)])
    assert "more than 100000" in err


def test_nan_float_options_are_refused_everywhere(tmp_path, net, capsys):
    err = argparse_error(capsys, ["blend", "--base", str(net), "--transfer", str(net), "--schedule", "sigmoid",
                                  "--centre", "16", "--width", "nan", "--dry-run"])
    assert "--width" in err and "finite" in err


def test_blend_preview_seeds_are_bounded(net, capsys):
    err = argparse_error(capsys, ["blend", "--base", str(net), "--transfer", str(net), "--swap-res", "8",
                                  "--dry-run", "--seeds", "0-3000000000"])
    assert "more than 64" in err


def test_mix_grid_is_bounded(tmp_path, net, capsys):
    assert main(["mix", "--network", str(net), "--rows", "0-99", "--cols", "0-99", "--outdir", str(tmp_path)]) == 1
    assert "at most 1024" in one_error_line(capsys)


# -- global options --------------------------------------------------------------------------------

def test_quiet_verbose_debug_accepted_after_the_command(tmp_path, net, capsys):
    assert main(["generate", "--network", str(net), "--seeds", "0", "--outdir", str(tmp_path / "a"), "-q"]) == 0
    assert capsys.readouterr().out == ""
    assert main(["generate", "--network", str(net), "--seeds", "0", "--outdir", str(tmp_path / "b")]) == 0
    assert "wrote 1 images" in capsys.readouterr().out
    (tmp_path / "file").write_text("x")
    argv = ["generate", "--network", str(net), "--seeds", "0", "--outdir", str(tmp_path / "file" / "sub")]
    with pytest.raises(OSError):
        main([*argv, "--debug"])
    with pytest.raises(OSError):
        main(["--debug", *argv])


# -- file-system errors --------------------------------------------------------------------------

def test_file_system_errors_are_one_line(tmp_path, net, capsys):
    (tmp_path / "file").write_text("x")
    base = ["generate", "--network", str(net), "--seeds", "0"]
    assert main([*base, "--outdir", str(tmp_path / "file" / "sub")]) == 1
    assert "Not a directory" in one_error_line(capsys)
    assert main([*base, "--outdir", str(tmp_path / "file")]) == 1
    assert "is a file, not a folder" in one_error_line(capsys)
    (tmp_path / "dir.mp4").mkdir()
    assert main(["interp-video", "--network", str(net), "--seeds", "0,1", "--out", str(tmp_path / "dir.mp4")]) == 1
    assert "is a folder" in one_error_line(capsys)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_folder_is_one_line(tmp_path, net, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    assert main(["generate", "--network", str(net), "--seeds", "0", "--outdir", str(ro)]) == 1
    assert "Permission denied" in one_error_line(capsys)


def test_permission_and_memory_errors_are_one_line(tmp_path, net, capsys, monkeypatch):
    import errno

    import styleblend.io.atomic as atomic

    def denied(tmp, target):
        raise PermissionError(errno.EACCES, "Permission denied", str(target))

    monkeypatch.setattr(atomic, "_finish", denied)
    assert main(["generate", "--network", str(net), "--seeds", "0", "--outdir", str(tmp_path / "o")]) == 1
    err = one_error_line(capsys)
    assert "Permission denied" in err and "seed0000.png" in err and "permissions" in err
    monkeypatch.undo()

    import styleblend.render as render  # `generate` imports it when it runs

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(render, "render_ws", exhausted)
    assert main(["generate", "--network", str(net), "--seeds", "0", "--outdir", str(tmp_path / "o")]) == 1
    assert "out of memory" in one_error_line(capsys)


def test_broken_pipe_exits_quietly(tmp_path, net):
    """`styleblend blend ... --dry-run | head -c0`: no traceback, exit status as SIGPIPE's 141."""
    env = dict(os.environ, PYTHONPATH=str(SRC), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "styleblend.cli.main", "blend", "--base", str(net),
                             "--transfer", str(net), "--swap-res", "8", "--dry-run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()  # the reader goes away before anything is printed
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""


# -- inputs are never overwritten -------------------------------------------------------------------

def test_blend_refuses_to_overwrite_an_input_unless_forced(tmp_path, net, capsys):
    before = net.read_bytes()
    (tmp_path / "link.safetensors").symlink_to(net)
    os.link(net, tmp_path / "hard.safetensors")
    for out in (net, tmp_path / "link.safetensors", tmp_path / "hard.safetensors"):
        assert main(["blend", "--base", str(net), "--transfer", str(net), "--swap-res", "8", "--out", str(out)]) == 1
        assert "refusing to overwrite the input" in one_error_line(capsys)
    assert net.read_bytes() == before
    assert main(["-q", "blend", "--base", str(net), "--transfer", str(net), "--swap-res", "8", "--out", str(net),
                 "--force"]) == 0
    assert (tmp_path / "tiny.safetensors.recipe.json").exists()


def test_writes_inside_an_outdir_cannot_replace_an_input(tmp_path, net, capsys):
    """An input named like one of the files the command writes into --outdir: refused at the write."""
    odd = tmp_path / "seed0000.png"  # an odd name for a checkpoint, but the user's file
    odd.write_bytes(net.read_bytes())
    assert main(["generate", "--network", str(odd), "--seeds", "0", "--outdir", str(tmp_path)]) == 1
    assert "refusing to overwrite" in one_error_line(capsys)
    assert odd.read_bytes() == net.read_bytes()
    assert main(["-q", "generate", "--network", str(odd), "--seeds", "0", "--outdir", str(tmp_path), "--force"]) == 0
    assert odd.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_check_outputs_helper(tmp_path):
    a = tmp_path / "a.pkl"
    a.write_bytes(b"a")
    check_outputs([tmp_path / "b.pkl", None], [a])
    with pytest.raises(InvalidArgumentError, match="refusing to overwrite the input"):
        check_outputs([tmp_path / "." / "a.pkl"], [a])
    check_outputs([a], [a], force=True)


# -- warnings and progress bars --------------------------------------------------------------------

def test_warnings_are_printed_once(capsys):
    with cli_logging(logging.WARNING):
        logging.getLogger("styleblend.project.losses").warning("VGG-16 not found; using pixel losses")
        warn("VGG-16 not found; using pixel losses")
        for _ in range(3):
            warnings.warn("a deprecated thing", UserWarning, stacklevel=1)
        warn("another warning")
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines.count("warning: VGG-16 not found; using pixel losses") == 1
    assert sum("a deprecated thing" in line for line in lines) == 1
    assert lines[-1] == "warning: another warning" and len(lines) == 3


def test_error_after_a_progress_bar_starts_on_a_clean_line():
    stream = io.StringIO()
    bar = tqdm(total=10, file=stream, desc="generate")
    bar.update(3)
    close_progress_bars()
    assert stream.getvalue().endswith("\r") and "\r" + " " * 10 in stream.getvalue()
    assert bar.disable or bar not in getattr(tqdm, "_instances", ())


@pytest.mark.parametrize("argv,flag", [
    (["morph", "--network", "{net}", "--from", "1", "--to", "2", "--outdir", "{tmp}", "--steps", "10000000000"],
     "--steps"),
    (["interp-video", "--network", "{net}", "--seeds", "0,1", "--out", "{tmp}/v.gif", "--frames-per-key", "999999999"],
     "--frames-per-key"),
    (["transform-video", "--network", "{net}", "--seeds", "0", "--rotate", "0:9", "--out", "{tmp}/v.gif",
      "--frames", "999999999"], "--frames"),
    (["pca", "--network", "{net}", "--outdir", "{tmp}", "--samples", "1000000000000"], "--samples"),
    (["ppl", "--network", "{net}", "--samples", "1000000000000"], "--samples"),
    (["dataset", "--source", "{tmp}", "--out", "{tmp}/d.zip", "--res", "1099511627776"], "--res"),
    (["align", "--in", "{tmp}/x.png", "--out", "{tmp}/y.png", "--size", "1000000"], "--size"),
])
def test_counts_that_allocate_are_bounded_at_parse_time(tmp_path, net, capsys, argv, flag):
    argv = [a.format(net=net, tmp=tmp_path) for a in argv]
    err = argparse_error(capsys, argv)
    assert f"argument {flag}" in err and "must be in" in err


def test_morph_frames_must_fit_in_memory(tmp_path, net, capsys, monkeypatch):
    import styleblend.cli.common as common

    monkeypatch.setattr(common, "MAX_FRAME_BYTES", 100 * 32 * 32 * 3 * 2)  # room for 100 frames of 32 px
    assert main(["morph", "--network", str(net), "--from", "1", "--to", "2", "--via", "3", "--outdir",
                 str(tmp_path), "--steps", "60"]) == 1  # 2 segments x 59 + 1 = 119 frames
    assert "119 frames of 32 px are more than fit in memory (at most 100" in one_error_line(capsys)
