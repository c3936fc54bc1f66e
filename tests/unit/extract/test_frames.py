"""Per-frame image operations: subtraction, temporal median, window filters (extract/frames.py)."""

import cv2
import numpy as np

from moseq2_extract.extract.frames import subtract_background, temporal_median


def test_subtract_background_never_wraps():
    bg = np.full((4, 4), 700, np.float32)
    raw = np.array([[[700, 690, 400, 0], [705, 580, 450, 699]] * 2], np.uint16)
    out = subtract_background(raw, bg, np.ones((4, 4), bool), min_height=10, max_height=120)
    assert out.dtype == np.uint8
    # 300 mm (too high), -5 (below floor) and invalid 0 all become 0, not 44/251
    np.testing.assert_array_equal(out[0, 0], [0, 10, 0, 0])
    np.testing.assert_array_equal(out[0, 1], [0, 120, 0, 0])


def test_temporal_median_removes_single_frame_spike():
    x = np.zeros((7, 3, 3), np.uint8)
    x[3] = 50
    assert temporal_median(x, (3,)).max() == 0
    assert temporal_median(x, (0,)).max() == 50


def test_fast_and_general_height_paths_agree():
    rng = np.random.default_rng(2)
    bg = (670 + rng.normal(0, 3, (30, 40))).astype(np.float32)
    raw = (bg[None] - rng.integers(-30, 300, (5, 30, 40))).astype(np.uint16)
    raw[:, 3:5] = 0
    roi = np.ones((30, 40), bool)
    roi[:, :4] = False
    fast = subtract_background(raw, bg, roi, min_height=10, max_height=120)
    general = subtract_background(raw.astype(np.uint16).copy(order="F"), bg, roi,
                                  min_height=10, max_height=120)
    ref = np.rint(bg[None]) - raw.astype(np.float64)
    ref[(raw == 0) | ~roi[None] | (ref < 10) | (ref > 120)] = 0
    np.testing.assert_array_equal(general, ref.astype(np.uint8))
    np.testing.assert_array_equal(fast, ref.astype(np.uint8))


def test_windowed_filters_equal_full_frame_filters():
    from moseq2_extract.extract.frames import filter_frames
    from moseq2_extract.roi.roi import make_strel

    rng = np.random.default_rng(3)
    frames = np.zeros((4, 60, 70), np.uint8)
    frames[0, 10:30, 20:50] = rng.integers(10, 60, (20, 30))
    frames[1, 0:12, 0:9] = 40  # touching the image corner
    frames[2, 50:60, 60:70] = rng.integers(10, 60, (10, 10))
    strel = make_strel("ellipse", (9, 9))
    out = filter_frames(frames, spatial_filter_size=(3,), strel_tail=strel)
    for f, o in zip(frames, out):
        ref = cv2.morphologyEx(cv2.medianBlur(f, 3), cv2.MORPH_OPEN, strel)
        np.testing.assert_array_equal(o, ref)
    assert out[3].max() == 0
