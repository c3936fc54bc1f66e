"""Lossless copies: convert-raw-to-avi and copy-slice, verified before anything is deleted."""

from __future__ import annotations

import numpy as np
import pytest

from moseq2_extract.io import convert as convert_mod
from moseq2_extract.io.convert import ConversionError, convert_to_avi, copy_frames
from moseq2_extract.io.video import open_depth_video


@pytest.fixture
def raw_session(tmp_path):
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 1200, size=(23, 424, 512), dtype=np.uint16)
    path = tmp_path / "s" / "depth.dat"
    path.parent.mkdir()
    frames.astype("<u2").tofile(path)
    return path, frames


def test_convert_to_avi_is_bit_exact_and_deletes_only_after(raw_session):
    path, frames = raw_session
    out = convert_to_avi(path, chunk_size=5, delete=True)
    assert out == path.with_suffix(".avi") and not path.exists()
    with open_depth_video(out) as reader:
        assert reader.nframes == 23
        assert np.array_equal(reader.read(0, 23), frames)
    assert sorted(p.name for p in out.parent.iterdir()) == ["depth.avi"]


def test_failed_verification_keeps_the_input(raw_session, monkeypatch):
    path, _ = raw_session
    calls = []

    def differ(a, b):
        calls.append(1)
        return len(calls) < 3

    monkeypatch.setattr(convert_mod.np, "array_equal", differ)
    with pytest.raises(ConversionError, match="differ"):
        convert_to_avi(path, chunk_size=5, delete=True)
    assert path.exists()
    assert sorted(p.name for p in path.parent.iterdir()) == ["depth.dat"]


def test_copy_frames_slices_to_video_and_raw(raw_session, tmp_path):
    path, frames = raw_session
    avi = copy_frames(path, tmp_path / "slice.avi", frames=(4, 17), chunk_size=4)
    with open_depth_video(avi) as reader:
        assert np.array_equal(reader.read(0, reader.nframes), frames[4:17])
    raw = copy_frames(path, tmp_path / "slice.bin", frames=(20, 1000), chunk_size=4)
    assert np.array_equal(np.fromfile(raw, "<u2").reshape(-1, 424, 512), frames[20:])
    raw = copy_frames(path, tmp_path / "slice.bin", frames=(0, 2))  # replaced, not appended
    assert raw.stat().st_size == 2 * 424 * 512 * 2
    assert path.exists()


def test_blocks_are_bounded_whatever_the_chunk_size(raw_session, monkeypatch, tmp_path):
    """Memory is bounded by a block: at most MAX_BLOCK_BYTES of frames move at once, even
    when the chunk size asks for the whole recording; the progress callback sees every
    block, encoding then verification."""
    path, frames = raw_session
    monkeypatch.setattr(convert_mod, "MAX_BLOCK_BYTES", 4 * 424 * 512 * 2)  # 4 frames
    calls = []
    out = copy_frames(path, tmp_path / "all.avi", chunk_size=3000,
                      progress=lambda stage, done, total: calls.append((stage, done, total)))
    encoded = [c[1] for c in calls if c[0] == "encode"]
    verified = [c[1] for c in calls if c[0] == "verify"]
    assert encoded == [4, 8, 12, 16, 20, 23]
    assert verified == sorted(verified) and verified[-1] == 23  # on a thread, in step
    # after each block, at most MAX_PENDING_BLOCKS blocks wait for their verification
    lag = [e - v for (_, e, _), (_, v, _) in zip(calls[0::2], calls[1::2])]
    assert max(lag) <= 2 * 4
    assert {c[2] for c in calls} == {23}
    with open_depth_video(out) as reader:
        assert np.array_equal(reader.read(0, 23), frames)


def test_a_slice_gets_its_own_timestamp_lines(raw_session, tmp_path):
    path, _ = raw_session
    lines = [f"{1000 + 33.3 * i:.1f} {i}" for i in range(23)]  # every column is kept
    (path.parent / "depth_ts.txt").write_text("\n".join(lines) + "\n")
    out = copy_frames(path, path.parent / "cut.dat", frames=(5, 9))
    assert convert_mod.slice_timestamps_path(out) == path.parent / "cut_ts.txt"
    assert (path.parent / "cut_ts.txt").read_text().splitlines() == lines[5:9]
    # the whole recording beside it: depth_ts.txt applies as it is, nothing is written
    beside = copy_frames(path, path.with_name("depth.avi"))
    assert convert_mod.slice_timestamps_path(beside) == path.parent / "depth_ts.txt"
    assert (path.parent / "depth_ts.txt").read_text().splitlines() == lines
    # elsewhere, it takes its timestamps along; a later copy replaces an earlier one's
    copy_frames(path, tmp_path / "whole.avi", frames=(0, 3))
    whole = copy_frames(path, tmp_path / "whole.avi")
    assert (tmp_path / "whole_ts.txt").read_text().splitlines() == lines
    (path.parent / "depth_ts.txt").unlink()
    copy_frames(path, whole)  # a source without timestamps: no stale file is left
    assert not (tmp_path / "whole_ts.txt").exists()


def test_default_slice_name_says_which_part(raw_session):
    path, _ = raw_session
    assert convert_mod.slice_output_path(path, (0, None)) == path.with_name("depth.avi")
    assert convert_mod.slice_output_path(path, (0, 1000)) == path.with_name("depth.avi")
    assert convert_mod.slice_output_path(path, (3, 9)) == path.with_name("depth_3-9.avi")


def test_a_matroska_copy_is_verified_alike(raw_session, tmp_path):
    path, frames = raw_session
    out = copy_frames(path, tmp_path / "cut.mkv", frames=(2, 9), chunk_size=3)
    with open_depth_video(out) as reader:
        assert np.array_equal(reader.read(0, reader.nframes), frames[2:9])
