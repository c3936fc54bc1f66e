"""Chunk results (extract/results.py): the compact box windows."""

import pickle

import numpy as np
import pytest

from moseq2_extract.extract.results import BoxWindows


def test_box_windows_round_trip():
    rng = np.random.default_rng(0)
    box = np.zeros((5, 30, 40), np.uint8)
    box[0, 3:9, 10:20] = rng.integers(1, 100, (6, 10))
    box[2, 0:30, 39] = 7  # a column on the edge
    box[3, 12, 5] = 200  # one pixel
    windows = BoxWindows.from_dense(box)
    assert len(windows) == 5 and windows.shape == (30, 40) and windows.dtype == np.uint8
    assert windows.rects[1].tolist() == [0, 0, 0, 0]  # an empty frame
    assert windows.rects[3].tolist() == [5, 12, 1, 1]
    np.testing.assert_array_equal(windows.dense(), box)
    np.testing.assert_array_equal(np.asarray(windows), box)
    np.testing.assert_array_equal(windows.frame(0), box[0])
    np.testing.assert_array_equal(windows[1:4].dense(), box[1:4])
    copy = pickle.loads(pickle.dumps(windows))
    np.testing.assert_array_equal(copy.dense(), box)
    # the compact form is what makes blocks cheap to send between processes
    assert sum(w.nbytes for w in windows.windows) < box.nbytes / 10
    with pytest.raises(TypeError):
        windows[2]
    with pytest.raises(ValueError):
        BoxWindows((3, 3), np.zeros((2, 4)), [np.zeros((0, 0))])
