"""Face detection + 68-point landmarks, behind a one-method interface.

The default source is dlib's HOG face detector and its 68-point shape predictor - exactly what FFHQ
was aligned with. Both install from PyPI as wheels: ``dlib-bin`` (prebuilt dlib; the ``dlib`` sdist
compiles for many minutes) and ``face-recognition-models`` (ships ``shape_predictor_68_face_landmarks.dat``,
100 MB). That is the optional extra ``styleblend[align]``. Any other landmark source works by passing an
object with ``detect(image) -> list[Face]``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import ImageError, MissingDependencyError, MissingWeightsError

log = logging.getLogger(__name__)

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
PREDICTOR_ENV = "STYLEBLEND_DLIB_PREDICTOR"
#: Debian/Ubuntu's libdlib-data package installs the predictor here.
DEBIAN_PREDICTOR = Path("/usr/share/dlib") / PREDICTOR_FILE
INSTALL_HINT = "pip install 'styleblend[align]' (i.e. dlib-bin and face-recognition-models)"


class NoFaceError(ImageError):
    """No face was found in an image that was to be aligned."""


@dataclass(frozen=True)
class Face:
    """One detected face: 68 (x, y) landmarks [68, 2] in image pixels and its detection box (l, t, r, b)."""

    landmarks: np.ndarray
    box: tuple[int, int, int, int]


class LandmarkDetector(Protocol):
    """Anything that finds faces: ``detect(image uint8 [H, W, 3]) -> list[Face]``."""

    def detect(self, image: np.ndarray) -> list[Face]: ...


def find_predictor(path: str | Path | None = None) -> Path:
    """Locate dlib's 68-point predictor: ``path``, $STYLEBLEND_DLIB_PREDICTOR, the face-recognition-models
    package, or Debian's libdlib-data.

    The package is located without importing it (its ``__init__`` imports pkg_resources, which recent
    setuptools no longer ship).

    Raises:
        MissingWeightsError: not found anywhere; the message says how to install it.
    """
    candidates: list[Path] = []
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise MissingWeightsError(f"landmark model '{p}' does not exist; pass dlib's {PREDICTOR_FILE}")
        return p
    if os.environ.get(PREDICTOR_ENV):
        candidates.append(Path(os.environ[PREDICTOR_ENV]).expanduser())
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidates.append(Path(loc) / "models" / PREDICTOR_FILE)
    candidates.append(DEBIAN_PREDICTOR)
    for c in candidates:
        if c.is_file():
            return c
    raise MissingWeightsError(f"dlib's 68-point landmark model ({PREDICTOR_FILE}) was not found; {INSTALL_HINT}, "
                              f"or `apt-get install libdlib-data`, or pass its path as `predictor_path`",
                              param="predictor_path")


class DlibDetector:
    """dlib HOG face detector + 68-point shape predictor (the FFHQ landmark source).

    Args:
        predictor_path: the .dat file; None searches as :func:`find_predictor`.
        upsample: times the detector upsamples the (downscaled) image; 1 finds faces down to ~40 px.
        detect_size: the photo is downscaled so its longer side is at most this for *detection* only;
            landmarks are then predicted on the full-resolution photo.
        min_score: detections with a HOG-SVM score below this are dropped. dlib's own threshold is 0; with
            upsampling it reports weak false positives (e.g. 0.12 on a patch of scikit-image's astronaut,
            whose real face scores 1.16), so we ask for 0.5.

    Raises:
        MissingDependencyError: dlib is not installed.
        MissingWeightsError: the predictor file is missing.
    """

    def __init__(self, predictor_path: str | Path | None = None, upsample: int = 1, detect_size: int = 1024,
                 min_score: float = 0.5) -> None:
        try:
            import dlib
        except ImportError:
            raise MissingDependencyError(f"face alignment needs dlib; {INSTALL_HINT}") from None
        self._dlib = dlib
        self.predictor_path = find_predictor(predictor_path)
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(self.predictor_path))
        self.upsample, self.detect_size, self.min_score = upsample, detect_size, min_score

    def detect(self, image: np.ndarray) -> list[Face]:
        """Faces in ``image`` (uint8 [H, W, 3] RGB), sorted left to right."""
        from PIL import Image

        img = np.ascontiguousarray(image, dtype=np.uint8)
        h, w = img.shape[:2]
        scale = min(1.0, self.detect_size / max(h, w))
        small = img if scale == 1.0 else np.asarray(
            Image.fromarray(img).resize((max(1, round(w * scale)), max(1, round(h * scale))),
                                        Image.Resampling.LANCZOS))
        faces = []
        rects, scores, _ = self._detector.run(small, self.upsample, 0.0)
        for rect, score in zip(rects, scores):
            if score < self.min_score:
                log.debug("dropping a face candidate with score %.2f < %.2f", score, self.min_score)
                continue
            box = tuple(round(v / scale) for v in (rect.left(), rect.top(), rect.right(), rect.bottom()))
            shape = self._predictor(img, self._dlib.rectangle(*box))
            pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], dtype=np.float64)
            faces.append(Face(landmarks=pts, box=box))
        return sorted(faces, key=lambda f: f.box[0])


def default_detector(predictor_path: str | Path | None = None) -> LandmarkDetector:
    """The landmark source used when none is given: :class:`DlibDetector`."""
    return DlibDetector(predictor_path)
