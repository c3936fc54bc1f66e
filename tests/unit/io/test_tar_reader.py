""".tar.gz sessions read as one stream (io/tar_reader.py)."""

from __future__ import annotations

import numpy as np
import pytest

from moseq2_extract.errors import InputFileError
from moseq2_extract.io.reader_base import VideoInfo, chunk_ranges
from moseq2_extract.io.tar_reader import TarDepthReader
from moseq2_extract.io.video import open_depth_video

from .depth_data import make_frames, write_tar


@pytest.fixture
def tar_session(tmp_path):
    frames = make_frames(30, 20, 24, seed=7)
    path = tmp_path / "session_20200101.tar.gz"
    write_tar(path, {
        "metadata.json": b'{"SubjectName": "m1", "SessionName": "s1"}',
        "depth_ts.txt": "".join(f"{33.3 * i:.1f} 0\n" for i in range(30)).encode(),
        "depth.dat": frames.tobytes(),
    })
    return path, frames


def test_tar_streams_all_chunks_in_one_pass(tar_session):
    path, frames = tar_session
    reader = open_depth_video(path, frame_size=(24, 20))
    assert isinstance(reader, TarDepthReader)
    assert reader.info == VideoInfo(path, "tar", 24, 20, 30, 30.0)
    for rng in chunk_ranges(0, 30, 7):
        np.testing.assert_array_equal(reader.read(rng.start, rng.stop),
                                      frames[rng.start:rng.stop])
    # the archive was opened once (at construction) for the whole forward pass
    assert reader.open_count == 1
    np.testing.assert_array_equal(reader.read(3, 5), frames[3:5])  # backwards: reopens
    assert reader.open_count == 2
    reader.close()


def test_tar_sequential_and_sparse_reads_never_reopen(tar_session):
    path, frames = tar_session
    with open_depth_video(path, frame_size=(24, 20)) as reader:
        parts = [reader.read(a, b) for a, b in [(0, 10), (10, 11), (15, 20)]]
        np.testing.assert_array_equal(np.concatenate(parts[:2]), frames[:11])
        np.testing.assert_array_equal(parts[2], frames[15:20])
        np.testing.assert_array_equal(reader.read_frames([21, 24, 29]), frames[[21, 24, 29]])
        assert reader.open_count == 1


def test_tar_errors(tmp_path, tar_session):
    path, _ = tar_session
    no_depth = tmp_path / "x.tgz"
    write_tar(no_depth, {"metadata.json": b"{}"})
    with pytest.raises(InputFileError, match="no depth.dat member"):
        open_depth_video(no_depth)
    truncated = tmp_path / "t.tar.gz"
    truncated.write_bytes(path.read_bytes()[:300])
    with pytest.raises(InputFileError, match=str(truncated)):
        reader = open_depth_video(truncated, frame_size=(24, 20))
        reader.read(0, reader.nframes)
