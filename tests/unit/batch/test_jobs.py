"""Batch jobs: planning, one-job runs that never raise, locks, SLURM lines, conversion."""

from __future__ import annotations

import fcntl
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from moseq2_extract.batch.discovery import find_sessions
from moseq2_extract.batch.jobs import (
    DONE,
    FAILED,
    SKIPPED,
    ExtractJob,
    JobResult,
    plan_jobs,
    run_job,
    sbatch_command,
    session_lock,
    summary_table,
    write_sbatch_script,
)
from moseq2_extract.config import make_config, read_config_file
from moseq2_extract.output.status import write_status


def touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def finish(out: Path) -> None:
    write_status(out / "results_00.yaml", complete=True, metadata={}, parameters={}, uuid="u")
    touch(out / "results_00.h5")


@pytest.fixture
def folder(tmp_path):
    for name in ("done", "new", "nometa"):
        touch(tmp_path / name / "depth.dat")
    for name in ("done", "new"):
        touch(tmp_path / name / "metadata.json", "{}")
    finish(tmp_path / "done" / "proc")
    return tmp_path


def plan(folder, **values):
    return plan_jobs(find_sessions(folder), make_config(values))


def test_plan_skips_complete_and_metadata_less_sessions(folder):
    jobs, skipped = plan(folder)
    assert [Path(j.input_file).parent.name for j in jobs] == ["new"]
    assert {Path(r.input_file).parent.name: r.error for r in skipped} == {
        "done": "already complete",
        "nometa": "no metadata.json (use --skip-checks to extract anyway)"}
    assert all(r.status == SKIPPED for r in skipped)
    job = jobs[0]
    assert job.skip_if_complete and job.config["skip_completed"] is True
    assert job.output_dir == str((folder / "new" / "proc").resolve())


def test_skip_checks_reextracts_unless_skip_completed(folder):
    jobs, skipped = plan(folder, skip_checks=True)
    assert sorted(Path(j.input_file).parent.name for j in jobs) == ["done", "new", "nometa"]
    assert not skipped and not any(j.skip_if_complete for j in jobs)
    jobs, skipped = plan(folder, skip_checks=True, skip_completed=True)
    assert sorted(Path(j.input_file).parent.name for j in jobs) == ["new", "nometa"]


def test_session_configs_override_per_session(folder, tmp_path):
    sessions = tmp_path / "session_config.yaml"
    sessions.write_text("new: {min_height: 7, crop_size: [64, 64], unknown_key: 1, "
                        "output_dir: /elsewhere}\n")
    jobs, _ = plan(folder, session_config_path=str(sessions), max_height=90)
    (job,) = jobs
    assert job.config["min_height"] == 7 and list(job.config["crop_size"]) == [64, 64]
    assert job.config["max_height"] == 90
    assert "unknown_key" not in job.config and "session_config_path" not in job.config
    assert job.output_dir == str((folder / "new" / "proc").resolve())
    make_config(job.config)  # still a valid configuration


def test_job_round_trips_through_pickle(folder):
    (job,) = plan(folder)[0]
    assert pickle.loads(pickle.dumps(job)) == job
    assert job.with_config(workers=3).config["workers"] == 3 and job.config["workers"] == 0


def test_run_job_reports_failure_instead_of_raising(tmp_path):
    bad = tmp_path / "bad" / "depth.dat"
    bad.parent.mkdir()
    bad.write_bytes(np.random.default_rng(0).integers(0, 4000, 512 * 424 * 3, dtype="<u2")
                    .tobytes())
    result = run_job(ExtractJob(str(bad), make_config({}).to_dict(), name="bad"))
    assert result.status == FAILED and not result.ok
    assert result.error and "\n" not in result.error and str(bad) not in result.error
    assert "Traceback" in result.traceback
    assert result.host and result.worker.startswith("pid ")
    assert not (tmp_path / "bad" / "proc" / "results_00.h5").exists()
    missing = run_job(ExtractJob(str(tmp_path / "nope" / "depth.dat"), {}))
    assert missing.status == FAILED and "no such file" in missing.error


def test_run_job_skips_a_session_completed_meanwhile(folder):
    job = ExtractJob(str(folder / "done" / "depth.dat"), make_config({}).to_dict())
    result = run_job(job)
    assert (result.status, result.error) == (SKIPPED, "already complete")


def test_session_lock_is_exclusive(tmp_path):
    with session_lock(tmp_path, "results_00"):
        fd = os.open(tmp_path / ".results_00.lock", os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
    assert not (tmp_path / ".results_00.lock").exists()  # released and removed


def test_worker_processes_die_with_their_parent(tmp_path):
    """A killed batch must not leave extraction processes writing behind it."""
    pid_file = tmp_path / "child.pid"
    child_py = tmp_path / "child.py"
    child_py.write_text(
        "import os, sys, time\n"
        "from moseq2_extract.batch.jobs import die_with_parent\n"
        "die_with_parent(interval=0.1)\n"
        "open(sys.argv[1], 'w').write(str(os.getpid()))\n"
        "time.sleep(60)\n")
    script = (f"import subprocess, sys, time\n"
              f"subprocess.Popen([sys.executable, {str(child_py)!r}, {str(pid_file)!r}])\n"
              f"time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 20
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline, "child did not start"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child}").exists() and "zombie" not in \
                Path(f"/proc/{child}/status").read_text().lower():
            assert time.monotonic() < deadline, "orphaned worker still running"
            time.sleep(0.05)
    finally:
        if parent.poll() is None:
            parent.kill()


def test_summary_table_lists_what_where_and_errors():
    results = [
        JobResult("/d/a/depth.dat", "a", DONE, n_frames=300, seconds=3.0, host="node1",
                  worker="0"),
        JobResult("/d/b/depth.dat", "b", FAILED, seconds=0.5, host="node2", worker="1",
                  error="no floor found"),
        JobResult("/d/c/depth.dat", "c", SKIPPED, error="already complete"),
    ]
    table = summary_table(results, root="/d")
    lines = table.splitlines()
    assert lines[0].split() == ["session", "status", "frames", "seconds", "frames/s", "where",
                                "error", "/", "note"]
    assert lines[2].split() == ["a/depth.dat", "done", "300", "3.0", "100", "node1/0"]
    assert lines[3].split()[:2] == ["b/depth.dat", "failed"] and "no floor found" in lines[3]
    assert "node2/1" in lines[3]
    assert lines[-1] == "1 done, 1 skipped, 1 failed; 300 frames extracted"


def test_sbatch_command_line():
    line = sbatch_command("/d/s 1/depth.dat", "/d/s 1/proc/config.yaml", "/d/s 1/proc",
                          ncpus=0, memory="8GB", partition="long", wall_time="1:00:00",
                          prefix="source activate env; ", extra=["--qos=high"])
    assert line.startswith("sbatch -c 1 --mem=8GB -p long -t 1:00:00 --qos=high --wrap ")
    wrapped = line.split("--wrap ", 1)[1]
    import shlex

    (inner,) = shlex.split(wrapped)
    assert inner.startswith("source activate env; moseq2-extract extract --config-file ")
    assert shlex.split(inner.split("; ", 1)[1].rstrip("; ")) == [
        "moseq2-extract", "extract", "--config-file", "/d/s 1/proc/config.yaml",
        "--output-dir", "/d/s 1/proc", "/d/s 1/depth.dat"]


def test_write_sbatch_script_honours_the_options(folder):
    jobs, _ = plan(folder, min_height=14)
    config = make_config({"ncpus": 4, "memory": "9GB", "partition": "p1",
                          "job_extra_directives": ["--qos=x"]})
    script, lines = write_sbatch_script(jobs, folder / "extract_out.sh", config)
    assert script.read_text().splitlines() == lines and len(lines) == 1
    assert "-c 4 --mem=9GB -p p1 -t 3:00:00 --qos=x" in lines[0]
    saved = read_config_file(folder / "new" / "proc" / "config.yaml")
    assert saved["min_height"] == 14 and saved["workers"] == 4 and "output_dir" not in saved
    make_config(saved)
