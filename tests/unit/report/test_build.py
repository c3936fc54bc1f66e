"""The QC report written from real extractions: pages, images, tables, outliers."""

from __future__ import annotations

import base64
import re
import shutil
from html.parser import HTMLParser

import cv2
import h5py
import numpy as np
import pytest

from moseq2_extract.errors import InputFileError
from moseq2_extract.extract.crop import crop_transform
from moseq2_extract.extract.quality import QUALITY_DATASET, Quality
from moseq2_extract.report import load_session_data, write_report, write_session_report
from moseq2_extract.report.build import find_results, session_report_path
from moseq2_extract.report.pictures import _outline_in_box, read_crops
from moseq2_extract.synthetic import GroundTruth


class _Page(HTMLParser):
    """Images (decoded), links and the rows of each table of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[np.ndarray] = []
        self.links: list[str] = []
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._in_body = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            head, data = a["src"].split(",", 1)
            assert head in ("data:image/png;base64", "data:image/jpeg;base64")
            img = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8),
                               cv2.IMREAD_COLOR)
            assert img is not None
            self.images.append(img)
        elif tag == "a":
            self.links.append(a["href"])
        elif tag == "table":
            self._table = a.get("id") or f"t{len(self.tables)}"
            self.tables[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._in_body:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tbody":
            self._in_body = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(path) -> _Page:
    text = path.read_text(encoding="utf-8")
    # no element loads from the network (the inline scripts' own texts, plotly.js with its
    # URL strings for map plots, are not elements of the page)
    markup = re.sub(r"<script>.*?</script>", "<script></script>", text, flags=re.S)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", markup), "fetches from the network"
    assert "<script src" not in markup
    page = _Page()
    page.feed(text)
    return page


@pytest.fixture
def batch_copy(extracted_batch, tmp_path):
    folder, _ = extracted_batch
    dst = tmp_path / "batch"
    shutil.copytree(folder, dst)
    return dst, sorted(dst.glob("s*/proc/results_00.h5"))


def test_session_page_with_quality_flags(extracted_batch):
    _, h5s = extracted_batch
    with h5py.File(h5s[1], "r") as f:
        quality = f[QUALITY_DATASET][()]
    assert np.any(quality & Quality.INTRUSION), "the hand case should flag intrusions"
    page_path, row = write_session_report(h5s[1], seconds=2.0)
    assert page_path == h5s[1].parent / "report.html"
    page = parse(page_path)
    assert len(page.images) == 4 and all(min(im.shape[:2]) > 8 for im in page.images)
    text = page_path.read_text()
    assert text.count("Plotly.newPlot(") == 1 and 'id="timeline"' in text  # drawn on opening
    flags = {r[0]: int(r[1]) for r in page.tables["quality"]}
    assert flags["intrusion"] == int(np.count_nonzero(quality & Quality.INTRUSION))
    assert row.flagged_pct == pytest.approx(100 * np.mean(quality != 0))
    assert "2.0 s" in page_path.read_text()


def test_session_page_without_quality_and_with_dropped_frames(batch_copy):
    _, h5s = batch_copy
    h5 = h5s[0]
    with h5py.File(h5, "r+") as f:
        if QUALITY_DATASET in f:
            del f[QUALITY_DATASET]
        ts = f["timestamps"][()]
        ts[100:] += 5 * np.median(np.diff(ts))  # 5 frames lost after frame 99
        f["timestamps"][...] = ts
    page_path, row = write_session_report(h5)
    page = parse(page_path)
    assert "quality" not in page.tables
    assert "has no per-frame quality record" in page_path.read_text()
    assert page.tables["dropped"] == [["99", page.tables["dropped"][0][1], "5"]]
    assert row.flagged_pct is None
    assert row.dropped_pct == pytest.approx(100 * 5 / 305)


def test_batch_index_rows_links_and_outliers(batch_copy):
    folder, h5s = batch_copy
    with h5py.File(h5s[2], "r+") as f:  # this one loses a frame after every 9th: 10 %
        ts = f["timestamps"][()]
        ts = ts + np.median(np.diff(ts)) * (np.arange(ts.size) // 9)
        f["timestamps"][...] = ts
    outcome = write_report(folder)
    assert outcome.index == folder / "report.html"
    assert len(outcome.sessions) == 3
    page = parse(outcome.index)
    rows = page.tables["sessions"]
    assert [r[0] for r in rows] == ["session_0", "session_1", "session_2"]
    assert [int(r[2]) for r in rows] == [300, 300, 300]
    assert rows[2][-1].startswith("dropped frames") and rows[0][-1] == "no"
    for href, h5 in zip(page.links, h5s):
        assert (folder / href).resolve() == session_report_path(h5).resolve()
    back = parse(outcome.sessions[0]).links[0]
    assert (outcome.sessions[0].parent / back).resolve() == outcome.index.resolve()


def test_outline_and_heading_land_on_the_mouse(extracted_batch):
    _, h5s = extracted_batch
    data = load_session_data(h5s[0])
    truth = GroundTruth.load(h5s[0].parent.parent / "ground_truth.npz")
    sample = read_crops(data)
    for j, i in enumerate(sample.frame_idx):
        x = data.scalars["centroid_x_px"][i] + data.box[0]
        y = data.scalars["centroid_y_px"][i] + data.box[1]
        inverse = cv2.invertAffineTransform(
            crop_transform(x, y, data.scalars["angle"][i], data.crop_shape[1]))
        outline = np.concatenate(_outline_in_box(sample.masks[j], inverse)).reshape(-1, 2)
        k = data.first_frame_idx + i
        assert np.hypot(*(outline.mean(axis=0) - [truth.centroid_x[k], truth.centroid_y[k]])) < 4
    # the raster's spine profile: heads point east, so the head end is on the right
    assert sample.spine.shape == (data.n_frames, data.crop_shape[1])


def test_find_results_and_errors(extracted_batch, tmp_path):
    folder, h5s = extracted_batch
    assert find_results(folder) == h5s
    assert find_results(h5s[0].parent) == [h5s[0]]
    with pytest.raises(InputFileError, match="no results"):
        write_report(tmp_path)
    bad = tmp_path / "proc" / "results_00.h5"
    bad.parent.mkdir()
    bad.write_bytes(b"not hdf5")
    with pytest.raises(InputFileError, match="cannot read results file"):
        write_report(bad.parent)


def test_crops_read_the_same_with_or_without_the_stored_spine(batch_copy):
    # files written before the extraction stored the spine profiles: one pass over the
    # crops gives the same raster and samples
    from moseq2_extract.report import load_session_data
    from moseq2_extract.report.pictures import SPINE_DATASET, read_crops

    _, h5s = batch_copy
    h5 = h5s[1]
    stored = read_crops(load_session_data(h5))
    with h5py.File(h5, "r+") as f:
        assert f[SPINE_DATASET].shape[0] == f["frames"].shape[0]
        del f[SPINE_DATASET]
    scanned = read_crops(load_session_data(h5))
    for name in ("spine", "montage_idx", "montage", "frame_idx", "frames", "masks"):
        np.testing.assert_array_equal(getattr(stored, name), getattr(scanned, name),
                                      err_msg=name)
    assert stored.spine.max() > 10
