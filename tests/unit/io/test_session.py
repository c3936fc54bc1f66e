"""load_session: files of a session, counts checked, mismatches kept overlapping."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from moseq2_extract.errors import InputFileError
from moseq2_extract.io.metadata import DEFAULT_METADATA
from moseq2_extract.io.session import load_session
from moseq2_extract.io.writers import write_azure_mkv, write_depth_video

from .depth_data import write_tar

H, W = 20, 24


def frames_of(n: int) -> np.ndarray:
    return np.random.default_rng(n).integers(500, 900, (n, H, W), dtype=np.uint16)


def ts_text(n: int, step: float = 33.3) -> str:
    return "".join(f"{1000 + step * i:.3f} 0\n" for i in range(n))


def dat_session(root, nframes: int, nts: int | None, name: str = "session_1"):
    folder = root / name
    folder.mkdir()
    frames = frames_of(nframes)
    frames.tofile(folder / "depth.dat")
    (folder / "metadata.json").write_text(json.dumps(
        {"SubjectName": "m1", "SessionName": name, "DepthResolution": [W, H]}))
    if nts is not None:
        (folder / "depth_ts.txt").write_text(ts_text(nts))
    return folder / "depth.dat", frames


def test_dat_session_with_matching_counts(tmp_path):
    path, frames = dat_session(tmp_path, 12, 12)
    session = load_session(path)
    assert session.kind == "dat" and session.name == "session_1"
    assert session.session_dir == tmp_path / "session_1"
    # the frame size comes from DepthResolution in metadata.json (spec 7.1-21 fixed)
    assert session.info.dims == (W, H) and session.frame_size == (W, H)
    assert session.nframes == 12 and session.warnings == []
    assert session.timestamp_source == "depth_ts.txt"
    np.testing.assert_allclose(session.timestamps, 1000 + 33.3 * np.arange(12))
    assert session.metadata["SubjectName"] == "m1"
    with session.open_reader() as reader:
        np.testing.assert_array_equal(reader.read(0, 12), frames)


@pytest.mark.parametrize(("nframes", "nts"), [(12, 15), (15, 12)])
def test_count_mismatch_keeps_the_overlap_with_a_warning(tmp_path, caplog, nframes, nts):
    path, _ = dat_session(tmp_path, nframes, nts)
    with caplog.at_level(logging.WARNING, logger="moseq2_extract.io.session"):
        session = load_session(path)
    assert session.nframes == 12 and len(session.timestamps) == 12
    assert session.info.nframes == nframes
    assert len(session.warnings) == 1
    message = session.warnings[0]
    assert "\n" not in message and "depth_ts.txt" in message
    assert f"{nts} timestamps" in message and f"{nframes} frames" in message
    assert message in caplog.text


def test_timestamps_csv_fallback_and_missing_metadata(tmp_path):
    folder = tmp_path / "sess"
    folder.mkdir()
    frames_of(5).tofile(folder / "depth.dat")
    (folder / "timestamps.csv").write_text("".join(f"{i / 30:.6f},x\n" for i in range(5)))
    session = load_session(folder / "depth.dat", frame_size=(W, H))
    assert session.timestamp_source == "timestamps.csv"
    np.testing.assert_allclose(session.timestamps, np.arange(5) * 1000 / 30, atol=1e-3)
    assert session.metadata == {**DEFAULT_METADATA, "SessionName": "sess"}
    # issue 11 item 6: nothing is written into the raw-data folder
    assert sorted(p.name for p in folder.iterdir()) == ["depth.dat", "timestamps.csv"]


def test_missing_timestamps_are_made_up_from_the_frame_rate(tmp_path):
    # issue 11 item 5
    path, _ = dat_session(tmp_path, 4, None)
    session = load_session(path, fps=25.0)
    assert session.timestamp_source == "frame rate"
    np.testing.assert_allclose(session.timestamps, [0.0, 40.0, 80.0, 120.0])
    assert len(session.warnings) == 1 and "made up from the frame rate (25" in \
        session.warnings[0]


def test_unreadable_timestamp_lines_are_interpolated_and_counted(tmp_path):
    # issue 11 item 5
    path, _ = dat_session(tmp_path, 6, None)
    (path.parent / "depth_ts.txt").write_text(
        "1000 0\n1033.3 0\n\x00\x00garbage\n1100 0\n11#33 0\n1166.6 0\n")
    session = load_session(path)
    np.testing.assert_allclose(session.timestamps,
                               [1000, 1033.3, 1066.65, 1100, 1133.3, 1166.6])
    assert session.nframes == 6
    assert len(session.warnings) == 1
    assert "2 unreadable line(s) (3, 5)" in session.warnings[0]
    assert "depth_ts.txt" in session.warnings[0]


def test_metadata_that_is_not_an_object_is_treated_as_missing(tmp_path):
    # issue 11 item 5
    path, _ = dat_session(tmp_path, 4, 4)
    (path.parent / "metadata.json").write_text("[1, 2]")
    session = load_session(path, frame_size=(W, H))
    assert session.metadata == {**DEFAULT_METADATA, "SessionName": "session_1"}
    assert len(session.warnings) == 1
    assert "must be a JSON object" in session.warnings[0]
    assert "treated as missing" in session.warnings[0]
    assert (path.parent / "metadata.json").read_text() == "[1, 2]"  # left as it was


def test_no_timestamps_at_all(tmp_path):
    path, _ = dat_session(tmp_path, 4, None)
    session = load_session(path)  # no fps: none are made up
    assert session.timestamps is None and session.timestamp_source == "none"
    assert session.nframes == 4


def test_seconds_in_depth_ts_are_kept_but_flagged(tmp_path):
    path, _ = dat_session(tmp_path, 6, None)
    (path.parent / "depth_ts.txt").write_text("".join(f"{1.6e9 + i / 30}\n" for i in range(6)))
    session = load_session(path)
    assert session.timestamps[0] == 1.6e9
    assert len(session.warnings) == 1 and "look like seconds" in session.warnings[0]


def test_avi_session_in_a_folder(tmp_path):
    folder = tmp_path / "session_2"
    folder.mkdir()
    frames = frames_of(9)
    write_depth_video(folder / "depth.avi", frames)
    (folder / "depth_ts.txt").write_text(ts_text(9))
    session = load_session(folder)  # a folder resolves to its depth file
    assert session.depth_path == folder / "depth.avi" and session.kind == "avi"
    assert session.nframes == 9 and session.timestamp_source == "depth_ts.txt"
    with session.open_reader(threads=1) as reader:
        np.testing.assert_array_equal(reader.read(0, 9), frames)


def test_mkv_session_uses_container_timestamps_in_ms(tmp_path):
    folder = tmp_path / "azure"
    folder.mkdir()
    frames = frames_of(7)
    ts_us = 5_000_000 + np.arange(7) * 33_000
    write_azure_mkv(folder / "rec.mkv", frames, timestamps_us=ts_us)
    session = load_session(folder / "rec.mkv")
    assert session.timestamp_source == "container"
    np.testing.assert_array_equal(session.timestamps, ts_us / 1000)
    assert session.nframes == 7 and session.warnings == []
    with session.open_reader() as reader:
        np.testing.assert_array_equal(reader.read(0, 7), frames)


def test_tar_session_members(tmp_path):
    frames = frames_of(10)
    path = tmp_path / "session_123.tar.gz"
    write_tar(path, {"depth.dat": frames.tobytes(),
                "metadata.json": json.dumps({"SubjectName": "m9",
                                             "DepthResolution": [W, H]}).encode(),
                "depth_ts.txt": ts_text(11).encode()})
    session = load_session(path)
    assert session.kind == "tar" and session.name == "session_123"
    assert session.metadata["SubjectName"] == "m9"
    assert session.timestamp_source == "depth_ts.txt"
    assert session.nframes == 10 and len(session.warnings) == 1
    assert "11 timestamps" in session.warnings[0] and "10 frames" in session.warnings[0]
    with session.open_reader() as reader:
        np.testing.assert_array_equal(reader.read(0, 10), frames)


def test_tar_session_metadata_beside_the_archive(tmp_path):
    frames = frames_of(3)
    path = tmp_path / "session_5.tgz"
    write_tar(path, {"depth.dat": frames.tobytes()})
    (tmp_path / "session_5.json").write_text(json.dumps({"SubjectName": "beside"}))
    session = load_session(path, frame_size=(W, H))
    assert session.metadata == {"SubjectName": "beside"}
    assert session.timestamps is None and session.nframes == 3


def test_missing_depth_file(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        load_session(tmp_path / "x" / "depth.dat")
    with pytest.raises(InputFileError, match="no depth.dat"):
        load_session(tmp_path)
