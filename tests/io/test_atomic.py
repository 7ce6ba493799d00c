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
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
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
    legacy = tmp_path / ".model.pkl.k2j_4h5.tmp"  # old naming without a pid, from before this run
    fresh_legacy = tmp_path / ".model.pkl.zz9_8.tmp"  # old naming, written during this run: may be live
    other = tmp_path / ".model.pkl.x.1-a.tmp"  # another target's ('model.pkl.x'), by a live process (pid 1)
    other_dead = tmp_path / f".blend.pt.{_dead_pid()}-q_1.tmp"  # another target's, its writer gone
    other_legacy = tmp_path / ".blend.pt.abc.tmp"  # another target's, old naming: left alone
    for p in (dead, alive, legacy, fresh_legacy, other, other_dead, other_legacy):
        p.write_bytes(b"partial")
    os.utime(legacy, (0, 0))
    os.utime(other_legacy, (0, 0))
    write_bytes_atomic(target, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["model.pkl", alive.name, fresh_legacy.name, other.name, other_legacy.name])


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


def test_temp_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src"
    target = tmp_path / "big.pkl"
    code = ("import sys, time; from styleblend.io.atomic import atomic_path\n"
            f"with atomic_path({str(target)!r}) as tmp:\n"
            "    tmp.write_bytes(b'x' * 100000); print('writing', flush=True); time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(src)))
    try:
        assert proc.stdout.readline().strip() == "writing"
        proc.send_signal(signal.SIGKILL)  # kill -9: no cleanup runs in the writer
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".big.pkl.") and left[0].endswith(".tmp")
    write_bytes_atomic(target, b"done")
    assert [p.name for p in tmp_path.iterdir()] == ["big.pkl"]
