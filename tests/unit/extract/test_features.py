"""Blob features from image moments (extract/features.py)."""

import numpy as np
import pytest

from moseq2_extract.extract.features import largest_blob

from .shapes import ellipse_image


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


