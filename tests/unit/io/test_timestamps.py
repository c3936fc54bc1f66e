"""Timestamp files: depth_ts.txt (ms) and timestamps.csv (s -> ms)."""

from __future__ import annotations

import numpy as np
import pytest

from moseq2_extract.errors import InputFileError
from moseq2_extract.io.timestamps import (
    load_timestamps,
    looks_like_seconds,
    timestamps_from_text,
)


def test_depth_ts_txt_column_zero_in_ms(tmp_path):
    path = tmp_path / "depth_ts.txt"
    path.write_text("1000.5 17\n1033.8 0\n\n1067.1 0\n")
    ts = load_timestamps(path)
    assert ts.dtype == np.float64
    np.testing.assert_array_equal(ts, [1000.5, 1033.8, 1067.1])


@pytest.mark.parametrize("text", ["0.5,1\n0.533,2\n0.5667,3\n", "0.5 1\n0.533 2\n0.5667\t3\n"])
def test_timestamps_csv_comma_or_whitespace_seconds_to_ms(tmp_path, text):
    path = tmp_path / "timestamps.csv"
    path.write_text(text)
    np.testing.assert_allclose(load_timestamps(path), [500.0, 533.0, 566.7])


def test_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "depth_ts.txt"
    path.write_text("1 0\n2 0\nabc 0\n")
    with pytest.raises(InputFileError, match=rf"{path}: line 3 is not a number"):
        load_timestamps(path)


def test_empty_and_missing_files(tmp_path):
    path = tmp_path / "depth_ts.txt"
    path.write_text("\n  \n")
    with pytest.raises(InputFileError, match=f"{path}: no timestamps"):
        load_timestamps(path)
    with pytest.raises(InputFileError, match="no such file"):
        load_timestamps(tmp_path / "timestamps.csv")


def test_timestamps_from_text():
    np.testing.assert_array_equal(timestamps_from_text("1\n2\n", seconds=True), [1000, 2000])
    with pytest.raises(InputFileError, match=r"a.tgz:depth_ts.txt: line 2"):
        timestamps_from_text("1\nx\n", source="a.tgz:depth_ts.txt")


def test_looks_like_seconds():
    assert looks_like_seconds(1.6e9 + np.arange(10) / 30)
    assert not looks_like_seconds(np.arange(10) * 33.3)


def test_bad_lines_are_interpolated_when_asked():
    bad: list[int] = []
    ts = timestamps_from_text("x\n10\n\n20\ny\n40\nz\n", bad_lines=bad)
    # blank lines are not frames; the ends are extrapolated by the median step (10)
    np.testing.assert_allclose(ts, [0, 10, 20, 30, 40, 50])
    assert bad == [1, 5, 7]


def test_mostly_unreadable_file_is_still_an_error():
    with pytest.raises(InputFileError, match="2 of 3 lines are not numbers"):
        timestamps_from_text("x\n1\ny\n", bad_lines=[], source="f")
