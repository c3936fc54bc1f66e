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
