"""Egocentric crops (extract/crop.py)."""

import numpy as np
import pytest

from moseq2_extract.extract.crop import crop_rotate, crop_transform
from moseq2_extract.extract.features import largest_blob

from .shapes import ellipse_image


def test_crop_centres_and_turns_axis_east():
    img = ellipse_image(angle_deg=-55.0)
    blob, _ = largest_blob((img > 10).view(np.uint8))
    m = crop_transform(blob.x, blob.y, blob.orientation, 80)
    crop = crop_rotate(img, m, 80)
    b2, _ = largest_blob((crop > 10).view(np.uint8))
    assert b2.x == pytest.approx(39.5, abs=0.3) and b2.y == pytest.approx(39.5, abs=0.3)
    assert abs(np.degrees(b2.orientation)) < 1.5
    assert b2.major > 2.2 * b2.minor


