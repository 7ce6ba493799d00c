import os
import stat

import pytest

from styleblend.io.atomic import atomic_path, write_bytes_atomic


def test_success_replaces_target_with_normal_permissions(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_failure_keeps_old_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def _dead_pid() -> int:
    """A pid that no process has (a finished child's)."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_next_write_removes_temps_of_dead_writers_only(tmp_path):
    target = tmp_path / "model.pkl"
    dead = tmp_path / f".model.pkl.{_dead_pid()}-abc123.tmp"
    alive = tmp_path / f".model.pkl.{os.getppid()}-def456.tmp"  # a live process (our parent) still writing
    legacy = tmp_path / ".model.pkl.k2j4h5.tmp"  # old naming without a pid, from before this run
    other = tmp_path / ".model.pkl.x.1-a.tmp"  # a temp of another target ('model.pkl.x')
    for p in (dead, alive, legacy, other):
        p.write_bytes(b"partial")
    os.utime(legacy, (0, 0))
    write_bytes_atomic(target, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["model.pkl", alive.name, other.name])


def test_protected_inputs_refuse_the_same_file_by_any_name(tmp_path):
    from styleblend.errors import InvalidArgumentError
    from styleblend.io.atomic import protected_inputs

    model = tmp_path / "model.pkl"
    model.write_bytes(b"precious")
    (tmp_path / "link.pkl").symlink_to(model)
    os.link(model, tmp_path / "hard.pkl")
    with protected_inputs([model]):
        for name in ("model.pkl", "link.pkl", "hard.pkl", "sub/../model.pkl"):
            with pytest.raises(InvalidArgumentError, match="refusing to overwrite"):
                write_bytes_atomic(tmp_path / name, b"oops")
        write_bytes_atomic(tmp_path / "other.pkl", b"fine")
    assert model.read_bytes() == b"precious"
    write_bytes_atomic(model, b"replaced")  # outside the block nothing is protected
    assert model.read_bytes() == b"replaced"


def test_output_that_is_a_folder_is_one_clear_error(tmp_path):
    from styleblend.errors import InvalidArgumentError

    (tmp_path / "out.png").mkdir()
    with pytest.raises(InvalidArgumentError, match="is a folder"):
        write_bytes_atomic(tmp_path / "out.png", b"x")
