"""`styleblend ui` stops cleanly on SIGTERM at any moment, its temporary folder (with uploads) removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from .conftest import SRC


def test_sigterm_while_the_models_load_removes_the_temp_folder(pair_paths, tmp_path):
    """SIGTERM as soon as the session's folder exists (the models still loading, the server not yet up)."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = dict(os.environ, TMPDIR=str(tmpdir), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "styleblend.cli.main", "ui", "--base", str(pair_paths[0]),
                             "--transfer", str(pair_paths[1]), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not list(tmpdir.glob("styleblend-ui-*")):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.002)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode in (0, 130), (proc.returncode, err)  # stopped as by Ctrl-C, not killed by the signal
    assert "Traceback" not in err
    assert not list(tmpdir.glob("styleblend-ui-*"))
