"""The timeline figure: a plotly.js figure whose panels, rows and data follow the session
(the page's drawing of it is checked in a real browser, test_report_browser.py)."""

from __future__ import annotations

import base64
import dataclasses
import json

import cv2
import numpy as np

from moseq2_extract.report import load_session_data
from moseq2_extract.report.figures import (
    MAX_COLUMNS,
    bin_edges,
    binned,
    decode_numbers,
    plotly_bundle,
    plotly_version,
    timeline_html,
    timeline_spec,
)
from moseq2_extract.report.metrics import dropped_frames, flag_masks, speed_mm_s
from moseq2_extract.report.pictures import read_crops


def _inputs(h5):
    data = load_session_data(h5)
    return data, read_crops(data).spine, speed_mm_s(data), dropped_frames(data.time_s,
                                                                          data.fps)


def _axes(layout):
    return sorted((k for k in layout if k.startswith("yaxis")),
                  key=lambda k: int(k[5:] or 1))


def test_panels_follow_the_data(extracted_batch):
    _, h5s = extracted_batch
    data, spine, speed, gaps = _inputs(h5s[0])
    spec = timeline_spec(data, spine, speed, gaps)
    layout = spec["layout"]
    assert len(_axes(layout)) == 2 + 6  # raster, events, six traces
    no_heading = dataclasses.replace(data, heading_confidence=None)
    fewer = timeline_spec(no_heading, spine, speed, gaps)["layout"]
    assert len(_axes(fewer)) == 2 + 5 and fewer["height"] < layout["height"]
    # panels stacked top to bottom without overlap, on one time axis
    domains = [layout[k]["domain"] for k in _axes(layout)]
    assert all(a[0] > b[1] for a, b in zip(domains, domains[1:]))
    assert layout["xaxis"]["range"] == [0.0, float(data.time_s[-1])]
    # the mean line of the speed panel is speed's per-bin mean (None where a bin is empty)
    edges = bin_edges(data.n_frames)
    mean, _, _ = binned(speed, edges)
    line = next(t for t in spec["data"] if t.get("yaxis") == "y3" and "name" in t)
    got = decode_numbers(line["y"])  # NaN (a gap) where a bin has no mouse
    np.testing.assert_allclose(got, mean.astype(np.float32), equal_nan=True)
    x = decode_numbers(line["x"])
    assert len(x) == min(data.n_frames, MAX_COLUMNS) and np.all(np.diff(x) > 0)


def test_raster_is_the_spine_profile_under_the_raster_panel(extracted_batch):
    _, h5s = extracted_batch
    data, spine, speed, gaps = _inputs(h5s[0])
    layout = timeline_spec(data, spine, speed, gaps)["layout"]
    (image,) = layout["images"]
    assert image["xref"] == "x" and image["yref"] == "y" and image["sizing"] == "stretch"
    png = base64.b64decode(image["source"].split(",", 1)[1])
    raster = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert raster.shape[:2] == (spine.shape[1], min(data.n_frames, MAX_COLUMNS))
    # the mouse (its spine rows) is brighter than the crop's empty edge rows
    grey = raster.mean(axis=(1, 2))
    assert grey[len(grey) // 2] > grey[0] + 20
    assert layout["yaxis"]["showticklabels"] is False


def test_events_row_names_the_flags_and_shades_them(extracted_batch):
    _, h5s = extracted_batch
    data, spine, speed, gaps = _inputs(h5s[1])  # the hand case
    names = [name.replace("_", " ") for name in flag_masks(data.quality)]
    assert "intrusion" in names
    spec = timeline_spec(data, spine, speed, gaps)
    rows = spec["layout"]["yaxis2"]["categoryarray"]
    assert rows == [*names, f"dropped ({gaps.total})"]
    bars = {t["name"]: t for t in spec["data"] if t["type"] == "bar"}
    assert set(bars) == set(names)
    intrusion = bars["intrusion"]
    mask = flag_masks(data.quality)["intrusion"]
    t = data.time_s
    # the bars cover the flagged frames' times (at bin resolution)
    starts, widths = np.array(intrusion["base"]), np.array(intrusion["x"])
    for i in np.flatnonzero(mask)[::7]:
        assert np.any((starts <= t[i] + 1e-9) & (t[i] <= starts + widths + 1e-9))
    assert spec["layout"]["shapes"]  # the flagged stretches shaded over the traces


def test_the_page_part_is_inline_and_valid_json(extracted_batch):
    _, h5s = extracted_batch
    data, spine, speed, gaps = _inputs(h5s[1])
    part = timeline_html(data, spine, speed, gaps, caption="a <b> & c")
    assert "a &lt;b&gt; &amp; c" in part
    payload = part[part.index("var F=") + len("var F="):part.index(";Plotly.newPlot")]
    spec = json.loads(payload.replace("<\\/", "</"))  # strict JSON: no NaN
    assert spec == json.loads(json.dumps(timeline_spec(data, spine, speed, gaps)))
    bundle = plotly_bundle()
    assert b"</script" not in bundle and len(bundle) > 1_000_000
    assert plotly_version()[0].isdigit()



def test_band_is_not_bridged_across_missing_stretches():
    from moseq2_extract.report.figures import band_outline

    x = np.arange(8, dtype=np.float64)
    lo = np.array([1, 1, np.nan, np.nan, 2, 2, 2, np.nan])
    hi = lo + 1
    bx, by = band_outline(x, lo, hi)
    parts = np.split(np.arange(bx.size), np.flatnonzero(np.isnan(bx)))
    outlines = [(bx[p][np.isfinite(bx[p])], by[p][np.isfinite(by[p])]) for p in parts]
    outlines = [o for o in outlines if o[0].size]
    assert len(outlines) == 2  # one closed outline per stretch with a mouse
    (x0, y0), (x1, y1) = outlines
    np.testing.assert_array_equal(x0, [0, 1, 1, 0])
    np.testing.assert_array_equal(y0, [2, 2, 1, 1])
    np.testing.assert_array_equal(x1, [4, 5, 6, 6, 5, 4])
    assert band_outline(x, lo * np.nan, hi)[0].size == 0
