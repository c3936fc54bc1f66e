"""Issue 11 item 9: an interrupted extraction continues from its last saved block.

Real ``moseq2-extract`` processes are killed (SIGKILL to the whole process group, as a lost
node or ``kill -9`` does; SIGINT as a terminal's Ctrl-C does) once their first snapshot
(``proc/.results_00.resume``) is on the disk, then run again; every dataset of the results
file and every decoded frame of the movie must equal those of an uninterrupted run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import h5py
import numpy as np
import pytest

from moseq2_extract.pipeline.resume import NOT_IN_RESULTS
from moseq2_extract.synthetic import SessionSpec, write_session

ROOT = Path(__file__).resolve().parents[2]
N = 1400
ARGS = ["--chunk-size", "64", "--workers", "2", "--no-report"]
RESUMED = "continuing an interrupted run"
AFRESH = "starting afresh"


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONUNBUFFERED="1")


def _extract(depth: Path, *args: str, command: str = "extract") -> subprocess.CompletedProcess:
    target = depth if command == "extract" else depth.parent.parent
    run = subprocess.run([sys.executable, "-m", "moseq2_extract.cli", command, str(target),
                          *args], capture_output=True, text=True, env=_env(), timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def _interrupt(depth: Path, *args: str, sig: int = signal.SIGKILL, command: str = "extract"
               ) -> subprocess.CompletedProcess:
    """Start an extraction and stop it with ``sig`` once it has saved a snapshot."""
    proc_dir = depth.parent / "proc"
    snapshot = proc_dir / ".results_00.resume"
    before = _identity(snapshot)
    target = depth if command == "extract" else depth.parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "moseq2_extract.cli", command, str(target), *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
    try:
        deadline = time.monotonic() + 300
        while _identity(snapshot) in (None, before):
            assert proc.poll() is None, "the run ended before its first snapshot"
            assert time.monotonic() < deadline, "no snapshot was written"
            time.sleep(0.02)
        time.sleep(0.3)  # rows beyond the snapshot get written, and must be written again
        assert proc.poll() is None, "the run ended before it could be interrupted"
        os.killpg(proc.pid, sig)  # every process of the run, its workers included
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert not (proc_dir / "results_00.h5").exists()
    assert (proc_dir / ".results_00.resume").exists()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns


def _h5(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    out.pop("metadata/uuid")  # one per run
    for key in NOT_IN_RESULTS:  # how it was run (workers, batch options), not what it found
        out.pop(f"metadata/extraction/parameters/{key}", None)
    return out


def _movie(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def assert_same_results(got: Path, want: Path) -> None:
    a, b = _h5(got / "results_00.h5"), _h5(want / "results_00.h5")
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    for name in ("frames", "frames_mask", "scalars/centroid_x_px", "scalars/angle",
                 "metadata/extraction/flips", "timestamps"):
        assert name in a
    ma, mb = _movie(got / "results_00.mp4"), _movie(want / "results_00.mp4")
    assert len(ma) == len(mb) == N
    for i, (x, y) in enumerate(zip(ma, mb)):
        assert np.array_equal(x, y), f"movie frame {i}"
    # nothing of the interrupted run is left
    assert sorted(p.name for p in got.iterdir() if p.name.startswith(".")) == []


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    base = tmp_path_factory.mktemp("resume")
    # an .avi: a fifth of the .dat's size, and the PyAV reader's seeks on resume
    return write_session(base / "template" / "s", SessionSpec(n_frames=N, seed=3), fmt="avi")


def _copy(template: Path, where: Path) -> Path:
    """The session in a folder of its own (hard links: the input is only ever read)."""
    shutil.copytree(template.parent, where / "s", copy_function=os.link)
    return where / "s" / template.name


@pytest.fixture(scope="module")
def reference(template, tmp_path_factory):
    """An uninterrupted run with :data:`ARGS`."""
    depth = _copy(template, tmp_path_factory.mktemp("reference"))
    _extract(depth, *ARGS)
    return depth.parent / "proc"


def test_sigkill_midway_then_rerun_continues_and_matches(template, reference, tmp_path):
    depth = _copy(template, tmp_path)
    _interrupt(depth, *ARGS)
    rerun = _extract(depth, *ARGS)
    lines = [ln for ln in rerun.stderr.splitlines() if RESUMED in ln]
    assert len(lines) == 1 and f"of {N} frames kept" in lines[0], rerun.stderr[-2000:]
    assert AFRESH not in rerun.stderr
    assert_same_results(depth.parent / "proc", reference)


def test_ctrl_c_keeps_the_progress_and_resume_matches(template, reference, tmp_path):
    depth = _copy(template, tmp_path)
    stopped = _interrupt(depth, *ARGS, sig=signal.SIGINT)
    assert stopped.returncode == 130, stopped.stderr[-2000:]
    said = [ln for ln in stopped.stderr.splitlines() if ln.startswith("Interrupted")]
    assert len(said) == 1 and "continue" in said[0] and "Traceback" not in stopped.stderr
    proc_dir = depth.parent / "proc"
    assert sorted(p.name for p in proc_dir.iterdir() if p.name.startswith(".")) == [
        ".results_00.h5.partial", ".results_00.mp4.segments", ".results_00.resume"]
    # a parameter that decides nothing in the results (the worker count) may differ
    other = [a if a != "2" else "1" for a in ARGS]
    rerun = _extract(depth, *other, "--resume")
    assert RESUMED in rerun.stderr and AFRESH not in rerun.stderr
    assert_same_results(proc_dir, reference)


def test_tracking_model_run_resumes_identically(template, tmp_path):
    args = [*ARGS, "--use-tracking-model", "true"]
    want = _copy(template, tmp_path / "want")
    _extract(want, *args)
    depth = _copy(template, tmp_path / "got")
    _interrupt(depth, *args)
    rerun = _extract(depth, *args)
    assert RESUMED in rerun.stderr
    assert_same_results(depth.parent / "proc", want.parent / "proc")


def _afresh_line(run: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in run.stderr.splitlines() if AFRESH in ln]
    assert len(lines) == 1 and RESUMED not in run.stderr, run.stderr[-2000:]
    return lines[0]


def test_changed_parameter_input_or_resume_off_start_afresh_saying_why(template, tmp_path):
    depth = _copy(template, tmp_path)
    _interrupt(depth, *ARGS)
    changed = _interrupt(depth, *ARGS, "--min-height", "12")
    assert "parameters differ (min_height: 10 -> 12)" in _afresh_line(changed)
    os.utime(depth, None)  # the input modified since
    touched = _interrupt(depth, *ARGS, "--min-height", "12")
    assert "the input changed since" in _afresh_line(touched)
    off = _extract(depth, *ARGS, "--min-height", "12", "--resume", "false")
    assert "resume is off" in _afresh_line(off)
    with h5py.File(depth.parent / "proc" / "results_00.h5", "r") as f:
        assert f["frames"].shape[0] == N
        assert f["metadata/extraction/parameters/min_height"][()] == 12
    assert not any(p.name.startswith(".") for p in (depth.parent / "proc").iterdir())


def test_batch_extract_continues_by_default(template, reference, tmp_path):
    depth = _copy(template, tmp_path / "batch")
    args = [*ARGS, "--skip-checks", "--local-workers", "1"]
    _interrupt(depth, *args, command="batch-extract")
    rerun = _extract(depth, *args, command="batch-extract")
    assert RESUMED in rerun.stderr and AFRESH not in rerun.stderr, rerun.stderr[-2000:]
    assert_same_results(depth.parent / "proc", reference)
