import cv2
import numpy as np
import pytest

from moseq2_extract.extract.chunk import ChunkParams, measure_frames, prepare_heights
from moseq2_extract.extract.crop import crop_rotate, crop_transform
from moseq2_extract.extract.features import largest_blob
from moseq2_extract.extract.frames import subtract_background, temporal_median


def ellipse_image(shape=(120, 160), centre=(70.3, 50.6), axes=(20, 8), angle_deg=30.0,
                  value=40):
    """Filled ellipse; angle counter-clockwise as displayed (cv2 draws clockwise)."""
    img = np.zeros(shape, np.uint8)
    scale = 16
    c = (int(round(centre[0] * scale)), int(round(centre[1] * scale)))
    cv2.ellipse(img, c, (axes[0] * scale, axes[1] * scale), -angle_deg, 0, 360, value, -1,
                cv2.LINE_8, 4)
    return img


def test_largest_blob_moments():
    img = ellipse_image()
    img[5:8, 5:8] = 40  # a small second blob is ignored
    blob, window = largest_blob((img > 10).view(np.uint8))
    assert window.sum() == blob.area == (img[20:] > 10).sum()
    assert blob.x == pytest.approx(70.3, abs=0.15)
    assert blob.y == pytest.approx(50.6, abs=0.15)
    assert np.degrees(blob.orientation) == pytest.approx(30.0, abs=1.0)
    assert blob.major == pytest.approx(40, rel=0.05)
    assert blob.minor == pytest.approx(16, rel=0.1)


def test_empty_frame_gives_nan():
    blob, window = largest_blob(np.zeros((20, 20), np.uint8))
    assert window is None and np.isnan(blob.x)


def test_crop_centres_and_turns_axis_east():
    img = ellipse_image(angle_deg=-55.0)
    blob, _ = largest_blob((img > 10).view(np.uint8))
    m = crop_transform(blob.x, blob.y, blob.orientation, 80)
    crop = crop_rotate(img, m, 80)
    b2, _ = largest_blob((crop > 10).view(np.uint8))
    assert b2.x == pytest.approx(39.5, abs=0.3) and b2.y == pytest.approx(39.5, abs=0.3)
    assert abs(np.degrees(b2.orientation)) < 1.5
    assert b2.major > 2.2 * b2.minor


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


def test_measure_frames_block_independent():
    rng = np.random.default_rng(0)
    frames = []
    for i in range(6):
        img = ellipse_image(centre=(60 + 3 * i, 60), angle_deg=10 * i, value=0)
        frames.append(img)
    bg = np.full((120, 160), 700, np.float32)
    raw = np.stack([np.where(ellipse_image(centre=(60 + 3 * i, 60), angle_deg=10 * i) > 0,
                             660, 700) for i in range(6)]).astype(np.uint16)
    raw = raw + rng.integers(0, 2, raw.shape).astype(np.uint16)
    params = ChunkParams(crop_size=40)
    roi = np.ones((120, 160), bool)
    h, f = prepare_heights(raw, bg, roi, params)
    whole = measure_frames(h, f, params)
    halves = [measure_frames(h[s], f[s], params) for s in (slice(0, 3), slice(3, 6))]
    np.testing.assert_array_equal(whole.x, np.concatenate([p.x for p in halves]))
    np.testing.assert_array_equal(whole.crops, np.concatenate([p.crops for p in halves]))
    assert np.allclose(whole.x, 60 + 3 * np.arange(6), atol=0.3)
    assert np.allclose(whole.height, 40, atol=1)


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
