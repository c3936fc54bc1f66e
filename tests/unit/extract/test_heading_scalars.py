import numpy as np
import pytest

from moseq2_extract.camera import KINECT
from moseq2_extract.extract.heading import HeadingSmoother, motion_evidence, shape_evidence
from moseq2_extract.extract.scalars import compute_scalars
from moseq2_extract.extract.sequence import unwrap_axis


def teardrop(c=40, head_east=True):
    """Heavy, high rump on one side, narrow low head on the other."""
    yy, xx = np.mgrid[:c, :c] - (c - 1) / 2
    u = xx if head_east else -xx
    width = np.where(u < 0, 9.0, 9.0 - 0.45 * u)
    inside = (np.abs(yy) < width) & (np.abs(u) < 18)
    height = np.where(u < 0, 45.0, 45.0 - 1.2 * u)
    return np.where(inside, height, 0).astype(np.uint8), inside


def test_shape_evidence_points_to_the_head():
    east, m_e = teardrop(head_east=True)
    west, m_w = teardrop(head_east=False)
    ev = shape_evidence(np.stack([east, west]), np.stack([m_e, m_w]))
    assert ev[0] > 1 and ev[1] < -1


def test_motion_evidence_sign():
    ev = motion_evidence(np.array([2.0, -2.0, 0.0]), np.array([0.0, 0.0, 0.0]),
                         np.zeros(3))
    assert ev[0] > 1 and ev[1] < -1 and ev[2] == 0
    # heading 90 deg = up on screen = negative y
    assert motion_evidence(np.array([0.0]), np.array([-2.0]), np.array([np.pi / 2]))[0] > 1


def test_smoother_decisions_do_not_depend_on_block_size():
    rng = np.random.default_rng(0)
    n = 1000
    truth = (np.arange(n) // 400) % 2 == 1  # flipped in the middle third
    ev = np.where(truth, -0.6, 0.6) + rng.normal(0, 1.5, n)
    sw = np.full(n, 1e-3)
    sw[400] = sw[800] = 0.5

    def run(block):
        s = HeadingSmoother(lag=100)
        out = []
        for a in range(0, n, block):
            s.push(ev[a:a + block], sw[a:a + block])
            out.append(s.decide(final=a + block >= n)[0])
        return np.concatenate(out)

    a, b = run(37), run(250)
    np.testing.assert_array_equal(a, b)
    assert len(a) == n
    assert (a == truth).mean() > 0.97


def test_unwrap_axis_keeps_continuity_over_nan():
    th = np.array([1.4, -1.5, np.nan, -1.45, 1.5])
    out = unwrap_axis(th, None)
    assert np.all(np.abs(np.diff(out[np.isfinite(out)])) < 0.3)
    assert np.isnan(out[2])


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
