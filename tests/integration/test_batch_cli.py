"""batch-extract end to end on a local Dask cluster, crash safety, aggregation, indexes,
convert-raw-to-avi and copy-slice through the command line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from moseq2_extract.batch.discovery import COMPLETE, find_sessions
from moseq2_extract.cli import cli
from moseq2_extract.io.video import open_depth_video
from moseq2_extract.output.status import read_status
from moseq2_extract.synthetic import SessionSpec, write_session

N_FRAMES = 150
KINDS = (("s0", "dat"), ("s1", "avi"), ("s2", "tar.gz"), ("s3", "dat"))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Four sessions of mixed kinds, written once per module."""
    root = tmp_path_factory.mktemp("batch_template")
    for i, (name, fmt) in enumerate(KINDS):
        write_session(root / name, SessionSpec(n_frames=N_FRAMES, seed=10 + i,
                                               session_name=f"sess{name.upper()}",
                                               subject_name=f"Mouse{i}"), fmt=fmt)
    return root


@pytest.fixture
def batch_dir(template, tmp_path):
    root = tmp_path / "experiment"
    shutil.copytree(template, root)
    return root


def add_broken_session(root: Path) -> Path:
    """A session whose depth file holds noise: no floor can be found."""
    folder = root / "broken"
    folder.mkdir()
    rng = np.random.default_rng(1)
    rng.integers(0, 4000, size=(6, 424, 512), dtype=np.uint16).astype("<u2").tofile(
        folder / "depth.dat")
    (folder / "metadata.json").write_text('{"SessionName": "broken", "SubjectName": "x"}')
    return folder / "depth.dat"


def results_of(h5_path: Path) -> dict[str, np.ndarray]:
    """Every per-frame dataset and the arena images of a results file."""
    out = {}
    with h5py.File(h5_path, "r") as f:
        for name in ("frames", "frames_mask", "timestamps", "metadata/extraction/roi",
                     "metadata/extraction/background", "metadata/extraction/flips"):
            if name in f:
                out[name] = f[name][()]
        for key in f["scalars"]:
            out[f"scalars/{key}"] = f["scalars"][key][()]
    return out


def h5_outputs(root: Path) -> dict[str, Path]:
    return {s.name: s.h5_path for s in find_sessions(root, [".dat", ".avi"])}


def test_batch_extract_mixed_kinds_with_a_broken_session(batch_dir):
    broken = add_broken_session(batch_dir)
    runner = CliRunner()
    args = ["batch-extract", str(batch_dir), "--extensions", ".dat", "--extensions", ".avi",
            "--local-workers", "2", "--min-height", "12", "--crop-size", "64", "64"]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1, result.output
    out = result.output
    assert "local Dask cluster: 2 worker process(es)" in out
    assert "4 done, 0 skipped, 1 failed; 600 frames extracted" in out
    assert f"FAILED {broken}:" in out
    sessions = {s.name: s for s in find_sessions(batch_dir, [".dat", ".avi"])}
    assert sorted(sessions) == ["broken", "s0", "s1", "s3", "session_20260101120000"]
    assert not sessions["broken"].complete
    assert not sessions["broken"].h5_path.exists()
    for name, s in sessions.items():
        if name == "broken":
            continue
        assert s.status == COMPLETE, name
        with h5py.File(s.h5_path, "r") as f:
            # CLI options reach every session although no config file was given
            assert f["frames"].shape == (N_FRAMES, 64, 64)
            assert f["metadata/extraction/parameters/min_height"][()] == 12
        assert s.h5_path.with_suffix(".mp4").exists()
    # the archive's results are where discovery looks for them
    assert (batch_dir / "s2" / "session_20260101120000" / "proc" / "results_00.h5").exists()

    # a second run only reports: finished sessions are not redone, the broken one fails again
    before = {n: s.h5_path.stat().st_mtime_ns for n, s in sessions.items() if s.complete}
    again = runner.invoke(cli, args + ["--local-workers", "1"])
    assert again.exit_code == 1
    assert "0 done, 4 skipped, 1 failed" in again.output
    assert {n: s.h5_path.stat().st_mtime_ns for n, s in sessions.items() if s.complete} == before

    # aggregate-results + generate-index with the spec's names and index shape
    agg = batch_dir / "aggregate_results"
    result = runner.invoke(cli, ["aggregate-results", "-i", str(batch_dir), "-o", str(agg)])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in agg.glob("*.h5"))
    assert names == [f"2026-01-01_12-00-00_sess_s{i}_mouse{i}_results_00.h5" for i in range(4)]
    assert len(list(agg.glob("*.mp4"))) == 4 and len(list(agg.glob("*.yaml"))) == 4
    index = yaml.safe_load((batch_dir / "moseq2-index.yaml").read_text())
    assert sorted(index) == ["files", "pca_path"] and len(index["files"]) == 4
    uuids = set()
    for entry in index["files"]:
        assert sorted(entry) == ["group", "metadata", "path", "uuid"]
        h5, yml = entry["path"]
        assert Path(h5).parent == agg and Path(yml) == Path(h5).with_suffix(".yaml")
        assert read_status(yml)["uuid"] == entry["uuid"]
        with h5py.File(h5, "r") as f:
            assert f["metadata/uuid"].asstr()[()] == entry["uuid"]
        uuids.add(entry["uuid"])
    assert len(uuids) == 4
    out_file = batch_dir / "all-index.yaml"
    result = runner.invoke(cli, ["generate-index", "-i", str(batch_dir), "-o", str(out_file)])
    assert result.exit_code == 0 and "successfully generated" in result.output
    entries = yaml.safe_load(out_file.read_text())["files"]
    assert {e["uuid"] for e in entries} == uuids  # proc/ and aggregate copies: one entry each
    result = runner.invoke(cli, ["agg-to-index", "-i", str(agg) + "/"])
    assert result.exit_code == 0
    assert len(yaml.safe_load((batch_dir / "moseq2-index.yaml").read_text())["files"]) == 4


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_sigkill_during_batch_then_rerun_gives_identical_results(template, tmp_path):
    reference = tmp_path / "reference"
    crashed = tmp_path / "crashed"
    shutil.copytree(template, reference)
    shutil.copytree(template, crashed)
    for folder in (reference, crashed):
        for name in ("s1", "s3"):  # a .dat and a .tar.gz session are enough here
            shutil.rmtree(folder / name)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "moseq2_extract.cli", "batch-extract"]

    proc = subprocess.Popen(cmd + [str(crashed), "--local-workers", "2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        # kill the batch (and with it its workers) while h5 files are half written
        _wait_for(lambda: any(crashed.rglob(".results_00.h5.partial")), 120,
                  "an extraction in progress")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    sessions = find_sessions(crashed)
    assert any(not s.complete for s in sessions), "the batch finished before the kill"
    for s in sessions:
        if not s.complete:
            # nothing half-done passes for a result
            assert not (s.yaml_path.exists() and read_status(s.yaml_path)["complete"]
                        and s.h5_path.exists())
    # the workers die with the batch: nobody keeps writing the session
    import fcntl

    for s in sessions:
        lock = s.output_dir / ".results_00.lock"
        if lock.exists():
            def free(path=lock) -> bool:
                try:
                    fd = os.open(path, os.O_RDWR)
                except FileNotFoundError:  # its last holder finished and removed it
                    return True
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return True
                except BlockingIOError:
                    return False
                finally:
                    os.close(fd)
            _wait_for(free, 15, f"the workers of the killed batch to stop ({lock})")

    runner = CliRunner()  # resume and reference in this process, one session at a time
    rerun = runner.invoke(cli, ["batch-extract", str(crashed), "--local-workers", "1"])
    assert rerun.exit_code == 0, rerun.output
    done = runner.invoke(cli, ["batch-extract", str(reference), "--local-workers", "1"])
    assert done.exit_code == 0, done.output

    got, want = h5_outputs(crashed), h5_outputs(reference)
    assert sorted(got) == sorted(want) and len(got) == 2
    for name in want:
        a, b = results_of(got[name]), results_of(want[name])
        assert sorted(a) == sorted(b)
        for key in b:
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, key
            assert a[key].tobytes() == b[key].tobytes(), f"{name}: {key} differs"
    assert not list(crashed.rglob("*.partial"))


def test_convert_raw_to_avi_and_copy_slice_cli(template, tmp_path):
    src = tmp_path / "s0"
    shutil.copytree(template / "s0", src)
    depth = src / "depth.dat"
    with open_depth_video(depth) as reader:
        frames = reader.read(0, reader.nframes)
    runner = CliRunner()
    result = runner.invoke(cli, ["copy-slice", str(depth), "-o", str(tmp_path / "cut.avi"),
                                 "-c", "20", "60", "-b", "16"])
    assert result.exit_code == 0, result.output
    with open_depth_video(tmp_path / "cut.avi") as reader:
        assert np.array_equal(reader.read(0, reader.nframes), frames[20:60])
    # an existing output is only replaced after ENTER
    result = runner.invoke(cli, ["copy-slice", str(depth), "-o", str(tmp_path / "cut.avi"),
                                 "-c", "0", "5"], input="no\n")
    assert result.exit_code == 0
    with open_depth_video(tmp_path / "cut.avi") as reader:
        assert reader.nframes == 40

    result = runner.invoke(cli, ["convert-raw-to-avi", str(depth), "-b", "64", "--delete"])
    assert result.exit_code == 0, result.output
    assert not depth.exists()
    with open_depth_video(src / "depth.avi") as reader:
        assert reader.nframes == N_FRAMES
        assert np.array_equal(reader.read(0, N_FRAMES), frames)
