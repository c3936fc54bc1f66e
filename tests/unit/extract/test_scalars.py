"""The per-frame scalars in px and mm (extract/scalars.py)."""

import numpy as np
import pytest

from moseq2_extract.camera import KINECT
from moseq2_extract.extract.scalars import compute_scalars


def test_scalars_velocity_carries_across_chunks():
    x = np.arange(10, dtype=float)
    y = np.zeros(10)
    kw = dict(angle=np.zeros(10), major=np.full(10, 40.0), minor=np.full(10, 20.0),
              area=np.full(10, 600.0), height=np.full(10, 30.0), box_origin=(100, 50),
              camera=KINECT, true_depth=670.0)
    whole, _ = compute_scalars(x=x, y=y, **kw)
    half = {k: v[:5] for k, v in kw.items() if isinstance(v, np.ndarray)}
    rest = {k: v[5:] for k, v in kw.items() if isinstance(v, np.ndarray)}
    common = dict(box_origin=(100, 50), camera=KINECT, true_depth=670.0)
    s1, carry = compute_scalars(x=x[:5], y=y[:5], **half, **common)
    s2, _ = compute_scalars(x=x[5:], y=y[5:], carry=carry, **rest, **common)
    for k in whole:
        np.testing.assert_allclose(whole[k], np.concatenate([s1[k], s2[k]]))
    assert whole["velocity_2d_px"][0] == 0 and whole["velocity_2d_px"][5] == 1
    assert whole["centroid_x_mm"][0] == pytest.approx(670 * (100 - 256) / KINECT.fx, rel=1e-6)
    assert whole["length_mm"][0] == pytest.approx(40 * 670 / KINECT.fx, rel=1e-6)
    assert whole["area_mm"][0] == pytest.approx(600 * (670 / KINECT.fx) ** 2, rel=1e-6)
