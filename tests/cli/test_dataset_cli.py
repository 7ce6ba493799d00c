import json
import zipfile

import numpy as np
from PIL import Image

from styleblend.cli.main import main


def test_dataset_command_converts_and_skips(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGBA", (40, 30), (255, 0, 0, 0)).save(src / "a.png")
    Image.new("L", (16, 16), 128).save(src / "b.png")
    (src / "c.png").write_bytes(b"not an image")
    out = tmp_path / "data.zip"
    assert main(["dataset", "--source", str(src), "--out", str(out), "--res", "8", "--background", "0,0,255"]) == 0
    assert "wrote 2 images" in capsys.readouterr().out
    with zipfile.ZipFile(out) as z:
        names = sorted(n for n in z.namelist() if n.endswith(".png"))
        assert len(names) == 2
        assert json.loads(z.read("dataset.json")) == {"labels": None}
        first = np.asarray(Image.open(z.open(names[0])))
    assert first.shape == (8, 8, 3) and tuple(first[0, 0]) == (0, 0, 255)


def test_dataset_command_bad_arguments(tmp_path, capsys):
    assert main(["dataset", "--source", str(tmp_path / "missing"), "--out", str(tmp_path / "d.zip"),
                 "--res", "8"]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "d.zip").exists()
