"""Raw .dat depth files (io/dat_reader.py)."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from moseq2_extract.errors import InputFileError
from moseq2_extract.io.dat_reader import DatReader
from moseq2_extract.io.reader_base import VideoInfo, chunk_ranges
from moseq2_extract.io.video import open_depth_video

from .depth_data import make_frames


def test_dat_round_trip_default_kinect_size(tmp_path):
    frames = make_frames(4, 424, 512)
    path = tmp_path / "depth.dat"
    frames.astype("<u2").tofile(path)
    with open_depth_video(path) as reader:
        assert isinstance(reader, DatReader)
        assert reader.info == VideoInfo(path, "dat", 512, 424, 4, 30.0)
        out = reader.read(0, 4)
        assert out.dtype == np.uint16 and out.flags.c_contiguous
        np.testing.assert_array_equal(out, frames)


def test_dat_reads_ranges_sparse_frames_and_chunks(tmp_path):
    frames = make_frames(20, 24, 32)
    path = tmp_path / "depth.dat"
    frames.tofile(path)
    reader = open_depth_video(path, frame_size=(32, 24))
    assert reader.nframes == 20 and reader.frame_shape == (24, 32)
    np.testing.assert_array_equal(reader.read(5, 9), frames[5:9])
    assert reader.read(7, 7).shape == (0, 24, 32)
    np.testing.assert_array_equal(reader.read_frames([0, 19, 4]), frames[[0, 19, 4]])
    for rng in chunk_ranges(0, 20, 8, 3):  # overlapping reads are independent
        np.testing.assert_array_equal(reader.read(rng.start, rng.stop),
                                      frames[rng.start:rng.stop])
    # returned arrays are copies: modifying them does not touch the file or later reads
    out = reader.read(0, 2)
    out[:] = 1
    np.testing.assert_array_equal(reader.read(0, 2), frames[:2])
    with pytest.raises(ValueError):
        reader.read(15, 21)


def test_dat_partial_last_frame_is_dropped_with_a_warning(tmp_path, caplog):
    frames = make_frames(3, 10, 12)
    path = tmp_path / "depth.dat"
    path.write_bytes(frames.tobytes() + b"\x01" * 100)
    with caplog.at_level(logging.WARNING, logger="moseq2_extract.io.dat_reader"):
        reader = open_depth_video(path, frame_size=(12, 10))
    assert reader.nframes == 3
    assert "100 trailing bytes" in caplog.text and str(path) in caplog.text
    np.testing.assert_array_equal(reader.read(0, 3), frames)


def test_dat_missing_empty_and_too_small(tmp_path):
    missing = tmp_path / "nope" / "depth.dat"
    with pytest.raises(InputFileError, match=str(missing)):
        open_depth_video(missing)
    empty = tmp_path / "depth.dat"
    empty.write_bytes(b"")
    with pytest.raises(InputFileError, match=f"{empty}: empty"):
        open_depth_video(empty)
    empty.write_bytes(b"\0" * 10)
    with pytest.raises(InputFileError, match="less than one"):
        open_depth_video(empty)
    # InputFileError is also an OSError for callers that catch built-ins
    with pytest.raises(OSError):
        open_depth_video(missing)
