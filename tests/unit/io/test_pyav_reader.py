"""FFV1 .avi and Azure-like .mkv depth videos (io/pyav_reader.py)."""

from __future__ import annotations

import av
import numpy as np
import pytest

from moseq2_extract.errors import InputFileError
from moseq2_extract.io.pyav_reader import PyAVReader
from moseq2_extract.io.reader_base import VideoInfo, chunk_ranges
from moseq2_extract.io.video import open_depth_video
from moseq2_extract.io.writers import write_azure_mkv, write_depth_video

from .depth_data import make_frames


@pytest.fixture(scope="module")
def avi_small(tmp_path_factory):
    """40 frames of 48x64 in FFV1 (GOP of 12: keyframes at 0, 12, 24, 36)."""
    frames = make_frames(40, 48, 64, seed=1)
    path = tmp_path_factory.mktemp("avi") / "depth.avi"
    write_depth_video(path, frames)
    return path, frames


def test_ffv1_avi_is_bit_exact_at_kinect_size(tmp_path):
    frames = make_frames(20, 424, 512)
    frames[3] = np.random.default_rng(3).integers(0, 65536, (424, 512), dtype=np.uint16)
    path = write_depth_video(tmp_path / "depth.avi", frames)
    with open_depth_video(path) as reader:
        assert isinstance(reader, PyAVReader)
        assert reader.info == VideoInfo(path, "avi", 512, 424, 20, 30.0)
        out = reader.read(0, 20)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, frames)


def test_avi_sequential_chunks_equal_random_reads(avi_small):
    path, frames = avi_small
    reader = open_depth_video(path, threads=2)
    seeks = []
    original_seek = reader._seek
    reader._seek = lambda target: (seeks.append(target), original_seek(target))[1]
    for rng in chunk_ranges(0, 40, 7):
        np.testing.assert_array_equal(reader.read(rng.start, rng.stop),
                                      frames[rng.start:rng.stop])
    assert seeks == []  # consecutive chunks continue the decoder, never seek
    rng = np.random.default_rng(5)
    for start in rng.permutation(40)[:15]:
        stop = min(40, start + int(rng.integers(1, 6)))
        np.testing.assert_array_equal(reader.read(start, stop), frames[start:stop])
    assert seeks  # backwards reads did seek, and the frames were still exact
    reader.close()


def test_avi_every_frame_exact_in_shuffled_order(avi_small):
    path, frames = avi_small
    with open_depth_video(path) as reader:
        for i in np.random.default_rng(2).permutation(40):
            np.testing.assert_array_equal(reader.read(i, i + 1)[0], frames[i])


def test_avi_read_frames_sparse(avi_small):
    path, frames = avi_small
    with open_depth_video(path) as reader:
        idx = [0, 11, 13, 25, 26, 39]
        np.testing.assert_array_equal(reader.read_frames(idx), frames[idx])
        np.testing.assert_array_equal(reader.read_frames([30, 2, 2]), frames[[30, 2, 2]])
        np.testing.assert_array_equal(reader.read_frames(np.arange(0, 40, 9)),
                                      frames[::9])


def test_avi_container_timestamps_in_ms(avi_small):
    path, _ = avi_small
    with open_depth_video(path) as reader:
        ts = reader.container_timestamps()
    np.testing.assert_allclose(ts, np.arange(40) * 1000 / 30)


def test_truncated_avi_raises_instead_of_returning_garbage(avi_small, tmp_path):
    path, frames = avi_small
    data = path.read_bytes()
    cut = tmp_path / "cut.avi"
    cut.write_bytes(data[: len(data) // 2])
    with open_depth_video(cut) as reader:
        assert reader.nframes == 40  # the AVI header still promises every frame
        np.testing.assert_array_equal(reader.read(0, 5), frames[:5])
        # the missing frames, or the cut packet itself, are reported with the file name
        with pytest.raises(InputFileError, match=rf"{cut}: (frame \d+ of 40 could not be"
                                                 rf"|cannot decode near frame \d+)"):
            reader.read(0, 40)


@pytest.fixture(scope="module")
def azure_mkv(tmp_path_factory):
    frames = make_frames(20, 36, 40, seed=4)
    ts_us = 1_000_000 + np.arange(20) * 33_000 + np.r_[0, 0, 2000, np.zeros(17)]
    path = tmp_path_factory.mktemp("mkv") / "recording.mkv"
    write_azure_mkv(path, frames, timestamps_us=ts_us)
    return path, frames, ts_us


def test_azure_mkv_tracks_are_raw_big_endian_grey(azure_mkv):
    path, _, _ = azure_mkv
    with av.open(str(path)) as container:
        streams = list(container.streams.video)
        assert [s.metadata.get("title") for s in streams] == ["IR", "DEPTH"]
        assert [s.codec_context.format.name for s in streams] == ["gray16be", "gray16be"]
        assert all(s.codec_context.name == "rawvideo" for s in streams)


def test_mkv_mapping_selects_the_depth_track(azure_mkv):
    path, frames, _ = azure_mkv
    with open_depth_video(path) as reader:  # mapping="DEPTH"
        assert reader.info.nframes == 20 and reader.frame_shape == (36, 40)
        depth = reader.read(0, 20)
    np.testing.assert_array_equal(depth, frames)
    with open_depth_video(path, mapping="ir") as reader:
        ir = reader.read(0, 20)
    np.testing.assert_array_equal(ir, 65535 - frames)
    assert not np.array_equal(ir, depth)
    for mapping in (1, "1", "Depth"):
        with open_depth_video(path, mapping=mapping) as reader:
            np.testing.assert_array_equal(reader.read(3, 5), frames[3:5])
    with pytest.raises(InputFileError, match="COLOR"):
        open_depth_video(path, mapping="COLOR")
    with pytest.raises(InputFileError, match="stream 5"):
        open_depth_video(path, mapping=5)


def test_mkv_container_timestamps_in_ms(azure_mkv):
    path, frames, ts_us = azure_mkv
    with open_depth_video(path) as reader:
        ts = reader.container_timestamps()
        assert ts.dtype == np.float64
        np.testing.assert_array_equal(ts, ts_us / 1000.0)
        # irregular spacing: random access still lands on the exact frame
        for i in (19, 2, 3, 1, 10):
            np.testing.assert_array_equal(reader.read(i, i + 1)[0], frames[i])


def test_mkv_timestamps_are_rounded_to_the_muxer_millisecond(tmp_path):
    frames = make_frames(5, 8, 8)
    ts_us = np.array([0, 33_333, 66_667, 100_000, 133_333])
    path = write_azure_mkv(tmp_path / "a.mkv", frames, timestamps_us=ts_us)
    with open_depth_video(path) as reader:
        np.testing.assert_allclose(reader.container_timestamps(), ts_us / 1000, atol=0.5)
