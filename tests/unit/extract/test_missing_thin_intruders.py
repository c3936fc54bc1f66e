"""The pure per-frame pieces of tracking: dropouts filled, thin structures cut, intruders
found (extract/dropouts.py, thin.py, intrusion.py)."""

import cv2
import numpy as np

from moseq2_extract.extract.dropouts import fill_missing, fill_strel
from moseq2_extract.extract.intrusion import (
    SURROUND_PX,
    IntrusionDetector,
    Surround,
    drop_touching,
)
from moseq2_extract.extract.thin import _masked_percentile, _percentile, remove_thin


def _mouse(h=80, w=120, height=40):
    img = np.zeros((h, w), np.uint8)
    cv2.ellipse(img, (60, 40), (30, 14), 0, 0, 360, height, -1)
    return img


def test_a_band_of_zeroed_rows_is_filled_and_the_outline_does_not_grow():
    clean = _mouse()
    frame = clean.copy()
    frame[38:43, :] = 0  # a 5-row band across the frame, through the mouse
    invalid = np.zeros(frame.shape, bool)
    invalid[38:43, :] = True
    filled = fill_missing(frame, invalid, fill_strel())
    assert filled > 0
    inside = clean > 0
    # whole again, but for the convex tips (x 30-33 and 87-90), which no closing restores
    assert np.all(frame[38:43, 34:87] > 0)
    assert not np.any(frame[~inside])  # nothing outside it was given a height


def test_the_closing_near_the_mouse_is_the_whole_frames():
    # the fill is computed over the heights' rectangle plus the element's radius: the
    # same heights as a closing of the whole frame, with the mouse anywhere (edges too)
    rng = np.random.default_rng(3)
    strel = fill_strel()
    for cx, cy in ((60, 40), (8, 40), (111, 75), (60, 3)):
        frame = np.zeros((80, 120), np.uint8)
        cv2.ellipse(frame, (cx, cy), (30, 14), 20, 0, 360, 40, -1)
        frame[frame > 0] += rng.integers(0, 20, int((frame > 0).sum()), dtype=np.uint8)
        invalid = (rng.random(frame.shape) < 0.15) & (frame > 0)
        invalid[cy - 2:cy + 3, :] = True
        frame[invalid] = 0
        closed = cv2.morphologyEx(frame, cv2.MORPH_CLOSE, strel)
        expected = frame.copy()
        sel = invalid & (closed > 0) & (frame == 0)
        expected[sel] = closed[sel]
        got = frame.copy()
        assert fill_missing(got, invalid, strel) == int(sel.sum()) > 0
        np.testing.assert_array_equal(got, expected)


def test_the_bodys_top_is_numpys_percentile():
    rng = np.random.default_rng(0)
    for n in (1, 2, 7, 1500):
        for dtype in (np.uint8, np.uint16, np.float32):
            values = (rng.random(n) * 200).astype(dtype)
            for q in (0, 50, 75, 100):
                assert np.isclose(_percentile(values, q), np.percentile(values, q))


def test_the_bodys_top_from_a_histogram_is_numpys_percentile():
    rng = np.random.default_rng(1)
    for shape in ((1, 1), (3, 5), (40, 61)):
        for dtype in (np.uint8, np.uint16):
            image = rng.integers(0, 250, shape).astype(dtype)
            mask = (rng.random(shape) < 0.6).astype(np.uint8)
            mask.flat[0] = 1
            for q in (0, 50, 75, 100):
                expected = np.percentile(image[mask.view(bool)], q)
                assert np.isclose(_masked_percentile(image, mask, q), expected)
                # a view into a larger image, as the blob's box is
                big = np.zeros((shape[0] + 4, shape[1] + 6), dtype)
                big[2:-2, 3:-3] = image
                assert np.isclose(_masked_percentile(big[2:-2, 3:-3], mask, q), expected)


def test_pixels_with_a_reading_are_never_changed():
    frame = _mouse()
    frame[10, 10] = 0
    before = frame.copy()
    assert fill_missing(frame, np.zeros(frame.shape, bool), fill_strel()) == 0
    np.testing.assert_array_equal(frame, before)


def test_a_rising_cable_is_cut_and_a_low_tail_is_kept():
    body = _mouse()
    cable = body.copy()
    for x in range(88, 118):  # 10 px wide, rising from 45 to 90 mm
        cable[35:45, x] = 45 + (x - 88) * 1.5
    mask = (cable > 10).astype(np.uint8)
    cut = remove_thin(mask, area=mask.sum(), heights=cable)
    assert cut is not None and not cut.mask[:, 95:].any()
    assert cut.mask.sum() >= (body > 0).sum() * 0.97
    # rooted where the cable leaves the body (its east end, rows 35-44)
    rx, ry = cut.root
    assert 80 <= rx <= 95 and 35 <= ry <= 45
    tail = body.copy()
    tail[36:44, 88:118] = 15  # as wide, but lower than the body: a tail
    mask = (tail > 10).astype(np.uint8)
    assert remove_thin(mask, area=mask.sum(), heights=tail) is None
    plain = (body > 0).astype(np.uint8)
    assert remove_thin(plain, area=plain.sum(), heights=body) is None


def test_a_cable_running_back_over_the_body_is_traced_to_its_plug():
    # plugged in at the east end (x = 80, the head), rising westwards over the body and
    # leaving its outline high over the rump (x < 30)
    body = _mouse().astype(np.float32)
    frame = body.copy()
    for x in range(0, 81):
        frame[36:45, x] = max(float(body[40, x]), 48 + (80 - x) * 1.2)
    mask = (frame > 10).astype(np.uint8)
    cut = remove_thin(mask, area=mask.sum(), heights=frame)
    assert cut is not None and not cut.mask[:, :20].any()
    assert cut.root is not None and cut.root[0] > 60  # the head's end, not the exit
    no_heights = remove_thin(mask, area=mask.sum())
    assert no_heights is not None and no_heights.root is None


def test_an_arm_is_an_intruder_and_a_thin_tall_cable_is_not():
    h, w = 200, 200
    background = np.full((h, w), 670.0, np.float32)
    roi = np.zeros((h, w), bool)
    cv2.circle(roi.view(np.uint8), (100, 100), 90, 1, -1)
    detector = IntrusionDetector(background, roi, max_height=100)
    raw = np.full((h, w), 670, np.uint16)
    raw[60:125, 80:120] = 670 - 40  # the mouse
    assert detector(raw) is None
    cable = raw.copy()
    cable[95:99, 120:200] = 670 - 250  # 4 px wide, far above the floor
    assert detector(cable) is None
    tether = raw.copy()
    tether[92:103, 120:200] = 670 - 150  # a sheathed tether: 11 px, along the grid
    assert detector(tether) is None
    arm = raw.copy()
    arm[150:200, 60:110] = 670 - 300  # wide, far above the floor, from the edge
    arm[140:150, 60:110] = 670 - 50  # the hand below it
    zone = detector(arm)
    assert zone is not None and zone[170, 85] and not zone[100, 100]
    blobs = ((670 - arm.astype(int)) > 10).astype(np.uint8) & roi
    blobs[150:, :] = 0
    assert drop_touching(blobs, zone)
    assert not blobs[140:150].any() and blobs[100, 100]


def test_an_arm_leaving_where_the_arena_touches_the_box_is_seen_in_the_surround():
    # a 300 x 300 frame, a round arena whose box touches it at the bottom; the wall
    # outside the arena rises towards the camera (background 600 mm)
    size, c, r = 300, 150, 100
    background = np.full((size, size), 600.0, np.float32)
    roi = np.zeros((size, size), bool)
    cv2.circle(roi.view(np.uint8), (c, c), r, 1, -1)
    background[roi] = 670.0
    bbox = (c - r, c + r + 1, c - r, c + r + 1)
    y0, y1, x0, x1 = bbox
    raw = background.astype(np.uint16)
    raw[120:180, 140:160] = 670 - 40  # the mouse
    raw[226:251, 130:170] = 670 - 50  # the hand, low, inside the box at its edge
    raw[251:, 138:162] = 600 - 20  # the wrist and arm over the wall, close to its rim
    box_only = IntrusionDetector(background[y0:y1, x0:x1], roi[y0:y1, x0:x1],
                                 max_height=100)
    assert box_only(np.ascontiguousarray(raw[y0:y1, x0:x1])) is None  # nothing to see
    surround = Surround.around(bbox, background, roi)
    assert surround.top == surround.left == SURROUND_PX
    oy0, oy1, ox0, ox1 = surround.outer_bbox(bbox)
    assert (oy0, ox0) == (y0 - SURROUND_PX, x0 - SURROUND_PX) and oy1 == min(size, y1 + 24)
    detector = IntrusionDetector(background[y0:y1, x0:x1], roi[y0:y1, x0:x1],
                                 max_height=100, surround=surround)
    zone = detector(raw[oy0:oy1, ox0:ox1])
    assert zone is not None and zone.shape == (y1 - y0, x1 - x0)
    assert zone[235 - y0, 150 - x0] and not zone[150 - y0, 150 - x0]  # the hand, not the mouse
    quiet = background.astype(np.uint16)
    quiet[120:180, 140:160] = 670 - 40
    quiet[180:200, 145:155] = 670 - 20  # a tail, nothing outside
    assert detector(quiet[oy0:oy1, ox0:ox1]) is None


def test_a_second_mouse_sized_blob_is_given_as_the_alternative():
    from moseq2_extract.extract.features import ranked_blobs
    from moseq2_extract.extract.mouse import ALTERNATIVE_MIN_AREA, find_mouse

    frame = np.zeros((120, 200), np.uint8)
    cv2.ellipse(frame, (150, 60), (34, 18), 0, 0, 360, 45, -1)  # an object, the largest
    cv2.ellipse(frame, (50, 60), (28, 12), 20, 0, 360, 35, -1)  # the mouse
    frame[5:9, 5:9] = 30  # a speck: never an alternative
    mask = (frame > 10).view(np.uint8)
    ranked = ranked_blobs(mask, count=3, min_area=100)
    assert [round(b.x) for b, _ in ranked] == [150, 50]  # largest first, no speck
    mouse, quality = find_mouse(frame, min_height=10, crop_size=80, alternative=True)
    assert mouse is not None and round(mouse.blob.x) == 150
    assert mouse.alternative is not None and round(mouse.alternative.blob.x) == 50
    assert mouse.alternative.blob.area >= ALTERNATIVE_MIN_AREA * 80 ** 2
    alone, _ = find_mouse(frame, min_height=10, crop_size=80)
    assert alone is not None and alone.alternative is None  # only when asked
