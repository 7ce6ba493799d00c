"""Face identity similarity with dlib's face-recognition ResNet (King 2017, "dlib-models": a ResNet-29
trained on ~3 million faces, 99.38 % on LFW), for measuring how much of a person a toonify keeps.

The network maps an aligned 150x150 face chip to a 128-d descriptor; dlib's rule is that two faces
whose descriptors are less than 0.6 apart (Euclidean) are the same person. We report that distance and
the cosine similarity of the two descriptors. The weights ship inside the ``face-recognition-models``
package with the 5-point landmark model used to cut the chip (the optional extra ``styleblend[align]``,
with ``dlib-bin``); nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MissingDependencyError, MissingWeightsError

log = logging.getLogger(__name__)

RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARKS_FILE = "shape_predictor_5_face_landmarks.dat"
#: dlib's threshold: descriptors closer than this are the same person (its LFW operating point).
SAME_PERSON_DISTANCE = 0.6
#: images are upscaled to at least this size before face detection (dlib's HOG detector finds faces
#: from ~80 px; generator outputs may be 64 px).
_DETECT_SIZE = 320
_HINT = "pip install 'styleblend[align]' (dlib-bin and face-recognition-models)"


def find_model_file(name: str) -> Path:
    """A model file of the ``face-recognition-models`` package, located without importing it.

    Raises:
        MissingWeightsError: the package (or the file) is not installed.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    for loc in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(loc) / "models" / name
        if path.is_file():
            return path
    raise MissingWeightsError(f"dlib's {name} was not found; {_HINT}")


@dataclass(frozen=True)
class IdentityResult:
    """distance: Euclidean distance of the descriptors (< 0.6: same person by dlib's rule); cosine: their
    cosine similarity; None and a ``note`` when a face was not found."""

    distance: float | None
    cosine: float | None
    same_person: bool | None
    note: str | None = None

    def to_dict(self) -> dict:
        return {"identity_distance": self.distance, "identity_cosine": self.cosine,
                "identity_same_person": self.same_person, "identity_note": self.note}


class FaceIdentity:
    """dlib's HOG face detector + 5-point landmarks + the face-recognition ResNet.

    Raises:
        MissingDependencyError: dlib is not installed. MissingWeightsError: the model files are missing.
    """

    def __init__(self, recognition_path: str | Path | None = None, landmarks_path: str | Path | None = None) -> None:
        try:
            import dlib
        except ImportError:
            raise MissingDependencyError(f"identity similarity needs dlib; {_HINT}") from None
        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(landmarks_path or find_model_file(LANDMARKS_FILE)))
        self._net = dlib.face_recognition_model_v1(str(recognition_path or find_model_file(RECOGNITION_FILE)))

    def descriptor(self, image: np.ndarray) -> np.ndarray | None:
        """The 128-d descriptor of the largest face in ``image`` (uint8 [H, W, 3]), or None without a face."""
        from PIL import Image

        img = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
        h, w = img.shape[:2]
        scale = max(1.0, _DETECT_SIZE / min(h, w))
        if scale > 1.0:
            size = (round(w * scale), round(h * scale))
            img = np.asarray(Image.fromarray(img).resize(size, Image.Resampling.LANCZOS))
        rects = self._detector(img, 1)
        if len(rects) == 0:
            return None
        rect = max(rects, key=lambda r: r.width() * r.height())
        shape = self._shape(img, rect)
        return np.asarray(self._net.compute_face_descriptor(img, shape), dtype=np.float64)

    def compare(self, a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("first", "second")) -> IdentityResult:
        """Identity similarity of the largest faces of two uint8 images."""
        da, db = self.descriptor(a), self.descriptor(b)
        missing = [n for n, d in zip(names, (da, db)) if d is None]
        if da is None or db is None:
            return IdentityResult(None, None, None, note=f"no face found in the {' and the '.join(missing)} image")
        distance = float(np.linalg.norm(da - db))
        cosine = float(da @ db / max(1e-12, np.linalg.norm(da) * np.linalg.norm(db)))
        return IdentityResult(distance, cosine, distance < SAME_PERSON_DISTANCE)


def identity_similarity(a: np.ndarray, b: np.ndarray, model: FaceIdentity | None = None,
                        names: tuple[str, str] = ("first", "second")) -> IdentityResult:
    """Like :meth:`FaceIdentity.compare`, but never raises for a missing dlib or model: the result then has
    no values and a ``note`` saying what to install."""
    if model is None:
        try:
            model = FaceIdentity()
        except (MissingDependencyError, MissingWeightsError) as exc:
            return IdentityResult(None, None, None, note=f"identity not measured: {exc}")
    return model.compare(a, b, names)


#: The distance a blended image scores when no face is found in it: beyond any same-person distance, so a
#: blend that loses the face is never preferred to one that keeps a different-looking face.
NO_FACE_DISTANCE = 1.0


class IdentityKeeping:
    """How far a set of images moves away from the people in reference images (lower is better): the mean
    descriptor distance of each image to its reference, over the references where a face was found.

    ``descriptor`` maps a uint8 [H, W, 3] image to a descriptor or None (default: dlib's, :class:`FaceIdentity`).
    Images whose face is lost score :data:`NO_FACE_DISTANCE`.

    Raises:
        InvalidArgumentError: no reference image has a face (the measure is for face models).
    """

    def __init__(self, references: np.ndarray, descriptor=None) -> None:
        from ..errors import InvalidArgumentError

        self._describe = descriptor or FaceIdentity().descriptor
        found = [self._describe(img) for img in references]
        self._keep = [i for i, d in enumerate(found) if d is not None]
        if not self._keep:
            raise InvalidArgumentError(f"no face was found in any of the {len(references)} reference images; the "
                                       "identity measure is for face models")
        self._refs = [found[i] for i in self._keep]
        self.faces = len(self._keep)

    def __call__(self, images: np.ndarray) -> float:
        total = 0.0
        for i, ref in zip(self._keep, self._refs):
            d = self._describe(images[i])
            total += NO_FACE_DISTANCE if d is None else float(np.linalg.norm(d - ref))
        return total / len(self._keep)
