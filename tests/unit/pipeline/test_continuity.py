"""Choosing between the largest blob and a second mouse-sized one by the mouse's track
(pipeline/continuity.py)."""

from __future__ import annotations

import numpy as np

from moseq2_extract.extract.chunk import FrameMeasures
from moseq2_extract.pipeline.continuity import TRACK_MEMORY, TrackFollower

C = 16  # crop size of these measures


def _measures(xs, area=1000.0, height=35.0, fill=1):
    """One blob per frame at ``(x, 100)``; its crops filled with ``fill``."""
    n = len(xs)
    m = FrameMeasures.empty(n, C, np.uint8)
    m.x[:] = xs
    m.y[:] = np.where(np.isfinite(xs), 100.0, np.nan)
    m.area[:] = np.where(np.isfinite(xs), area, 0)
    m.height[:] = np.where(np.isfinite(xs), height, 0)
    m.orientation[:] = 0.1
    m.crops[np.isfinite(xs)] = fill
    m.quality[np.isfinite(xs)] = 0
    return m


def _object_frames(m, rows, x=300.0, area=1500.0, height=45.0):
    """Make ``rows`` of ``m`` show a larger object at ``x`` as the largest blob, the mouse
    (its current values) as the alternative."""
    for i in rows:
        mouse = _measures([m.x[i]])
        mouse.quality[0] = 32
        m.alternatives[i] = mouse
        m.x[i], m.area[i], m.height[i] = x, area, height
        m.crops[i] = 9
    return m


def test_the_blob_that_continues_the_track_is_kept():
    xs = 50.0 + np.arange(60)  # walking east, 1 px a frame
    m = _object_frames(_measures(xs), range(20, 40))
    out = TrackFollower()(m)
    np.testing.assert_array_equal(out.x, xs)  # the mouse throughout, not the object
    assert not (out.crops == 9).any() and not out.alternatives
    assert np.all(out.quality[20:40] == 32) and np.all(out.quality[:20] == 0)


def test_without_a_track_the_largest_blob_is_kept():
    xs = 50.0 + np.arange(10)
    m = _object_frames(_measures(xs), range(0, 10))  # from the first frame on
    out = TrackFollower()(m)
    assert np.all(out.x == 300.0)


def test_the_track_is_forgotten_after_a_long_gap():
    xs = np.r_[50.0 + np.arange(10), np.full(TRACK_MEMORY + 1, np.nan), 60.0 + np.arange(5)]
    m = _object_frames(_measures(xs), range(len(xs) - 5, len(xs)))
    out = TrackFollower()(m)
    assert np.all(out.x[-5:] == 300.0)
    short = np.r_[50.0 + np.arange(10), np.full(5, np.nan), 60.0 + np.arange(5)]
    m = _object_frames(_measures(short), range(15, 20))
    np.testing.assert_array_equal(TrackFollower()(m).x[15:], 60.0 + np.arange(5))


def test_the_choice_does_not_depend_on_the_chunks():
    xs = 50.0 + np.arange(80) * 0.5
    whole = TrackFollower()(_object_frames(_measures(xs), range(30, 55)))
    follower = TrackFollower()
    parts = []
    for a, b in ((0, 33), (33, 34), (34, 80)):
        part = _measures(xs[a:b])
        part = _object_frames(part, [i - a for i in range(max(a, 30), min(b, 55))])
        parts.append(follower(part).x)
    np.testing.assert_array_equal(np.concatenate(parts), whole.x)


def test_a_merged_blob_does_not_teach_the_track():
    # the mouse walks into the object (one merged blob of three times its size), then
    # steps away from it: the track kept its last plausible place and size
    xs = 50.0 + np.arange(120) * 0.2
    m = _measures(xs)
    m.x[40:70], m.area[40:70] = 80.0, 3000.0  # merged: centroid pulled towards the object
    m = _object_frames(m, range(70, 120), x=110.0)  # apart: the object largest, 1 body away
    out = TrackFollower()(m)
    np.testing.assert_array_equal(out.x[70:], xs[70:])
