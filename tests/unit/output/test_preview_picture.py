"""The preview picture (output/preview_picture.py): jet colours, layout, YUV canvas."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from moseq2_extract.extract.results import BoxWindows
from moseq2_extract.output.preview_picture import (
    PreviewCanvas,
    colorize_heights,
    compose_preview,
    compose_preview_yuv,
    jet_lut,
)

from .blobs import MAX_H, MIN_H, moving_blob_frames


def test_jet_lut_matches_matplotlib_values():
    lut = jet_lut().astype(int)
    assert lut.shape == (256, 3)
    # matplotlib's jet: (0, 0, 0.5) at 0, (0.5, 0, 0) at 1, ~(0.490, 1, 0.478) at 0.5
    assert lut[0].tolist() == [0, 0, 127]
    assert lut[255].tolist() == [127, 0, 0]
    np.testing.assert_allclose(lut[128], [0.4902 * 255, 255, 0.4775 * 255], atol=1.01)
    # jet(191 / 255): red saturated, green 1 - (0.749 - 0.64) / 0.27, no blue
    np.testing.assert_allclose(lut[191], [255, 0.5955 * 255, 0], atol=1.01)


def test_colorize_scaling_and_dtypes():
    values = np.array([[0, 5, 10, 65, 120, 200, 250]])
    lut = jet_lut()
    # v' = clip((v - 10) / 110, 0, 1); index = min(int(v' * 256), 255)
    idx = [0, 0, 0, 128, 255, 255, 255]
    expected = lut[idx]
    for dtype in (np.uint8, np.uint16, np.float32, np.int32):
        got = colorize_heights(values.astype(dtype), min_height=MIN_H, max_height=MAX_H)
        assert got.dtype == np.uint8 and got.shape == (1, 7, 3)
        np.testing.assert_array_equal(got[0], expected, err_msg=str(dtype))
    big = np.array([[1000, 60000]], np.uint16)
    np.testing.assert_array_equal(
        colorize_heights(big, min_height=MIN_H, max_height=MAX_H)[0], lut[[255, 255]])
    with pytest.raises(ValueError, match="max_height"):
        colorize_heights(values, min_height=50, max_height=50)


def test_compose_layout_and_padding():
    n, c, h, w = 3, 40, 61, 75  # canvas 101 x 115 -> padded to 102 x 116
    crops = np.full((n, c, c), 120, np.uint8)
    box = np.full((n, h, w), 65, np.uint8)
    frames = compose_preview(crops, box, np.array([7, 8, 9]), min_height=MIN_H,
                             max_height=MAX_H)
    assert frames.shape == (n, 102, 116, 3)
    lut = jet_lut()
    # crop at the top-left, box at [c:c+h, c:c+w], colour of height 0 elsewhere
    assert (frames[:, :c, :c] == lut[255]).all()
    assert (frames[:, c:c + h, c:c + w] == lut[128]).all()
    assert (frames[:, :c, c:] == lut[0]).all()
    assert (frames[:, -1, c:] == lut[0]).all()  # padding row
    # the frame number is drawn in white in the lower-left area
    text_area = frames[:, c:, :c]
    assert (text_area == 255).all(axis=-1).any(axis=(1, 2)).all()


def test_yuv_composition_matches_rgb_composition():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 130, (3, 20, 20)).astype(np.uint8)
    # constant over 2 x 2 blocks, so chroma subsampling loses nothing
    box = np.kron(rng.integers(0, 130, (3, 16, 14)), np.ones((1, 2, 2)))[:, :31, :27]
    box = box.astype(np.uint8)
    crops = np.kron(crops[:, :10, :10], np.ones((1, 2, 2))).astype(np.uint8)
    rgb = compose_preview(crops, box, np.arange(3), min_height=10, max_height=120)
    yuv = compose_preview_yuv(crops, box, np.arange(3), min_height=10, max_height=120)
    assert yuv.shape == (3, rgb.shape[1] * 3 // 2, rgb.shape[2])
    ref = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2YUV_I420) for f in rgb])
    h, w = rgb.shape[1:3]

    def planes(i420):
        chroma = i420[:, h:].reshape(len(i420), 2, h // 2, w // 2)
        return i420[:, :h], chroma[:, 0], chroma[:, 1]

    # below the frame-number text (drawn in the top rows of this small canvas)
    for ours, theirs, row in zip(planes(yuv), planes(ref), (28, 14, 14)):
        np.testing.assert_array_equal(ours[:, row:], theirs[:, row:])


def test_canvas_repaints_only_what_changed_but_matches_a_fresh_picture():
    crops, box = moving_blob_frames(12)
    index = np.array([7, 8, 9, 10, 11, 99, 100, 101, 5, 6, 1000, 3])  # text width varies
    canvas = PreviewCanvas(box.shape[1:], crops.shape[1], min_height=MIN_H, max_height=MAX_H)
    windows = BoxWindows.from_dense(box)
    for i in range(len(index)):
        x, y = windows.rects[i, :2]
        canvas.paint(crops[i], windows.windows[i], index[i], at=(x, y))
        fresh = PreviewCanvas(box.shape[1:], crops.shape[1], min_height=MIN_H,
                              max_height=MAX_H)
        fresh.paint(crops[i], box[i], index[i])  # the whole box at (0, 0)
        np.testing.assert_array_equal(canvas.planes(), fresh.planes(), err_msg=str(i))
    np.testing.assert_array_equal(compose_preview_yuv(crops, windows, index, min_height=MIN_H,
                                                      max_height=MAX_H),
                                  compose_preview_yuv(crops, box, index, min_height=MIN_H,
                                                      max_height=MAX_H))
