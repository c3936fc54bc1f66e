"""Linking blocks in time: axis unwrapping, heading, velocities (pipeline/sequence.py)."""

import numpy as np

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


