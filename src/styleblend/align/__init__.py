"""FFHQ-style face alignment: landmarks (dlib, optional extra ``styleblend[align]``) -> oriented crop.

``align_faces(photo, output_size)`` detects every face and returns one aligned crop per face, left to
right; :func:`~styleblend.align.ffhq.align_face` aligns one face from given landmarks (pure geometry +
resampling, no detector needed).

**Which face a photo is about** - the one rule every command and the UI use when a photo becomes a
projection target (:func:`main_face`, :func:`align_main_face`): the face with the largest detection
box; on a tie, the left-most. Why the largest: in a portrait or a selfie the subject is the biggest
face and bystanders are smaller; the largest face also has the most pixels to align, so its crop is
the sharpest; and the choice does not depend on where the subject stands, unlike "left-most".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .ffhq import MIN_FACE_SIZE, FaceQuad, align_face, face_width, ffhq_quad, key_points
from .landmarks import (
    DlibDetector,
    Face,
    LandmarkDetector,
    NoFaceError,
    default_detector,
)

__all__ = ["MIN_FACE_SIZE", "DlibDetector", "Face", "FaceQuad", "LandmarkDetector", "NoFaceError", "align_face",
           "align_faces", "align_main_face", "default_detector", "ffhq_quad", "key_points", "main_face"]

log = logging.getLogger(__name__)


def align_faces(photo: str | Path | np.ndarray, output_size: int = 1024, detector: LandmarkDetector | None = None,
                transform_size: int | None = None, enable_padding: bool = True,
                min_face_size: int = MIN_FACE_SIZE) -> list[tuple[np.ndarray, Face]]:
    """Detect all faces in a photo and align each as FFHQ did.

    Args:
        photo: an image path (any format :func:`~styleblend.media.load.load_image` reads; EXIF rotation is
            applied) or a uint8 [H, W, 3] array.
        output_size: side of each aligned crop.
        detector: landmark source; None uses :func:`default_detector` (dlib).
        min_face_size: faces whose detection box is narrower (pixels) are skipped with a warning
            (default :data:`~styleblend.align.ffhq.MIN_FACE_SIZE`); 0 accepts every face.

    Returns:
        [(aligned uint8 [output_size, output_size, 3], face)] sorted left to right.

    Raises:
        NoFaceError: no face found, or only faces below ``min_face_size``. ImageError: unreadable photo.
        MissingDependencyError / MissingWeightsError: dlib or its landmark model is not installed.
    """
    from ..media.load import load_image

    name = str(photo) if isinstance(photo, (str, Path)) else "the image"
    image = load_image(photo) if isinstance(photo, (str, Path)) else np.asarray(photo, dtype=np.uint8)
    if image.ndim != 3 or image.shape[2] != 3:
        raise NoFaceError(f"{name} has shape {image.shape}; face alignment needs an RGB image [H, W, 3]")
    detector = detector if detector is not None else default_detector()
    faces = detector.detect(image)
    if not faces:
        raise NoFaceError(f"no face found in {name} ({image.shape[1]}x{image.shape[0]}); use a photo with a "
                          f"frontal, unoccluded face at least {min_face_size} px wide")
    small = [f for f in faces if face_width(f.box) < min_face_size]
    if small:
        widest = max(face_width(f.box) for f in small)
        if len(small) == len(faces):
            raise NoFaceError(f"{name}: {len(faces)} face(s) found, all narrower than the minimum of "
                              f"{min_face_size} px "
                              f"(the widest is {widest} px); use a larger photo of the face (or a min_face_size of "
                              f"{widest} to align it anyway, blurred)")
        log.warning("%s: skipping %d face(s) narrower than %d px (widest %d px)", name, len(small), min_face_size,
                    widest)
        faces = [f for f in faces if face_width(f.box) >= min_face_size]
    return [(align_face(image, f.landmarks, output_size, transform_size, enable_padding), f) for f in faces]


def main_face(faces: Sequence[tuple[np.ndarray, Face]]) -> tuple[np.ndarray, Face]:
    """The face a photo is about: the largest detection box, the left-most of equal ones (see the module docstring).

    Args:
        faces: :func:`align_faces`' result (left to right), at least one face.
    """
    def area(item: tuple[np.ndarray, Face]) -> int:
        left, top, right, bottom = item[1].box
        return (right - left) * (bottom - top)

    return max(faces, key=area)  # max keeps the first (left-most) of equal areas


def align_main_face(photo: str | Path | np.ndarray, output_size: int = 1024,
                    detector: LandmarkDetector | None = None) -> np.ndarray:
    """The photo's :func:`main_face`, aligned as FFHQ: uint8 [output_size, output_size, 3].

    Logs a warning when the photo has several faces. Raises as :func:`align_faces`.
    """
    faces = align_faces(photo, output_size, detector)
    if len(faces) > 1:
        name = str(photo) if isinstance(photo, (str, Path)) else "the image"
        log.warning("%d faces in %s; using the largest", len(faces), name)
    return main_face(faces)[0]
