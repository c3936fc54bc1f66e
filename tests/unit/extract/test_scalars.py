"""The 17 per-frame scalars (extract/scalars.py): pixels, millimetres, velocities."""

import numpy as np
import pytest

from moseq2_extract.camera import KINECT, CameraModel
from moseq2_extract.extract.results import SCALAR_NAMES
from moseq2_extract.extract.scalars import MotionCarry, compute_scalars


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


# an anisotropic camera tells the x and y pixel sizes apart
CAM = CameraModel("test", 200, 100, 400.0, 200.0, 100.0, 50.0, (1.0, 0.1, 1.0),
                  "gray16le", "<u2")
DEPTH = 800.0  # mm: 2 mm per px along x, 4 mm per px along y


def scalars_of(n=4, carry=None, **over):
    values = dict(x=np.full(n, 10.0), y=np.full(n, 20.0), angle=np.zeros(n),
                  major=np.full(n, 30.0), minor=np.full(n, 12.0), area=np.full(n, 250.0),
                  height=np.full(n, 25.0))
    values.update(over)
    return compute_scalars(**values, box_origin=(40, 5), camera=CAM, true_depth=DEPTH,
                           carry=carry)


def test_names_order_and_dtype():
    scalars, _ = scalars_of()
    assert list(scalars) == list(SCALAR_NAMES) and len(scalars) == 17
    assert all(v.dtype == np.float32 and v.shape == (4,) for v in scalars.values())


def test_pixel_scalars_are_the_measures_in_box_pixels():
    s, _ = scalars_of(x=np.array([1.0, 2.0, 3.0, 4.0]), major=np.array([30.0, 31, 32, 33]))
    np.testing.assert_array_equal(s["centroid_x_px"], [1, 2, 3, 4])  # box, not full frame
    np.testing.assert_array_equal(s["centroid_y_px"], 20.0)
    np.testing.assert_array_equal(s["length_px"], [30, 31, 32, 33])
    np.testing.assert_array_equal(s["width_px"], 12.0)
    np.testing.assert_array_equal(s["area_px"], 250.0)
    np.testing.assert_array_equal(s["height_ave_mm"], 25.0)


def test_centroid_in_mm_uses_full_frame_pixels_and_the_principal_point():
    s, _ = scalars_of()
    # full frame (10 + 40, 20 + 5); principal point (100, 50); 2 and 4 mm per px
    assert s["centroid_x_mm"][0] == pytest.approx((50 - 100) * 2.0)
    assert s["centroid_y_mm"][0] == pytest.approx((25 - 50) * 4.0)


@pytest.mark.parametrize(("angle", "along", "across"), [
    (0.0, 2.0, 4.0),  # body along x
    (np.pi / 2, 4.0, 2.0),  # body along y
    (np.pi, 2.0, 4.0),  # heading reversed: same sizes
    (np.pi / 4, np.sqrt(10.0), np.sqrt(10.0)),  # diagonal: hypot(2, 4) / sqrt(2)
])
def test_length_and_width_in_mm_follow_the_body_axis(angle, along, across):
    s, _ = scalars_of(angle=np.full(4, angle))
    np.testing.assert_allclose(s["length_mm"], 30.0 * along, rtol=1e-6)
    np.testing.assert_allclose(s["width_mm"], 12.0 * across, rtol=1e-6)
    np.testing.assert_allclose(s["area_mm"], 250.0 * 2.0 * 4.0, rtol=1e-6)
    np.testing.assert_allclose(s["angle"], angle, rtol=1e-6)


def test_undefined_angle_uses_the_mean_pixel_size():
    s, _ = scalars_of(angle=np.full(4, np.nan))
    np.testing.assert_allclose(s["length_mm"], 30.0 * 3.0, rtol=1e-6)
    np.testing.assert_allclose(s["width_mm"], 12.0 * 3.0, rtol=1e-6)


def test_velocities_are_backward_differences():
    x = np.array([10.0, 13.0, 13.0, 13.0])
    y = np.array([20.0, 24.0, 24.0, 23.0])
    h = np.array([25.0, 25.0, 37.0, 25.0])
    s, carry = scalars_of(x=x, y=y, height=h)
    np.testing.assert_allclose(s["velocity_2d_px"], [0, 5, 0, 1], rtol=1e-6)
    np.testing.assert_allclose(s["velocity_3d_px"], [0, 5, 12, np.hypot(1, 12)], rtol=1e-6)
    # in mm: dx 3 px = 6 mm, dy 4 px = 16 mm
    np.testing.assert_allclose(s["velocity_2d_mm"], [0, np.hypot(6, 16), 0, 4], rtol=1e-6)
    np.testing.assert_allclose(s["velocity_3d_mm"],
                               [0, np.hypot(6, 16), 12, np.hypot(4, 12)], rtol=1e-6)
    # direction of motion in mm, image y down: atan2(dy, dx)
    np.testing.assert_allclose(s["velocity_theta"][[1, 3]],
                               [np.arctan2(16, 6), np.arctan2(-4, 0)], rtol=1e-6)
    assert s["velocity_theta"][0] == 0  # no motion at the first frame
    assert carry == MotionCarry(13.0, 23.0, (53 - 100) * 2.0, (28 - 50) * 4.0, 25.0)


def test_carry_gives_the_first_frame_a_velocity():
    carry = MotionCarry(x_px=7.0, y_px=16.0, x_mm=(47 - 100) * 2.0, y_mm=(21 - 50) * 4.0,
                        height=25.0)
    s, _ = scalars_of(n=2, carry=carry)
    assert s["velocity_2d_px"][0] == pytest.approx(5.0)
    assert s["velocity_2d_mm"][0] == pytest.approx(np.hypot(6, 16))
    assert s["velocity_2d_px"][1] == 0


def test_no_frames_keeps_the_carry():
    carry = MotionCarry(1.0, 2.0, 3.0, 4.0, 5.0)
    s, out = scalars_of(n=0, carry=carry)
    assert out is carry and list(s) == list(SCALAR_NAMES)
    assert all(v.shape == (0,) for v in s.values())
