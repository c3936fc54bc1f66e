"""The reader base (io/reader_base.py): chunk ranges, file kinds, pickling, regions."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from moseq2_extract.io.reader_base import chunk_ranges, depth_file_kind
from moseq2_extract.io.video import open_depth_video
from moseq2_extract.io.writers import write_azure_mkv, write_depth_video

from .depth_data import make_frames, write_tar


def test_chunk_ranges_match_the_original_batch_sequence():
    assert chunk_ranges(0, 25, 10, 5) == [range(0, 10), range(5, 15), range(10, 20),
                                          range(15, 25)]
    assert chunk_ranges(3, 10, 4) == [range(3, 7), range(7, 10)]
    assert chunk_ranges(0, 0, 4) == []
    with pytest.raises(ValueError):
        chunk_ranges(0, 10, 4, overlap=4)


@pytest.mark.parametrize(("name", "kind"), [("depth.dat", "dat"), ("a.AVI", "avi"),
                                            ("x.mkv", "mkv"), ("session_1.tar.gz", "tar"),
                                            ("s.tgz", "tar")])
def test_depth_file_kind(name, kind):
    assert depth_file_kind(name) == kind


@pytest.mark.parametrize("kind", ["dat", "avi", "mkv", "tar"])
def test_reader_pickles_mid_use(tmp_path, kind):
    frames = make_frames(26, 16, 20, seed=9)
    if kind == "dat":
        path = tmp_path / "depth.dat"
        frames.tofile(path)
    elif kind == "avi":
        path = write_depth_video(tmp_path / "depth.avi", frames)
    elif kind == "mkv":
        path = write_azure_mkv(tmp_path / "rec.mkv", frames)
    else:
        path = tmp_path / "s.tar.gz"
        write_tar(path, {"depth.dat": frames.tobytes()})
    reader = open_depth_video(path, frame_size=(20, 16))
    np.testing.assert_array_equal(reader.read(0, 10), frames[:10])
    copy = pickle.loads(pickle.dumps(reader))
    np.testing.assert_array_equal(copy.read(10, 20), frames[10:20])
    np.testing.assert_array_equal(copy.read_frames([25, 1]), frames[[25, 1]])
    np.testing.assert_array_equal(reader.read(10, 26), frames[10:26])  # original unaffected
    assert copy.info == reader.info
    copy.close()
    reader.close()


def test_read_region_equals_cropped_read(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(1, 4000, (6, 40, 48)).astype(np.uint16)
    dat = tmp_path / "depth.dat"
    frames.tofile(dat)
    avi = write_depth_video(tmp_path / "depth.avi", frames)
    for path, kw in ((dat, {"frame_size": (48, 40)}), (avi, {})):
        with open_depth_video(path, **kw) as r:
            np.testing.assert_array_equal(r.read_region(1, 5, (3, 20, 7, 30)),
                                          frames[1:5, 3:20, 7:30])
