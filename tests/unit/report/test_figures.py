"""The timeline figure: a figure laid out ahead of time (the warm-up) draws the same picture
as a fresh one; the panels and labels follow the session's data."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from matplotlib import rc_context

from moseq2_extract.report import load_session_data
from moseq2_extract.report.figures import RC, _layout, _plot, timeline_figure, warm_up
from moseq2_extract.report.metrics import dropped_frames, flag_masks, speed_mm_s
from moseq2_extract.report.pictures import read_crops


def _inputs(h5):
    data = load_session_data(h5)
    return data, read_crops(data).spine, speed_mm_s(data), dropped_frames(data.time_s,
                                                                          data.fps)


def _decode(png: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_prepared_canvas_draws_the_same_picture_once(extracted_batch):
    _, h5s = extracted_batch
    for h5 in h5s[:2]:  # a clean session and one with quality flags
        data, spine, speed, gaps = _inputs(h5)
        fresh = _decode(timeline_figure(data, spine, speed, gaps))
        canvas = warm_up()
        assert canvas.n_traces == 6 and not canvas.used
        prepared = _decode(timeline_figure(data, spine, speed, gaps, canvas=canvas))
        assert canvas.used
        np.testing.assert_array_equal(prepared, fresh)
        # a used canvas is not drawn into again: the picture stays the fresh one
        again = _decode(timeline_figure(data, spine, speed, gaps, canvas=canvas))
        np.testing.assert_array_equal(again, fresh)
        assert fresh.shape[1] == 880 and fresh.std() > 10


def test_canvas_with_other_panels_is_not_used(extracted_batch):
    _, h5s = extracted_batch
    data, spine, speed, gaps = _inputs(h5s[0])
    no_heading = dataclasses.replace(data, heading_confidence=None)
    canvas = warm_up()
    picture = _decode(timeline_figure(no_heading, spine, speed, gaps, canvas=canvas))
    assert not canvas.used
    np.testing.assert_array_equal(picture,
                                  _decode(timeline_figure(no_heading, spine, speed, gaps)))
    full = _decode(timeline_figure(data, spine, speed, gaps))
    assert picture.shape[0] < full.shape[0]  # one trace fewer


def test_events_row_names_the_flags_and_raster_has_no_ticks(extracted_batch):
    _, h5s = extracted_batch
    data, spine, speed, gaps = _inputs(h5s[1])  # the hand case
    names = [name.replace("_", " ") for name in flag_masks(data.quality)]
    assert "intrusion" in names
    with rc_context(RC):
        canvas = _layout(6)
        _plot(canvas.axes, data, spine, [speed] * 6, gaps)
        canvas.fig.canvas.draw()
    events = [t.get_text() for t in canvas.axes[1].get_yticklabels()]
    assert events == [*names, f"dropped ({gaps.total})"]
    assert len(canvas.axes[0].get_yticks()) == 0
    assert [ax.xaxis.get_visible() for ax in canvas.axes] == [False] * 7 + [True]
    for ax in canvas.axes[2:]:  # a few labelled values per trace
        lo, hi = ax.get_ylim()
        shown = [v for v in ax.get_yticks() if lo <= v <= hi]
        assert 2 <= len(shown) <= 4
