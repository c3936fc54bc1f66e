"""Depth readers: .dat memmap, FFV1 .avi, Azure-like .mkv, .tar.gz sessions."""

from __future__ import annotations

import io
import logging
import pickle
import tarfile

import av
import numpy as np
import pytest

from moseq2_extract.errors import InputFileError
from moseq2_extract.io.video import (
    DatReader,
    PyAVReader,
    TarDepthReader,
    VideoInfo,
    chunk_ranges,
    depth_file_kind,
    open_depth_video,
)
from moseq2_extract.io.writers import write_azure_mkv, write_depth_video


def make_frames(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Depth-like uint16 frames: a sloped floor, a moving blob, noise, zeros, extremes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    frames = np.empty((n, height, width), dtype=np.uint16)
    for i in range(n):
        floor = 650 + (xx + 2 * yy) % 40
        blob = 80 * ((xx - (5 + 3 * i) % width) ** 2 + (yy - height // 2) ** 2 < 40)
        frame = floor - blob + rng.integers(0, 4, (height, width))
        frame[0, : min(5, width)] = 0
        frame[-1, -1] = 65535
        frames[i] = frame
    return frames


def write_tar(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))


# -- helpers ------------------------------------------------------------------------------
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


def test_unknown_suffix_is_an_input_error(tmp_path):
    path = tmp_path / "depth.mp3"
    path.write_bytes(b"abc")
    with pytest.raises(InputFileError, match="depth.mp3"):
        open_depth_video(path)


# -- .dat ---------------------------------------------------------------------------------
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
    for rng in chunk_ranges(0, 20, 8, 3):
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
    with caplog.at_level(logging.WARNING, logger="moseq2_extract.io.video"):
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


# -- .avi ---------------------------------------------------------------------------------
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
    for a in range(0, 40, 7):
        np.testing.assert_array_equal(reader.read(a, min(40, a + 7)), frames[a:a + 7])
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


def test_corrupt_or_non_video_file_is_an_input_error(tmp_path):
    bad = tmp_path / "depth.avi"
    bad.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(InputFileError, match=str(bad)):
        open_depth_video(bad)
    text = tmp_path / "rec.mkv"
    text.write_text("not a video\n")
    with pytest.raises(InputFileError, match=str(text)):
        open_depth_video(text)


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


# -- .mkv ---------------------------------------------------------------------------------
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


# -- .tar.gz ------------------------------------------------------------------------------
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
    for a in range(0, 30, 7):
        np.testing.assert_array_equal(reader.read(a, min(30, a + 7)), frames[a:a + 7])
    # the archive was opened once (at construction): forward reads continue the stream
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


# -- pickling -----------------------------------------------------------------------------
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
    from moseq2_extract.io.video import open_depth_video
    from moseq2_extract.io.writers import write_depth_video

    rng = np.random.default_rng(0)
    frames = rng.integers(1, 4000, (6, 40, 48)).astype(np.uint16)
    dat = tmp_path / "depth.dat"
    frames.tofile(dat)
    avi = write_depth_video(tmp_path / "depth.avi", frames)
    for path, kw in ((dat, {"frame_size": (48, 40)}), (avi, {})):
        with open_depth_video(path, **kw) as r:
            np.testing.assert_array_equal(r.read_region(1, 5, (3, 20, 7, 30)),
                                          frames[1:5, 3:20, 7:30])
