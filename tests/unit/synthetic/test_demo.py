"""Checking an extraction against the generator's truth (synthetic/demo.py)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from moseq2_extract.synthetic import SessionSpec, SyntheticSession
from moseq2_extract.synthetic.demo import angle_diff, compare_to_truth


def test_angle_diff():
    a = np.array([0.1, 3.1, -3.1, np.pi / 2])
    b = np.array([-0.1, -3.1, 3.1, -np.pi / 2])
    np.testing.assert_allclose(angle_diff(a, b, 2 * np.pi),
                               [0.2, 2 * np.pi - 6.2, 2 * np.pi - 6.2, np.pi], atol=1e-12)
    np.testing.assert_allclose(angle_diff(a, b, np.pi)[3], 0.0, atol=1e-12)  # same axis


@pytest.fixture(scope="module")
def truth():
    return SyntheticSession(SessionSpec(n_frames=12, seed=2)).ground_truth()


def write_results(path, truth, *, first, n, dx=0.0, dangle=0.0, dheight=0.0, missing=()):
    """Results of frames first .. first + n - 1 with known errors, ROI box at (30, 20)."""
    sl = slice(first, first + n)
    roi = np.zeros(truth.background.shape, bool)
    roi[20:400, 30:480] = True
    x = truth.centroid_x[sl] - 30 + dx
    y = truth.centroid_y[sl] - 20
    angle = truth.angle[sl] + dangle
    x[list(missing)] = np.nan
    with h5py.File(path, "w") as f:
        f["scalars/centroid_x_px"] = x.astype(np.float32)
        f["scalars/centroid_y_px"] = y.astype(np.float32)
        f["scalars/angle"] = angle.astype(np.float32)
        f["scalars/height_ave_mm"] = (truth.height_mean_mm[sl] + dheight).astype(np.float32)
        f["metadata/extraction/roi"] = roi
        f["metadata/extraction/first_frame_idx"] = np.array([first])
    return path


def test_a_perfect_extraction(truth, tmp_path):
    acc = compare_to_truth(write_results(tmp_path / "r.h5", truth, first=0, n=12), truth)
    assert acc.n_frames == 12 and acc.missing == 0
    assert acc.centroid_px < 1e-3 and acc.axis_deg < 1e-3 and acc.height_mm < 1e-3
    assert acc.heading_flip_rate == 0


def test_known_errors_are_measured(truth, tmp_path):
    path = write_results(tmp_path / "r.h5", truth, first=3, n=8, dx=0.5, dangle=np.pi,
                         dheight=-2.0, missing=(1, 4))
    acc = compare_to_truth(path, truth)
    assert acc.n_frames == 6 and acc.missing == 2  # frames 3-10, two without a mouse
    assert acc.centroid_px == pytest.approx(0.5, abs=1e-3)
    assert acc.axis_deg < 1e-3  # a reversed heading keeps the axis ...
    assert acc.heading_flip_rate == 1.0  # ... but every heading is wrong
    assert acc.height_mm == pytest.approx(2.0, abs=1e-3)
