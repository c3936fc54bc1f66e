"""Blob features from image moments (extract/features.py)."""

import cv2
import numpy as np
import pytest

from moseq2_extract.extract.features import largest_blob


def ellipse_image(shape=(120, 160), centre=(70.3, 50.6), axes=(20, 8), angle_deg=30.0,
                  value=40):
    """Filled ellipse; angle counter-clockwise as displayed (cv2 draws clockwise)."""
    img = np.zeros(shape, np.uint8)
    scale = 16
    c = (int(round(centre[0] * scale)), int(round(centre[1] * scale)))
    cv2.ellipse(img, c, (axes[0] * scale, axes[1] * scale), -angle_deg, 0, 360, value, -1,
                cv2.LINE_8, 4)
    return img


def test_largest_blob_moments():
    img = ellipse_image()
    img[5:8, 5:8] = 40  # a small second blob is ignored
    blob, window = largest_blob((img > 10).view(np.uint8))
    assert window.sum() == blob.area == (img[20:] > 10).sum()
    assert blob.x == pytest.approx(70.3, abs=0.15)
    assert blob.y == pytest.approx(50.6, abs=0.15)
    assert np.degrees(blob.orientation) == pytest.approx(30.0, abs=1.0)
    assert blob.major == pytest.approx(40, rel=0.05)
    assert blob.minor == pytest.approx(16, rel=0.1)


def test_empty_frame_gives_nan():
    blob, window = largest_blob(np.zeros((20, 20), np.uint8))
    assert window is None and np.isnan(blob.x)


