"""Preview inputs shared by the preview picture and movie tests."""

import numpy as np

MIN_H, MAX_H = 10, 120


def moving_blob_frames(n, c=16, h=40, w=50, seed=0):
    """Random crops and a box with one textured blob moving across it."""
    rng = np.random.default_rng(seed)
    crops = rng.integers(0, 130, (n, c, c)).astype(np.uint8)
    box = np.zeros((n, h, w), np.uint8)
    for i in range(n):
        y, x = 3 + (i * 3) % (h - 12), 2 + (i * 5) % (w - 14)
        box[i, y:y + 9, x:x + 11] = rng.integers(5, 130, (9, 11))
    return crops, box
