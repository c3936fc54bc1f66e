"""Synthetic top-down mouse crops shared by the heading and sequence tests."""

import numpy as np

C = 80  # crop size of the model and sequence tests
SMALL_C = 40  # crop size of the classifier tests (small crops keep them fast)


def mouse_crop(c=C, *, head_east=True, rear=0.0, scale=1.0, noise=0.0, rng=None):
    """A top-down height crop of a mouse centred in the crop (mm, uint8) and its mask.

    Rump, thorax and head ellipsoids: the rump is wider than the head always and higher
    than it unless rearing (``rear`` = 1 lifts the head and thorax above the rump).
    """
    yy, xx = np.mgrid[:c, :c] - (c - 1) / 2
    u = (xx if head_east else -xx) / scale
    v = yy / scale
    parts = [(-9.0, 19.0, 13.5, 46.0),
             (7.5 - 6 * rear, 16.0 - 4 * rear, 11.0, 36.0 + 40 * rear),
             (20.5 - 9 * rear, 10.0 - 1.5 * rear, 8.0, 27.0 + 65 * rear)]
    h = np.zeros((c, c))
    for s0, a, b, top in parts:
        h = np.maximum(h, top * np.sqrt(np.clip(1 - ((u - s0) / a) ** 2 - (v / b) ** 2, 0, None)))
    if noise:
        h = h + (rng or np.random.default_rng(0)).normal(0, noise, h.shape)
    mask = h > 10
    return np.where(mask, np.clip(h, 0, 255), 0).astype(np.uint8), mask


def crops_east(n, rng, c):
    """Head-east mouse crops of assorted sizes, postures and noise."""
    out = np.empty((n, c, c), np.uint8)
    for i in range(n):
        out[i] = mouse_crop(c, scale=rng.uniform(0.45, 0.6), rear=rng.choice([0.0, 0.0, 0.7]),
                            noise=2.0, rng=rng)[0]
    return out
