import numpy as np
import pytest

from moseq2_extract.camera import KINECT
from moseq2_extract.extract.scalars import compute_scalars
from moseq2_extract.pipeline.sequence import unwrap_axis, unwrap_heading


def test_unwrap_axis_keeps_continuity_over_nan():
    th = np.array([1.4, -1.5, np.nan, -1.45, 1.5])
    out = unwrap_axis(th, None)
    assert np.all(np.abs(np.diff(out[np.isfinite(out)])) < 0.3)
    assert np.isnan(out[2])
    np.testing.assert_allclose(np.mod(out[np.isfinite(out)] - th[np.isfinite(th)], np.pi), 0,
                               atol=1e-12)


def test_unwrap_continues_from_the_previous_block():
    out = unwrap_axis(np.array([-1.5, -1.4]), 1.5)
    np.testing.assert_allclose(out, [-1.5 + np.pi, -1.4 + np.pi])
    head = unwrap_heading(np.array([-3.1, 3.1]), 3.0)
    np.testing.assert_allclose(head, [-3.1 + 2 * np.pi, 3.1])


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
