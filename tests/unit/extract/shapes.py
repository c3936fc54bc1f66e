"""Test images of known geometry."""

from __future__ import annotations

import cv2
import numpy as np


def ellipse_image(shape=(120, 160), centre=(70.3, 50.6), axes=(20, 8), angle_deg=30.0,
                  value=40):
    """Filled ellipse; angle counter-clockwise as displayed (cv2 draws clockwise)."""
    img = np.zeros(shape, np.uint8)
    scale = 16
    c = (int(round(centre[0] * scale)), int(round(centre[1] * scale)))
    cv2.ellipse(img, c, (axes[0] * scale, axes[1] * scale), -angle_deg, 0, 360, value, -1,
                cv2.LINE_8, 4)
    return img
