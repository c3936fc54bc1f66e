"""The pure per-frame pieces of tracking: dropouts filled, thin structures cut, intruders
found (extract/dropouts.py, thin.py, intrusion.py)."""

import cv2
import numpy as np

from moseq2_extract.extract.dropouts import fill_missing, fill_strel
from moseq2_extract.extract.intrusion import IntrusionDetector, drop_touching
from moseq2_extract.extract.thin import remove_thin


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
    kept = remove_thin(mask, area=mask.sum(), heights=cable)
    assert kept is not None and not kept[:, 95:].any()
    assert kept.sum() >= (body > 0).sum() * 0.97
    tail = body.copy()
    tail[36:44, 88:118] = 15  # as wide, but lower than the body: a tail
    mask = (tail > 10).astype(np.uint8)
    assert remove_thin(mask, area=mask.sum(), heights=tail) is None
    plain = (body > 0).astype(np.uint8)
    assert remove_thin(plain, area=plain.sum(), heights=body) is None


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
    arm = raw.copy()
    arm[150:200, 60:110] = 670 - 300  # wide, far above the floor, from the edge
    arm[140:150, 60:110] = 670 - 50  # the hand below it
    zone = detector(arm)
    assert zone is not None and zone[170, 85] and not zone[100, 100]
    blobs = ((670 - arm.astype(int)) > 10).astype(np.uint8) & roi
    blobs[150:, :] = 0
    assert drop_touching(blobs, zone)
    assert not blobs[140:150].any() and blobs[100, 100]
