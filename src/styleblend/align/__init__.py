"""FFHQ-style face alignment: landmarks (dlib, optional extra ``styleblend[align]``) -> oriented crop.

``align_faces(photo, output_size)`` detects every face and returns one aligned crop per face, left to
right; :func:`~styleblend.align.ffhq.align_face` aligns one face from given landmarks (pure geometry +
resampling, no detector needed).
"""

from __future__ import annotations

import logging
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
           "align_faces", "default_detector", "ffhq_quad", "key_points"]

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
        NoFaceError: no face found, or only faces below ``min_face_size``. ImageError: unreadable photo. MissingDependencyError /
        MissingWeightsError: dlib or its landmark model is not installed.
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
