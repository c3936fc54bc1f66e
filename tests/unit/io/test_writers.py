"""Depth video writers: lossless FFV1, atomic output, Azure-like mkv."""

from __future__ import annotations

import numpy as np
import pytest

from moseq2_extract.io.video import open_depth_video
from moseq2_extract.io.writers import DepthVideoWriter, write_azure_mkv, write_depth_video


def frames_of(n: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65536, (n, height, width), dtype=np.uint16)


def test_writer_round_trip_is_bit_exact_and_leaves_no_temp_file(tmp_path):
    frames = frames_of(6, 30, 40)
    frames[0] = 0
    frames[1] = 65535
    path = tmp_path / "out.avi"
    with DepthVideoWriter(path, width=40, height=30, fps=30.0) as writer:
        writer.write(frames[:2])
        writer.write(frames[2])  # a single (H, W) frame
        writer.write(frames[3:])
        assert not path.exists()  # only the temporary file exists while writing
    assert writer.frames_written == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.avi"]
    with open_depth_video(path) as reader:
        np.testing.assert_array_equal(reader.read(0, 6), frames)


def test_exception_inside_with_leaves_no_output(tmp_path):
    path = tmp_path / "out.avi"
    with pytest.raises(RuntimeError), DepthVideoWriter(path, width=8, height=8) as writer:
        writer.write(frames_of(3, 8, 8))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_write_depth_video_from_chunks_into_mkv_with_title(tmp_path):
    frames = frames_of(10, 12, 16, seed=1)
    chunks = (frames[i:i + 4] for i in range(0, 10, 4))
    path = write_depth_video(tmp_path / "depth.mkv", chunks, fps=15.0, title="DEPTH")
    with open_depth_video(path, mapping="DEPTH") as reader:
        assert reader.info.fps == 15.0 and reader.nframes == 10
        np.testing.assert_array_equal(reader.read(0, 10), frames)


def test_writer_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"\.avi or \.mkv"):
        DepthVideoWriter(tmp_path / "x.mp4", width=8, height=8)
    with DepthVideoWriter(tmp_path / "x.avi", width=8, height=8) as writer:
        with pytest.raises(ValueError, match="shape"):
            writer.write(np.zeros((2, 8, 9), np.uint16))
        with pytest.raises(ValueError, match="uint16"):
            writer.write(np.full((1, 8, 8), -1, np.int32))
        writer.write(np.full((1, 8, 8), 7, np.int64))  # integers in range are accepted
    with open_depth_video(tmp_path / "x.avi") as reader:
        assert reader.read(0, 1).max() == 7
    with pytest.raises(ValueError, match="no frames"):
        write_depth_video(tmp_path / "y.avi", [])
    assert not (tmp_path / "y.avi").exists()


def test_azure_mkv_defaults(tmp_path):
    frames = frames_of(4, 10, 12, seed=2)
    path = write_azure_mkv(tmp_path / "a.mkv", frames, fps=30.0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mkv"]
    with open_depth_video(path) as reader:
        np.testing.assert_array_equal(reader.read(0, 4), frames)
        np.testing.assert_allclose(reader.container_timestamps(), [0, 33, 67, 100])
    with pytest.raises(ValueError, match="increasing"):
        write_azure_mkv(tmp_path / "b.mkv", frames, timestamps_us=[0, 5, 5, 9])


def test_raw_b16g_mkv_writer_and_codec_checks(tmp_path):
    frames = frames_of(3, 6, 10, seed=3)
    path = write_depth_video(tmp_path / "raw.mkv", frames, codec="rawvideo",
                             pixel_format="gray16be", title="DEPTH")
    with open_depth_video(path) as reader:
        np.testing.assert_array_equal(reader.read(0, 3), frames)
    with pytest.raises(ValueError, match="gray16be"):
        DepthVideoWriter(tmp_path / "raw.avi", width=10, height=6, codec="rawvideo")
