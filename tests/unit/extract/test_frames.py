"""Per-frame image operations (extract/frames.py): heights above the floor, thresholds,
windowed filters, the temporal median."""

import cv2
import numpy as np
import pytest

from moseq2_extract.extract.frames import (
    HeightSubtractor,
    WindowFilter,
    filter_frames,
    nonzero_rect,
    subtract_background,
    temporal_median,
)
from moseq2_extract.roi.roi import make_strel


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


def test_integer_and_float_height_paths_agree(box_frames):
    raw, background, roi = box_frames
    sub = HeightSubtractor(background, roi, min_height=10, max_height=120)
    assert sub.integer
    fast = np.empty(raw.shape[1:], np.uint8)
    slow = np.empty(raw.shape[1:], np.uint8)
    scratch = sub.new_scratch()
    for frame in raw[:5]:
        sub(frame, fast, scratch)
        sub.integer = False
        sub(frame, slow, scratch)
        sub.integer = True
        np.testing.assert_array_equal(fast, slow)
        assert fast.max() > 10


def test_heights_use_the_background_rounded_to_whole_mm():
    bg = np.array([[700.4, 700.6, 700.5, 699.5]], np.float32)
    raw = np.full((1, 1, 4), 650, np.uint16)
    out = subtract_background(raw, bg, np.ones((1, 4), bool), min_height=10, max_height=120)
    np.testing.assert_array_equal(out[0, 0], [50, 51, 50, 50])  # rint: halves to even


def test_fractional_limits_and_the_roi_on_both_paths():
    bg = np.full((1, 6), 700, np.float32)
    raw = np.array([[[690, 689, 581, 580, 650, 650]]], np.uint16)
    roi = np.array([[True, True, True, True, True, False]])
    sub = HeightSubtractor(bg, roi, min_height=10.5, max_height=119.5)
    assert sub.integer
    expected = [0, 11, 119, 0, 50, 0]  # 10 < 10.5, 120 > 119.5, last pixel outside the ROI
    for integer in (True, False):
        sub.integer = integer
        out = np.empty((1, 6), np.uint8)
        sub(raw[0], out, sub.new_scratch())
        np.testing.assert_array_equal(out[0], expected, err_msg=f"integer={integer}")


def test_low_floor_takes_the_float_path_and_keeps_invalid_pixels_out():
    # the floor (100 mm) is within the height range: an invalid pixel (0) would read as
    # a 100 mm high object on the saturating integer path
    bg = np.full((2, 2), 100, np.float32)
    raw = np.array([[[0, 60], [95, 100]]], np.uint16)
    sub = HeightSubtractor(bg, np.ones((2, 2), bool), min_height=10, max_height=120)
    assert not sub.integer
    out = subtract_background(raw, bg, np.ones((2, 2), bool), min_height=10, max_height=120)
    np.testing.assert_array_equal(out[0], [[0, 40], [0, 0]])


def test_uint16_heights_keep_values_above_255():
    bg = np.full((1, 3), 900, np.float32)
    raw = np.array([[[600, 300, 899]]], np.uint16)
    out = subtract_background(raw, bg, np.ones((1, 3), bool), min_height=0, max_height=400,
                              frame_dtype="uint16")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[0, 0], [300, 0, 1])  # 600 > 400 is dropped


def test_nonzero_rect():
    frame = np.zeros((10, 12), np.uint8)
    assert nonzero_rect(frame) == (0, 0, 0, 0)
    frame[2, 3] = frame[6, 8] = 1
    assert nonzero_rect(frame) == (3, 2, 6, 5)  # x, y, w, h
    wide = np.zeros((10, 12), np.uint16)
    wide[9, 11] = 300
    assert nonzero_rect(wide) == (11, 9, 1, 1)


def test_window_padding_covers_every_filter_and_stays_inside_the_frame():
    strel = make_strel("ellipse", (9, 9))
    assert WindowFilter(spatial_filter_size=(3,)).pad == 2 + 1
    assert WindowFilter(spatial_filter_size=(5, 3), strel_tail=strel).pad == 2 + 3
    assert WindowFilter(spatial_filter_size=(3,), strel_tail=strel, tail_filter_iters=2,
                        strel_cable=make_strel("ellipse", (3, 3)),
                        cable_filter_iters=1).pad == 2 + 1
    ring = np.ones((5, 5), np.uint8)
    ring[2, 2] = 0  # no full central row: its whole extent, times its iterations
    assert WindowFilter(spatial_filter_size=(3,), strel_tail=ring,
                        tail_filter_iters=2).pad == 2 + 1 + 10
    filt = WindowFilter(spatial_filter_size=(3,))
    assert filt.window((10, 20, 5, 4), (100, 100)) == (17, 27, 7, 18)  # y0, y1, x0, x1
    assert filt.window((0, 0, 5, 4), (6, 7)) == (0, 6, 0, 7)


def test_spatial_kernel_choices():
    assert WindowFilter(spatial_filter_size=(3, 1, 5)).spatial == (3, 5)
    assert WindowFilter(spatial_filter_size=(3, 0)).spatial == ()  # any 0: off
    assert WindowFilter(spatial_filter_size=(7, 3), dtype=np.uint16).spatial == (5, 3)


def test_window_filter_never_modifies_the_frame():
    frame = np.zeros((20, 20), np.uint8)
    frame[5:15, 5:15] = 30
    frame[9, 9] = 200  # a spike the median removes
    before = frame.copy()
    for filt in (WindowFilter(spatial_filter_size=(3,)), WindowFilter(spatial_filter_size=())):
        out = filt(frame, (0, 20, 0, 20))
        assert not np.shares_memory(out, frame)
        np.testing.assert_array_equal(frame, before)
    assert WindowFilter(spatial_filter_size=(3,))(frame, (0, 20, 0, 20))[9, 9] == 30


def test_cable_erosion_and_uint16_medians_equal_full_frame_filters():
    rng = np.random.default_rng(5)
    frames = np.zeros((3, 50, 60), np.uint16)
    frames[0, 10:30, 10:40] = rng.integers(100, 900, (20, 30))
    frames[0, 30:45, 24:26] = 500  # a thin cable below the body
    frames[1, 40:50, 50:60] = rng.integers(100, 900, (10, 10))
    cable = make_strel("ellipse", (3, 3))
    out = filter_frames(frames, spatial_filter_size=(7,), strel_cable=cable,
                        cable_filter_iters=1)
    assert out.dtype == np.uint16
    for f, o in zip(frames, out):
        ref = cv2.medianBlur(cv2.erode(f, cable, iterations=1), 5)  # 7 -> 5 for uint16
        np.testing.assert_array_equal(o, ref)
    assert out[0, 33:45].max() == 0  # the cable is gone
    assert out[2].max() == 0


def test_temporal_medians_run_in_turn_with_nearest_edges():
    rng = np.random.default_rng(6)
    x = rng.integers(0, 200, (9, 2, 3)).astype(np.uint8)

    def median(a, k):
        half = k // 2
        padded = np.concatenate([a[:1].repeat(half, 0), a, a[-1:].repeat(half, 0)])
        return np.stack([np.median(padded[t:t + k], axis=0) for t in range(len(a))]
                        ).astype(a.dtype)

    np.testing.assert_array_equal(temporal_median(x, (3,)), median(x, 3))
    np.testing.assert_array_equal(temporal_median(x, (3, 1, 5)), median(median(x, 3), 5))
    assert temporal_median(x, (3, 0)) is x  # any 0: off


@pytest.mark.parametrize("seed", range(6))
def test_windowed_filters_equal_full_frame_filters_for_any_settings(seed):
    # the window's padding is the least that keeps the result exact: every filter and
    # iteration count, blobs anywhere (touching the frame's edges too)
    rng = np.random.default_rng(seed)
    dtype = (np.uint8, np.uint16)[seed % 2]
    frame = np.zeros((90, 100), dtype)
    for _ in range(3):
        y, x = rng.integers(-5, 85), rng.integers(-5, 95)
        h, w = rng.integers(3, 30, 2)
        frame[max(y, 0):y + h, max(x, 0):x + w] = rng.integers(10, 250, (
            len(range(max(y, 0), min(y + h, 90))), len(range(max(x, 0), min(x + w, 100)))))
    frame[rng.random(frame.shape) < 0.02] = 0
    spatial = [(3,), (5, 3), (7,), (0,)][seed % 4]
    tail = make_strel(("ellipse", "rectangle", "cross")[seed % 3],
                      [(9, 9), (15, 15), (5, 7)][seed % 3])
    cable = make_strel("ellipse", (3, 3)) if seed % 3 else make_strel("rectangle", (5, 5))
    filt = WindowFilter(spatial_filter_size=spatial, strel_tail=tail,
                        tail_filter_iters=1 + seed % 2, strel_cable=cable,
                        cable_filter_iters=seed % 3, dtype=dtype)
    whole = filt(frame, (0, 90, 0, 100))
    y0, y1, x0, x1 = filt.window(nonzero_rect(frame), frame.shape)
    windowed = np.zeros_like(frame)
    windowed[y0:y1, x0:x1] = filt(frame, (y0, y1, x0, x1))
    np.testing.assert_array_equal(windowed, whole)
