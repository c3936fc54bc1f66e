"""Writing synthetic sessions in every input format (synthetic/files.py)."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest

from moseq2_extract.errors import ConfigError
from moseq2_extract.synthetic import GroundTruth, SessionSpec, SyntheticSession, write_session

KINECT_FRAME_BYTES = 512 * 424 * 2


def test_invalid_formats(tmp_path):
    with pytest.raises(ConfigError, match="Kinect"):
        write_session(tmp_path, SessionSpec(n_frames=2, camera="azure"), fmt="dat")
    with pytest.raises(ConfigError, match="fmt"):
        write_session(tmp_path, SessionSpec(n_frames=2), fmt="mp4")


def _check_ts(text: str, n: int) -> np.ndarray:
    lines = text.splitlines()
    assert len(lines) == n and all(len(line.split()) == 2 for line in lines)
    ts = np.array([float(line.split()[0]) for line in lines])
    assert np.all(np.abs(np.diff(ts) - 1000 / 30) < 2) and ts[0] > 1000
    return ts


def test_write_dat_session(tmp_path):
    spec = SessionSpec(n_frames=12, seed=1)
    path = write_session(tmp_path, spec, chunk_size=5)
    assert path == tmp_path / "depth.dat"
    assert path.stat().st_size == 12 * KINECT_FRAME_BYTES
    raw = np.fromfile(path, dtype="<u2").reshape(12, 424, 512)
    np.testing.assert_array_equal(raw, SyntheticSession(spec).render())
    ts = _check_ts((tmp_path / "depth_ts.txt").read_text(), 12)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["DepthResolution"] == [512, 424] and meta["IsLittleEndian"] is True
    assert meta["SubjectName"] == "mouse1" and meta["StartTime"] == spec.start_time
    assert {"SessionName", "NidaqChannels", "NidaqSamplingRate", "ColorResolution",
            "DepthDataType", "ColorDataType"} <= set(meta)
    gt = GroundTruth.load(tmp_path / "ground_truth.npz")
    assert len(gt) == 12
    np.testing.assert_allclose(gt.timestamps_ms, ts)


def test_write_tar_session(tmp_path):
    spec = SessionSpec(n_frames=7, seed=1)
    path = write_session(tmp_path, spec, fmt="tar.gz", chunk_size=3)
    assert path.name == "session_20260101120000.tar.gz"
    assert (tmp_path / "session_20260101120000.json").is_file()
    assert (tmp_path / "ground_truth.npz").is_file()
    with tarfile.open(path, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"depth.dat", "depth_ts.txt", "metadata.json"}
        assert members["depth.dat"].size == 7 * KINECT_FRAME_BYTES
        raw = np.frombuffer(tar.extractfile("depth.dat").read(), dtype="<u2")
        _check_ts(tar.extractfile("depth_ts.txt").read().decode(), 7)
        meta = json.loads(tar.extractfile("metadata.json").read())
    np.testing.assert_array_equal(raw.reshape(7, 424, 512), SyntheticSession(spec).render())
    assert meta == json.loads((tmp_path / "session_20260101120000.json").read_text())


def test_write_avi_session(tmp_path):
    av = pytest.importorskip("av")
    pytest.importorskip("moseq2_extract.io.writers")
    spec = SessionSpec(n_frames=9, seed=1)
    path = write_session(tmp_path, spec, fmt="avi")
    assert path == tmp_path / "depth.avi"
    _check_ts((tmp_path / "depth_ts.txt").read_text(), 9)
    with av.open(str(path)) as container:
        frames = [f.to_ndarray() for f in container.decode(video=0)]
    assert len(frames) == 9
    np.testing.assert_array_equal(np.stack(frames), SyntheticSession(spec).render())


def test_write_mkv_session(tmp_path):
    pytest.importorskip("moseq2_extract.io.writers")
    spec = SessionSpec(n_frames=8, seed=1, camera="azure")
    path = write_session(tmp_path, spec, fmt="mkv")
    assert path == tmp_path / "depth.mkv" and path.stat().st_size > 8 * 640 * 576
    assert not (tmp_path / "depth_ts.txt").exists()
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["DepthResolution"] == [640, 576]
    gt = GroundTruth.load(tmp_path / "ground_truth.npz")
    assert gt.camera == "azure" and gt.background.shape == (576, 640)
    assert np.all(gt.timestamps_ms == np.round(gt.timestamps_ms))
