"""Identity similarity with dlib's face-recognition ResNet, on scikit-image's `astronaut` photo (public domain).

Needs the optional extra (dlib-bin + face-recognition-models) and scikit-image's photo file; skipped cleanly
when they are absent.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from styleblend.errors import InvalidArgumentError, MissingDependencyError, MissingWeightsError
from styleblend.metrics.identity import (
    NO_FACE_DISTANCE,
    SAME_PERSON_DISTANCE,
    FaceIdentity,
    IdentityKeeping,
    identity_similarity,
)

from ..conftest import astronaut_photo


@pytest.fixture(scope="module")
def model():
    try:
        return FaceIdentity()
    except (MissingDependencyError, MissingWeightsError) as exc:
        pytest.skip(f"optional align extra not installed: {exc}")


def test_same_face_is_the_same_person_and_a_blank_image_has_no_face(model):
    photo = np.asarray(Image.open(astronaut_photo()).convert("RGB"))
    face = photo[20:260, 120:330]  # her face, about 240 px
    same = model.compare(face, face)
    assert same.distance == pytest.approx(0.0, abs=1e-6) and same.cosine == pytest.approx(1.0) and same.same_person
    # Small as a 64 px generator output, and brighter: still her by dlib's rule, but not identical.
    small = np.asarray(Image.fromarray(face).resize((64, 64), Image.LANCZOS))
    brighter = np.clip(small.astype(np.int16) + 30, 0, 255).astype(np.uint8)
    changed = model.compare(face, brighter)
    assert 0.0 < changed.distance < SAME_PERSON_DISTANCE and changed.same_person
    blank = np.full((64, 64, 3), 128, np.uint8)
    none = model.compare(face, blank, names=("target", "toon"))
    assert none.distance is None and none.note == "no face found in the toon image"
    assert none.to_dict()["identity_note"] == none.note


def test_missing_dlib_gives_a_note_not_an_error(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_dlib(name, *args, **kwargs):
        if name == "dlib":
            raise ImportError("no dlib")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dlib)
    img = np.zeros((8, 8, 3), np.uint8)
    result = identity_similarity(img, img)
    assert result.distance is None and "needs dlib" in result.note
    with pytest.raises(MissingDependencyError):
        FaceIdentity()


def test_identity_keeping_scores_each_image_against_its_reference(model):
    photo = np.asarray(Image.open(astronaut_photo()).convert("RGB"))
    face = np.asarray(Image.fromarray(photo[20:260, 120:330]).resize((96, 96), Image.LANCZOS))
    blank = np.full_like(face, 128)
    keeping = IdentityKeeping(np.stack([face, blank]), model.descriptor)  # the blank reference is left out
    assert keeping.faces == 1
    assert keeping(np.stack([face, face])) == pytest.approx(0.0, abs=1e-6)
    brighter = np.clip(face.astype(np.int16) + 30, 0, 255).astype(np.uint8)
    moved = keeping(np.stack([brighter, blank]))
    assert moved == pytest.approx(model.compare(face, brighter).distance) and 0.0 < moved < SAME_PERSON_DISTANCE
    assert keeping(np.stack([blank, face])) == NO_FACE_DISTANCE  # the face was lost
    with pytest.raises(InvalidArgumentError, match="no face was found in any of the 2"):
        IdentityKeeping(np.stack([blank, blank]), model.descriptor)
