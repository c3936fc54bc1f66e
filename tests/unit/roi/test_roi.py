"""Finding the arena floor in the background (roi/roi.py)."""

import numpy as np
import pytest

from moseq2_extract.errors import RoiError
from moseq2_extract.roi.roi import find_rois, make_strel, roi_bbox, true_depth_of


def bucket(shape=(200, 240), radius=70, floor=670.0, outside=950.0):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    r = np.hypot(yy - 100, xx - 120)
    bg = np.where(r < radius, floor, outside)
    wall = (r >= radius) & (r < radius + 12)
    bg[wall] = 500.0
    return bg.astype(np.float32), r < radius


def test_find_rois_selects_bucket_floor():
    bg, truth = bucket()
    res = find_rois(bg, depth_range=(620, 720), strel_dilate=make_strel("ellipse", (3, 3)),
                    dilate_iterations=0)
    roi = res.rois[0]
    assert roi.dtype == bool
    xor = np.logical_xor(roi, truth).mean()
    assert xor < 0.01
    assert true_depth_of(bg, roi) == pytest.approx(670.0)
    y0, y1, x0, x1 = roi_bbox(roi)
    assert (y0, x0) == (31, 51) and (y1, x1) == (170, 190)


def test_dilation_grows_roi():
    bg, truth = bucket()
    res = find_rois(bg, depth_range=(620, 720), strel_dilate=make_strel("ellipse", (10, 10)),
                    dilate_iterations=1)
    assert res.rois[0].sum() > truth.sum()
    assert res.rois[0][truth].all()


def test_no_floor_raises_clear_error():
    bg, _ = bucket(floor=1200.0)
    with pytest.raises(RoiError, match="floor"):
        find_rois(bg, depth_range=(620, 720))


def test_rank_max_and_fill_holes_match_scipy():
    from scipy import ndimage
    from scipy.stats import rankdata

    from moseq2_extract.roi.roi import fill_holes_of, rank_max

    rng = np.random.default_rng(0)
    v = rng.integers(0, 5, 40).astype(float)
    np.testing.assert_array_equal(rank_max(v), rankdata(v, method="max"))
    mask = rng.random((50, 60)) > 0.45
    mask[10:30, 10:30] = True
    mask[15:20, 15:20] = False  # a hole
    np.testing.assert_array_equal(fill_holes_of(mask), ndimage.binary_fill_holes(mask))
