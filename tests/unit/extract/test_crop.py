"""Egocentric crops (extract/crop.py)."""

import cv2
import numpy as np
import pytest

from moseq2_extract.extract.crop import crop_rotate, crop_transform
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


def test_crop_centres_and_turns_axis_east():
    img = ellipse_image(angle_deg=-55.0)
    blob, _ = largest_blob((img > 10).view(np.uint8))
    m = crop_transform(blob.x, blob.y, blob.orientation, 80)
    crop = crop_rotate(img, m, 80)
    b2, _ = largest_blob((crop > 10).view(np.uint8))
    assert b2.x == pytest.approx(39.5, abs=0.3) and b2.y == pytest.approx(39.5, abs=0.3)
    assert abs(np.degrees(b2.orientation)) < 1.5
    assert b2.major > 2.2 * b2.minor


