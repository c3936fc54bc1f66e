"""The session ROI step (roi/session.py) against the generator's floor, ROI and depth."""

from __future__ import annotations

import numpy as np
import pytest

from moseq2_extract.camera import KINECT
from moseq2_extract.config import make_config
from moseq2_extract.io.image import read_image
from moseq2_extract.io.video import open_depth_video
from moseq2_extract.roi.session import find_session_roi
from moseq2_extract.synthetic import GroundTruth


@pytest.fixture(scope="module")
def session(session_factory):
    depth = session_factory("dat", n_frames=90, seed=21)
    return depth, GroundTruth.load(depth.parent / "ground_truth.npz")


def _roi(depth, tmp_path, **options):
    with open_depth_video(depth) as reader:
        return find_session_roi(reader, make_config({"workers": 1, **options}), tmp_path,
                                camera=KINECT)


def test_roi_floor_and_files(session, tmp_path):
    depth, truth = session
    arena = _roi(depth, tmp_path)
    assert arena.true_depth == pytest.approx(truth.true_depth_mm, abs=2.0)
    # the ROI is the arena floor (all of it) and the foot of the walls, nothing beyond
    overlap = (arena.roi & truth.floor_mask).sum()
    assert overlap >= 0.97 * truth.floor_mask.sum()
    ys, xs = np.nonzero(arena.roi)
    cx, cy = truth.arena_center
    assert np.hypot(xs - cx, ys - cy).max() <= truth.arena_radius + 25
    y0, y1, x0, x1 = arena.bbox
    assert (y0, y1, x0, x1) == (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1)
    assert {p.name for p in tmp_path.iterdir()} >= {"bground.tiff", "first_frame.tiff",
                                                   "roi_00.tiff", "roi_overview.png"}
    np.testing.assert_array_equal(read_image(tmp_path / "roi_00.tiff") > 0, arena.roi)


def test_plane_background_replaces_the_median(session, tmp_path):
    depth, truth = session
    arena = _roi(depth, tmp_path, use_plane_bground=True)
    a, b, c, d = arena.plane
    yy, xx = np.mgrid[:arena.background.shape[0], :arena.background.shape[1]]
    expected = -(a * xx + b * yy + d) / c
    np.testing.assert_allclose(arena.background, expected, atol=0.05, rtol=1e-3)
    # the fitted plane lies within noise_tolerance (30 mm) of the true floor
    floor = truth.floor_mask
    assert np.abs(arena.background[floor] - truth.background[floor]).max() < 30.0
