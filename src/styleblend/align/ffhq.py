"""FFHQ face alignment (Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for GANs",
Appendix A): an oriented square around eyes and mouth, cropped, padded and resampled.

The geometry (:func:`ffhq_quad`) is a pure function of the landmarks: from the eye centres and the mouth
corners it builds an oriented square ("quad") whose side is
``2 * max(2 * |eye_to_eye|, 1.8 * |eye_to_mouth|)``, centred ``0.1 * eye_to_mouth`` below the eye midpoint
and rotated so the eye line is horizontal. :func:`align_face` then follows the published procedure:
shrink very large photos, crop to the quad plus a border, pad with reflection (blurred towards the edges
and faded to the median colour) when the quad leaves the photo, map the quad to a square with bilinear
sampling at ``transform_size`` and downsample to ``output_size``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..errors import InvalidArgumentError


@dataclass(frozen=True)
class FaceQuad:
    """An oriented square in image coordinates (x right, y down).

    quad: [4, 2] corners in PIL's QUAD order - top-left, bottom-left, bottom-right, top-right of the
        aligned output, i.e. ``c - x - y``, ``c - x + y``, ``c + x + y``, ``c + x - y``.
    size: side length in pixels (``2 * |x|``).
    """

    quad: np.ndarray
    size: float

    def center(self) -> np.ndarray:
        return self.quad.mean(axis=0)


def key_points(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(eye_left, eye_right, mouth_left, mouth_right) as [2] arrays, "left" meaning image-left.

    Accepts the 68-point iBUG/dlib scheme (eyes = mean of points 36-41 and 42-47; mouth corners = points
    48 and 54) or 5 points in the common detector order [eye_left, eye_right, nose, mouth_left,
    mouth_right] (the nose is not used).
    """
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[1] != 2 or lm.shape[0] not in (5, 68):
        raise InvalidArgumentError(f"landmarks of shape {lm.shape}; expected [68, 2] (dlib scheme) or [5, 2] "
                                   "(eye_left, eye_right, nose, mouth_left, mouth_right)")
    if not np.isfinite(lm).all():
        raise InvalidArgumentError("landmarks contain NaN or infinity")
    if lm.shape[0] == 68:
        return lm[36:42].mean(axis=0), lm[42:48].mean(axis=0), lm[48], lm[54]
    return lm[0], lm[1], lm[3], lm[4]


def ffhq_quad(landmarks: np.ndarray) -> FaceQuad:
    """The FFHQ crop square of a face from its landmarks (pure geometry, see the module docstring)."""
    eye_left, eye_right, mouth_left, mouth_right = key_points(landmarks)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (mouth_left + mouth_right) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    # x: the horizontal axis of the crop - the eye direction blended with the direction perpendicular to
    # eye->mouth (rotated by -90 degrees), so both cues set the roll angle.
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    norm = np.hypot(*x)
    if norm < 1e-9:
        raise InvalidArgumentError("degenerate landmarks: eyes and mouth give no orientation")
    x = x / norm * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.array([-x[1], x[0]])  # x rotated by +90 degrees (pointing down the face in image coordinates)
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    return FaceQuad(quad=quad, size=float(np.hypot(*x) * 2))


def quad_to_output(quad: FaceQuad, points: np.ndarray, output_size: int) -> np.ndarray:
    """Where image points [K, 2] land in the aligned output of side ``output_size`` (for tests and overlays)."""
    q = quad.quad
    origin, ex, ey = q[0], (q[3] - q[0]), (q[1] - q[0])  # top-left, along the top edge, down the left edge
    basis = np.stack([ex, ey], axis=1)
    uv = np.linalg.solve(basis, (np.asarray(points, dtype=np.float64) - origin).T).T
    return uv * output_size


#: Smallest face, in pixels of its detection box's width, that alignment accepts. Below it the crop is
#: upscaled so much (an 80 px face becomes a 1024 px FFHQ image only at about 6x) that a projection
#: reproduces blur, and dlib's landmarks on such faces are unreliable.
MIN_FACE_SIZE = 80


def face_width(box: tuple[int, int, int, int]) -> int:
    """Width in pixels of a detection box (left, top, right, bottom)."""
    return int(box[2]) - int(box[0])


def align_face(image: np.ndarray | Image.Image, landmarks: np.ndarray, output_size: int = 1024,
               transform_size: int | None = None, enable_padding: bool = True) -> np.ndarray:
    """Crop and align one face as FFHQ did.

    Args:
        image: uint8 [H, W, 3] (or a PIL image) - the photo, EXIF orientation already applied.
        landmarks: [68, 2] or [5, 2] (x, y) points, see :func:`key_points`.
        output_size: side of the result (FFHQ: 1024).
        transform_size: side at which the quad is resampled before the final downsampling; None means
            4 * output_size (FFHQ: 4096 for 1024).
        enable_padding: reflect-pad (with blur and fade) when the quad leaves the photo; otherwise the
            outside is black.

    Returns:
        uint8 [output_size, output_size, 3].
    """
    if output_size < 8:
        raise InvalidArgumentError(f"output_size={output_size} must be at least 8 pixels")
    transform_size = transform_size or 4 * output_size
    img = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image, dtype=np.uint8))
    img = img.convert("RGB")
    fq = ffhq_quad(landmarks)
    quad, qsize = fq.quad.copy(), fq.size

    # Shrink: a face much larger than the output is first reduced (cheaper, and anti-aliased).
    shrink = int(np.floor(qsize / output_size * 0.5))
    if shrink > 1:
        rsize = (int(np.rint(img.size[0] / shrink)), int(np.rint(img.size[1] / shrink)))
        img = img.resize(rsize, Image.Resampling.LANCZOS)
        quad /= shrink
        qsize /= shrink

    # Crop to the quad's bounding box plus a border of 10 % of its size.
    border = max(int(np.rint(qsize * 0.1)), 3)
    lo, hi = np.floor(quad.min(axis=0)).astype(int), np.ceil(quad.max(axis=0)).astype(int)
    crop = (max(lo[0] - border, 0), max(lo[1] - border, 0), min(hi[0] + border, img.size[0]),
            min(hi[1] + border, img.size[1]))
    if crop[2] - crop[0] < img.size[0] or crop[3] - crop[1] < img.size[1]:
        img = img.crop(crop)
        quad -= np.array(crop[:2], dtype=np.float64)

    # Pad where the quad (plus border) extends past the photo.
    lo, hi = np.floor(quad.min(axis=0)).astype(int), np.ceil(quad.max(axis=0)).astype(int)
    pad = np.array([max(-lo[0] + border, 0), max(-lo[1] + border, 0),
                    max(hi[0] - img.size[0] + border, 0), max(hi[1] - img.size[1] + border, 0)])
    if enable_padding and pad.max() > border - 4:
        pad = np.maximum(pad, int(np.rint(qsize * 0.3)))
        img = Image.fromarray(_soft_pad(np.asarray(img, dtype=np.float32), pad, qsize))
        quad += pad[:2]

    # Map the quad onto a square (PIL samples the source at the quad; +0.5 = pixel centres) and downsample.
    img = img.transform((transform_size, transform_size), Image.Transform.QUAD, tuple((quad + 0.5).flatten()),
                        Image.Resampling.BILINEAR)
    if output_size < transform_size:
        img = img.resize((output_size, output_size), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.uint8)


def _soft_pad(a: np.ndarray, pad: np.ndarray, qsize: float) -> np.ndarray:
    """Reflect-pad [H, W, 3] by (left, top, right, bottom); blur and fade the padding to the median colour."""
    # scipy comes with the align extra; imported here so importing this module never needs it.
    from scipy.ndimage import gaussian_filter

    left, top, right, bottom = (int(p) for p in pad)
    a = np.pad(a, ((top, bottom), (left, right), (0, 0)), mode="reflect")
    h, w, _ = a.shape
    yy, xx = np.ogrid[:h, :w]
    # mask: 0 inside the original photo, rising to 1 at the outer edge of the padding
    with np.errstate(divide="ignore", invalid="ignore"):
        fx = np.minimum(xx.astype(np.float32) / max(left, 1), (w - 1 - xx).astype(np.float32) / max(right, 1))
        fy = np.minimum(yy.astype(np.float32) / max(top, 1), (h - 1 - yy).astype(np.float32) / max(bottom, 1))
    mask = np.maximum(1.0 - fx, 1.0 - fy)[:, :, None]
    blur = qsize * 0.02
    a = a + (gaussian_filter(a, [blur, blur, 0]) - a) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    a = a + (np.median(a, axis=(0, 1)) - a) * np.clip(mask, 0.0, 1.0)
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)
