"""FFHQ alignment geometry on synthetic landmarks (no detector needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from styleblend.align import align_face, align_faces, ffhq_quad, key_points
from styleblend.align.ffhq import quad_to_output
from styleblend.align.landmarks import Face, NoFaceError
from styleblend.errors import InvalidArgumentError


def synthetic_68(eye_left, eye_right, mouth_left, mouth_right):
    """68 points whose eye means and mouth corners are the given points (others filler)."""
    lm = np.zeros((68, 2))
    lm[36:42] = np.asarray(eye_left) + np.array([[-3, 0], [-1, -1], [1, -1], [3, 0], [1, 1], [-1, 1]])
    lm[42:48] = np.asarray(eye_right) + np.array([[-3, 0], [-1, -1], [1, -1], [3, 0], [1, 1], [-1, 1]])
    lm[48], lm[54] = mouth_left, mouth_right
    return lm


def rotate(points, angle, center):
    c, s = math.cos(angle), math.sin(angle)
    r = np.array([[c, -s], [s, c]])
    return (np.asarray(points, float) - center) @ r.T + center


def frontal(cx=256.0, cy=256.0, d=60.0, m=60.0, mw=40.0):
    """Eyes d apart, mouth m below the eye line, mouth corners mw apart."""
    return np.array([[cx - d / 2, cy], [cx + d / 2, cy], [cx - mw / 2, cy + m], [cx + mw / 2, cy + m]])


def test_key_points_from_68_and_5():
    pts = frontal()
    el, er, ml, mr = key_points(synthetic_68(*pts))
    np.testing.assert_allclose(np.stack([el, er, ml, mr]), pts)
    five = np.array([pts[0], pts[1], [256, 280], pts[2], pts[3]])
    np.testing.assert_allclose(ffhq_quad(five).quad, ffhq_quad(synthetic_68(*pts)).quad)
    with pytest.raises(InvalidArgumentError):
        key_points(np.zeros((10, 2)))


def test_quad_of_a_frontal_face():
    d = m = 60.0
    q = ffhq_quad(synthetic_68(*frontal(d=d, m=m)))
    # side = 2 * max(2 d, 1.8 m) = 240; centre 0.1 m below the eye midpoint; axis-aligned
    assert q.size == pytest.approx(240.0)
    np.testing.assert_allclose(q.center(), [256.0, 256.0 + 0.1 * m])
    np.testing.assert_allclose(q.quad[0], [256 - 120, 262 - 120])  # top-left
    np.testing.assert_allclose(q.quad[2], [256 + 120, 262 + 120])  # bottom-right
    # eye-mouth distance dominates when the mouth is far: side = 2 * 1.8 m
    assert ffhq_quad(synthetic_68(*frontal(d=40, m=80))).size == pytest.approx(2 * 1.8 * 80)


@pytest.mark.parametrize("angle", [0.0, 0.3, -0.7, math.pi / 2])
def test_quad_is_equivariant_to_rotation_translation_scale(angle):
    pts = frontal()
    base = ffhq_quad(synthetic_68(*pts))
    center = np.array([256.0, 256.0])
    moved = rotate(pts, angle, center) * 1.5 + np.array([10.0, -20.0])
    q = ffhq_quad(synthetic_68(*moved))
    expected = rotate(base.quad, angle, center) * 1.5 + np.array([10.0, -20.0])
    np.testing.assert_allclose(q.quad, expected, atol=1e-9)
    assert q.size == pytest.approx(base.size * 1.5)
    # the key points land at the same place of the aligned output whatever the pose
    np.testing.assert_allclose(quad_to_output(q, moved, 256), quad_to_output(base, pts, 256), atol=1e-9)


def test_canonical_positions():
    q = ffhq_quad(synthetic_68(*frontal(d=60, m=60)))
    out = quad_to_output(q, frontal(d=60, m=60), 1)
    # eyes at 3/8 and 5/8 across, 0.475 down; mouth 0.725 down
    np.testing.assert_allclose(out[:2], [[0.375, 0.475], [0.625, 0.475]], atol=1e-9)
    np.testing.assert_allclose(out[2:, 1], [0.725, 0.725], atol=1e-9)


def _dot_image(points, size=512, radius=4, colours=((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0))):
    img = np.full((size, size, 3), 128, np.uint8)
    yy, xx = np.mgrid[:size, :size]
    for (x, y), col in zip(points, colours):
        img[(xx - x) ** 2 + (yy - y) ** 2 <= radius**2] = col
    return img


def _find(img, colour):
    diff = np.abs(img.astype(int) - np.array(colour)).sum(axis=2)
    ys, xs = np.nonzero(diff < 120)
    return np.array([xs.mean(), ys.mean()])


@pytest.mark.parametrize("angle, center", [(0.4, (256, 256)), (-0.2, (70, 90))])  # second case needs padding
def test_align_face_puts_features_at_canonical_positions(angle, center):
    pts = rotate(frontal(cx=center[0], cy=center[1]), angle, np.array(center, float))
    img = _dot_image(pts)
    out = align_face(img, synthetic_68(*pts), output_size=128)
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    expected = quad_to_output(ffhq_quad(synthetic_68(*pts)), pts, 128)
    for col, exp in zip(((255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)), expected):
        np.testing.assert_allclose(_find(out, col), exp, atol=1.5)


def test_big_photo_is_shrunk_first():
    pts = frontal(cx=1000, cy=1000, d=400, m=400, mw=250)
    img = _dot_image(pts, size=2000, radius=50)
    out = align_face(img, synthetic_68(*pts), output_size=64)
    assert out.shape == (64, 64, 3)
    np.testing.assert_allclose(_find(out, (255, 0, 0)), [0.375 * 64, 0.475 * 64], atol=1.5)


class _FakeDetector:
    def __init__(self, faces):
        self.faces = faces

    def detect(self, image):
        return self.faces


def test_align_faces_with_any_detector_and_no_face():
    pts = frontal()
    img = _dot_image(pts)
    face = Face(landmarks=synthetic_68(*pts), box=(200, 200, 300, 330))
    results = align_faces(img, 32, _FakeDetector([face, face]))
    assert len(results) == 2 and results[0][0].shape == (32, 32, 3)
    with pytest.raises(NoFaceError, match="no face"):
        align_faces(img, 32, _FakeDetector([]))


def test_faces_below_the_minimum_size_are_refused_or_skipped(caplog):
    from styleblend.align.ffhq import MIN_FACE_SIZE

    pts = frontal()
    img = _dot_image(pts)
    big = Face(landmarks=synthetic_68(*pts), box=(200, 200, 300, 330))
    tiny = Face(landmarks=synthetic_68(*pts), box=(10, 10, 46, 50))  # 36 px wide
    assert MIN_FACE_SIZE == 80
    with pytest.raises(NoFaceError, match="narrower than the minimum of 80 px.*widest is 36 px"):
        align_faces(img, 32, _FakeDetector([tiny]))
    with caplog.at_level("WARNING"):
        results = align_faces(img, 32, _FakeDetector([tiny, big]))
    assert [f.box for _, f in results] == [big.box] and "skipping 1 face(s) narrower than 80 px" in caplog.text
    assert len(align_faces(img, 32, _FakeDetector([tiny]), min_face_size=0)) == 1


def test_the_main_face_is_the_largest_for_the_cli_and_the_ui(tmp_path, caplog):
    """One rule for which face a photo is about: the largest box (a small face on the left does not win)."""
    from PIL import Image

    from styleblend.align import align_main_face, main_face
    from styleblend.media.images import from_uint8
    from styleblend.project.embedding import target_image
    from styleblend.ui.embedding import photo_target

    small_pts, big_pts = frontal(cx=120, cy=200, d=40, m=40, mw=26), frontal(cx=360, cy=260, d=90, m=90, mw=60)
    img = _dot_image(small_pts) // 2 + _dot_image(big_pts) // 2
    small = Face(landmarks=synthetic_68(*small_pts), box=(90, 170, 175, 260))  # 85 x 90, left
    big = Face(landmarks=synthetic_68(*big_pts), box=(290, 190, 430, 380))  # 140 x 190, right
    detector = _FakeDetector([small, big])
    faces = align_faces(img, 32, detector)
    assert [f.box for _, f in faces] == [small.box, big.box] and main_face(faces)[1] is big
    assert main_face(list(reversed(faces)))[1] is big  # not a matter of order
    same = Face(landmarks=small.landmarks, box=(300, 170, 385, 260))  # as large as the small one, further right
    assert main_face(align_faces(img, 32, _FakeDetector([small, same])))[1] is small  # a tie: the left-most
    path = tmp_path / "two.png"
    Image.fromarray(img).save(path)
    with caplog.at_level("WARNING"):
        expected = align_main_face(path, 32, detector)
    assert "2 faces" in caplog.text and np.array_equal(expected, faces[1][0])
    assert np.array_equal(target_image(path, 32, align=True, detector=detector), expected)  # the CLI's target
    assert torch.equal(photo_target(path, 32, 3, align=True, detector=detector), from_uint8(expected))  # the UI's
