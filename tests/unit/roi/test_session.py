"""The session ROI step (roi/session.py) against the generator's floor, ROI and depth."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from moseq2_extract.camera import KINECT
from moseq2_extract.config import make_config
from moseq2_extract.errors import RoiError
from moseq2_extract.io.image import read_image, write_image
from moseq2_extract.io.video import open_depth_video
from moseq2_extract.roi.session import find_session_roi, write_overview_png
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


def test_deferred_pictures_are_written_by_the_caller(session, tmp_path):
    depth, _ = session
    with open_depth_video(depth) as reader:
        arena = find_session_roi(reader, make_config({}), tmp_path, camera=KINECT,
                                 defer_pictures=True)
        first = reader.read(0, 1)[0]
    # nothing is written yet (the background holds the values its file will store)
    assert list(tmp_path.iterdir()) == []
    assert [p.name for p in arena.files] == ["bground.tiff", "first_frame.tiff",
                                             "roi_00.tiff", "roi_overview.png"]
    arena.write_pictures()
    assert {p.name for p in tmp_path.iterdir()} == {p.name for p in arena.files}
    np.testing.assert_array_equal(arena.background,
                                  read_image(tmp_path / "bground.tiff").astype(np.float32))
    np.testing.assert_array_equal(arena.first_frame, first)
    np.testing.assert_array_equal(read_image(tmp_path / "first_frame.tiff"), first[None])
    assert _roi(depth, tmp_path / "now").write_pictures is None


def test_stored_background_is_what_a_rerun_reads_back(session, tmp_path):
    depth, _ = session
    arena = _roi(depth, tmp_path)
    np.testing.assert_array_equal(arena.background,
                                  read_image(tmp_path / "bground.tiff").astype(np.float32))
    again = _roi(depth, tmp_path)  # loads bground.tiff
    np.testing.assert_array_equal(again.background, arena.background)
    np.testing.assert_array_equal(again.roi, arena.roi)
    assert again.true_depth == arena.true_depth


def test_an_existing_background_is_used_unless_recomputed(session, tmp_path):
    depth, truth = session
    deeper = np.where(truth.background > 0, truth.background + 20, 0).astype(np.float32)
    write_image(tmp_path / "bground.tiff", deeper)
    used = _roi(depth, tmp_path)
    assert used.true_depth == pytest.approx(truth.true_depth_mm + 20, abs=2.0)
    fresh = _roi(depth, tmp_path, recompute_bg=True)
    assert fresh.true_depth == pytest.approx(truth.true_depth_mm, abs=2.0)
    assert _roi(depth, tmp_path).true_depth == fresh.true_depth  # the file was replaced


def test_depth_settings_from_the_config(session, tmp_path):
    depth, truth = session
    fixed = _roi(depth, tmp_path / "a", detected_true_depth="655")
    assert fixed.true_depth == 655.0
    manual = _roi(depth, tmp_path / "b", manual_set_depth_range=True,
                  bg_roi_depth_range=[640.0, 700.0])
    assert manual.depth_range == (640.0, 700.0)
    assert (manual.roi & truth.floor_mask).sum() >= 0.97 * truth.floor_mask.sum()


def test_errors_name_the_file(session, tmp_path):
    depth, _ = session
    with pytest.raises(RoiError, match=rf"{depth}: .*--manual-set-depth-range"):
        _roi(depth, tmp_path / "a", manual_set_depth_range=True,
             bg_roi_depth_range=[300.0, 400.0])  # no floor at that depth
    with pytest.raises(RoiError, match=rf"{depth}: bg_roi_index 3 requested but only 1"):
        _roi(depth, tmp_path / "b", bg_roi_index=3)


def test_overview_picture(tmp_path):
    background = np.full((40, 50), 700.0, np.float32)
    background[:, :5] = 0  # invalid
    roi = np.zeros((40, 50), bool)
    roi[10:30, 15:40] = True
    path = write_overview_png(tmp_path / "roi_overview.png", background, roi,
                              depth_range=(650.0, 750.0), true_depth=700.0)
    assert [p.name for p in tmp_path.iterdir()] == ["roi_overview.png"]
    img = cv2.imread(str(path))
    assert img.shape == (80, 100, 3)  # twice the frame size
    red = (img[..., 2] > 200) & (img[..., 0] < 50) & (img[..., 1] < 50)
    ys, xs = np.nonzero(red)
    assert red.sum() > 50  # the ROI outline, around rows 20-60 and columns 30-80
    assert ys.min() >= 17 and ys.max() <= 62 and xs.min() >= 27 and xs.max() <= 82
    assert not red[45:55, 45:70].any()  # inside the ROI: not outlined
