"""End to end on a real photograph: scikit-image's `astronaut` (Eileen Collins, NASA, public domain).

Needs the optional extra (dlib-bin + face-recognition-models) and scikit-image (only for the photo file,
read without importing scikit-image); skipped cleanly when they are absent.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from styleblend.align import align_faces
from styleblend.align.ffhq import ffhq_quad, quad_to_output
from styleblend.cli.main import main
from styleblend.errors import MissingDependencyError, MissingWeightsError

from ..conftest import astronaut_photo


@pytest.fixture(scope="module")
def detector():
    from styleblend.align.landmarks import DlibDetector

    try:
        return DlibDetector()
    except (MissingDependencyError, MissingWeightsError) as exc:
        pytest.skip(f"optional align extra not installed: {exc}")


def test_astronaut_is_aligned_like_ffhq(detector):
    photo = astronaut_photo()
    results = align_faces(photo, 256, detector)
    assert len(results) == 1
    aligned, face = results[0]
    assert aligned.shape == (256, 256, 3)
    # Landmarks found again on the aligned crop sit where the FFHQ geometry puts them.
    again = detector.detect(aligned)
    assert len(again) == 1
    eyes = np.stack([again[0].landmarks[36:42].mean(0), again[0].landmarks[42:48].mean(0)]) / 256
    expected = quad_to_output(ffhq_quad(face.landmarks), np.stack([face.landmarks[36:42].mean(0),
                                                                    face.landmarks[42:48].mean(0)]), 1)
    np.testing.assert_allclose(eyes, expected, atol=0.02)
    assert abs(eyes[0, 1] - eyes[1, 1]) < 0.02  # the eye line is level


def test_cli_several_faces_and_no_face(detector, tmp_path, capsys):
    photo = np.asarray(Image.open(astronaut_photo()).convert("RGB"))
    Image.fromarray(np.concatenate([photo, photo[:, ::-1]], axis=1)).save(tmp_path / "two.jpg", quality=95)
    assert main(["align", "--in", str(tmp_path / "two.jpg"), "--out", str(tmp_path / "face.png"), "--size", "64"]) == 0
    assert sorted(p.name for p in tmp_path.glob("face*.png")) == ["face_0.png", "face_1.png"]
    assert Image.open(tmp_path / "face_0.png").size == (64, 64)
    Image.new("RGB", (300, 200), (90, 140, 200)).save(tmp_path / "sky.png")
    assert main(["align", "--in", str(tmp_path / "sky.png"), "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "no face found" in err and "\n" not in err.strip()
