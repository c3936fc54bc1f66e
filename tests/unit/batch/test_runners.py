"""Runners: cluster sizing, runner choice, a dying worker fails one job only, the SLURM job
script built by dask-jobqueue."""

from __future__ import annotations

import os
import sys

import cloudpickle
import pytest

from moseq2_extract.batch import runners
from moseq2_extract.batch.jobs import DONE, FAILED, ExtractJob, JobResult
from moseq2_extract.batch.runners import (
    LONG_SESSION_FRAMES,
    AddressRunner,
    BatchPlan,
    InProcessRunner,
    LocalDaskRunner,
    LocalProcessRunner,
    SlurmDaskRunner,
    estimate_frames,
    make_runner,
    make_slurm_cluster,
    plan_batch,
    plan_local_cluster,
)
from moseq2_extract.config import make_config


def test_plan_local_cluster():
    assert plan_local_cluster(8, cores=2, memory=int(64e9)) == (2, 1)
    assert plan_local_cluster(1, cores=8, memory=int(64e9)) == (1, 8)
    assert plan_local_cluster(10, cores=16, memory=int(6e9)) == (4, 4)  # memory bound
    assert plan_local_cluster(10, cores=4, memory=int(1e9)) == (1, 4)
    assert plan_local_cluster(10, requested=3, cores=12) == (3, 4)
    assert plan_local_cluster(2, requested=6, cores=12) == (2, 6)


GB = 10**9
SHORT = [900] * 8
LONG = [LONG_SESSION_FRAMES * 3] * 8


def _plan(n, **kwargs) -> tuple[str, int, int]:
    plan = plan_batch(n, **{"memory": 64 * GB, **kwargs})
    return plan.runner, plan.sessions_at_once, plan.workers


def test_plan_two_cores():
    # one session per core, one worker each, one more for short sessions (one's
    # single-threaded stages overlap the others' blocks); the last one gets both cores
    assert _plan(8, cores=2, frames=SHORT) == ("processes", 3, 1)
    assert _plan(8, cores=2) == ("processes", 3, 1)  # lengths unknown: taken as short
    assert _plan(8, cores=2, frames=LONG) == ("processes", 2, 1)
    assert plan_batch(8, cores=2, memory=64 * GB).tail_workers == 2
    assert _plan(2, cores=2, frames=SHORT) == ("processes", 2, 1)
    assert _plan(1, cores=2, frames=SHORT) == ("in-process", 1, 2)
    assert _plan(8, cores=4, frames=SHORT) == ("processes", 5, 1)


def test_plan_one_core_never_runs_two_sessions():
    assert _plan(8, cores=1, frames=SHORT) == ("in-process", 1, 1)


def test_plan_many_cores():
    assert _plan(20, cores=16, frames=SHORT) == ("processes", 3, 8)
    assert _plan(20, cores=16, frames=LONG) == ("processes", 2, 8)
    assert _plan(20, cores=12, frames=LONG) == ("processes", 2, 6)
    assert _plan(20, cores=64, frames=LONG) == ("processes", 8, 8)
    assert _plan(2, cores=64, frames=SHORT) == ("processes", 2, 32)  # never more than n
    assert _plan(1, cores=64) == ("in-process", 1, 64)


def test_plan_memory_bounds_the_sessions_at_once():
    assert _plan(20, cores=16, frames=SHORT, memory=int(3.2 * GB)) == ("processes", 2, 8)
    assert _plan(8, cores=2, frames=SHORT, memory=int(0.6 * GB)) == ("in-process", 1, 2)
    assert _plan(8, cores=2, frames=SHORT, memory=int(0.9 * GB)) == ("processes", 2, 1)
    assert "memory for 2" in plan_batch(20, cores=16, memory=int(3.2 * GB)).reason


def test_plan_follows_requests():
    assert _plan(8, cores=4, requested_sessions=1) == ("in-process", 1, 4)
    assert _plan(8, cores=4, requested_sessions=1, requested_workers=2) == ("in-process", 1, 2)
    assert _plan(8, cores=12, requested_sessions=3) == ("dask", 3, 4)  # a Dask cluster, asked
    assert _plan(8, cores=2, requested_workers=1, frames=SHORT) == ("processes", 3, 1)
    assert _plan(8, cores=2, requested_workers=2, frames=SHORT) == ("processes", 2, 2)
    assert _plan(8, cores=4, requested_workers=4, frames=LONG) == ("in-process", 1, 4)
    assert plan_batch(8, cores=2, requested_workers=1, memory=64 * GB).tail_workers == 0


@pytest.mark.parametrize("cores", [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128])
@pytest.mark.parametrize("frames", [SHORT, LONG, []])
def test_automatic_plan_keeps_every_core_busy(cores, frames):
    """One session at a time (the one-by-one plan) keeps ``min(cores, workers)`` busy
    during blocks; the automatic plan never gives fewer cores work, at any core count."""
    for n in (2, 5, 40):
        plan = plan_batch(n, cores=cores, frames=frames[:n] if frames else [],
                          memory=1024 * GB)
        assert 1 <= plan.sessions_at_once <= n and plan.workers >= 1
        assert plan.sessions_at_once * plan.workers >= min(cores, n * plan.workers)
        assert plan.workers <= max(cores, 1)
        # the last session, alone at the end, gets every core or more than one-by-one's
        assert max(plan.tail_workers, plan.workers * plan.sessions_at_once) >= min(cores, 8)


def test_plan_line():
    line = plan_batch(8, cores=2, frames=SHORT, memory=64 * GB).describe()
    assert line.startswith("Plan: 3 sessions at a time x 1 worker each (the last with 2), "
                           "session processes (2 cores, 8 sessions")
    one = BatchPlan("in-process", 1, 1, 1, 3).describe()
    assert one == "Plan: 1 session at a time x 1 worker each, in this process (1 cores, " \
                  "3 sessions)"


def test_estimate_frames(tmp_path):
    dat = tmp_path / "depth.dat"
    dat.write_bytes(bytes(512 * 424 * 2 * 7))
    assert estimate_frames(dat) == 7
    avi = tmp_path / "depth.avi"
    avi.write_bytes(bytes(512 * 424 * 2))
    assert estimate_frames(avi) == 3
    assert estimate_frames(tmp_path / "missing.dat") == 0


def test_make_runner_follows_the_parameters():
    runner = make_runner(make_config({"local_workers": 1}), 5)
    assert isinstance(runner, InProcessRunner)
    plan = BatchPlan("processes", 2, 3, 2, 5)
    runner = make_runner(make_config({}), 5, plan=plan)
    assert isinstance(runner, LocalProcessRunner)
    assert (runner.sessions_at_once, runner.threads) == (2, 3)
    runner = make_runner(make_config({"local_workers": 2}), 5)
    assert isinstance(runner, LocalDaskRunner) and runner.n_workers == 2
    assert runner.threads == max(1, (len(os.sched_getaffinity(0))) // 2)
    runner = make_runner(make_config({"scheduler_address": "tcp://127.0.0.1:1",
                                      "cluster_type": "slurm"}), 5)
    assert isinstance(runner, AddressRunner) and runner.address == "tcp://127.0.0.1:1"
    runner = make_runner(make_config({"cluster_type": "slurm", "ncpus": 3, "slurm_jobs": 2}), 5)
    assert isinstance(runner, SlurmDaskRunner)
    assert runner.threads == 3 and runner.max_jobs == 2 and runner.resources == {"extract": 1}


def _crash_or_echo(job: ExtractJob) -> JobResult:
    """Task for the dying-worker test: one job takes its worker process down."""
    if job.name == "crash":
        os._exit(13)
    return JobResult(job.input_file, job.name, DONE, n_frames=int(job.config["n"]))


def test_a_dead_worker_fails_only_its_session():
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        runner = LocalDaskRunner(2, threads=1)
        runner.task = staticmethod(_crash_or_echo)
        jobs = [ExtractJob(f"/s{i}/depth.dat", {"n": i}, name="crash" if i == 1 else f"s{i}")
                for i in range(4)]
        seen = []
        results = runner.run(jobs, on_result=seen.append)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert [r.status for r in results] == [DONE, FAILED, DONE, DONE]
    assert [r.n_frames for r in results] == [0, 0, 2, 3]
    assert "KilledWorker" in results[1].error
    assert results[1].input_file == "/s1/depth.dat"
    assert sorted(r.input_file for r in seen) == sorted(j.input_file for j in jobs)


def test_slurm_job_script_has_the_requested_resources(tmp_path):
    config = make_config({
        "cluster_type": "slurm", "partition": "gpu-short", "ncpus": 4, "memory": "12GB",
        "wall_time": "02:30:00", "prefix": "source /opt/env/bin/activate;",
        "job_extra_directives": ["--qos=high", "account=lab42"],
        "slurm_log_directory": str(tmp_path / "logs")})
    cluster = make_slurm_cluster(config)
    try:
        script = cluster.job_script()
        assert cluster.job_cls.submit_command == "sbatch"
        assert cluster.job_cls.cancel_command == "scancel"
    finally:
        cluster.close()
    lines = script.splitlines()
    assert lines[0].startswith("#!")
    for directive in ("#SBATCH -p gpu-short", "#SBATCH --cpus-per-task=4",
                      "#SBATCH -t 02:30:00", "#SBATCH --qos=high", "#SBATCH --account=lab42",
                      "#SBATCH -J moseq2-extract"):
        assert directive in lines, directive
    mem = [ln for ln in lines if ln.startswith("#SBATCH --mem=")]
    assert mem and mem[0].endswith("G")
    assert f"#SBATCH -e {tmp_path / 'logs'}/moseq2-extract-%J.err" in lines
    assert "source /opt/env/bin/activate" in lines
    worker = [ln for ln in lines if "distributed.cli.dask_worker" in ln]
    assert worker and worker[0].startswith(sys.executable)
    assert "--nthreads 4" in worker[0] and "--resources extract=1" in worker[0]
    assert script.index("source /opt/env/bin/activate") < script.index(worker[0])


def test_in_process_runner_sets_threads_and_reports(tmp_path):
    seen = []
    job = ExtractJob(str(tmp_path / "missing" / "depth.dat"), {"workers": 0})
    (result,) = InProcessRunner(threads=2).run([job], on_result=seen.append)
    assert result.status == FAILED and seen == [result]


@pytest.mark.parametrize("value", ["dask", "script"])
def test_slurm_submit_choices(value):
    assert make_config({"slurm_submit": value}).slurm_submit == value


def test_address_runner_uses_an_existing_scheduler(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        runner = make_runner(make_config({"scheduler_address": cluster.scheduler_address}), 2)
        jobs = [ExtractJob(str(tmp_path / f"s{i}" / "depth.dat"), {}, name=f"s{i}")
                for i in range(2)]
        results = runner.run(jobs)
        assert len(cluster.scheduler.workers) == 1  # the cluster is left running
    assert [r.status for r in results] == [FAILED, FAILED]
    assert all("no such file" in r.error for r in results)
    assert {r.worker for r in results} == {"0"}  # ran on the cluster's worker


def _crash_or_echo_job(job: ExtractJob) -> JobResult:
    """run_job for the session-process tests: one job kills its process."""
    if job.name == "crash":
        os._exit(13)
    return JobResult(job.input_file, job.name, DONE, n_frames=int(job.config["n"]),
                     worker=str(os.getpid()), seconds=float(job.config["workers"]))


@pytest.mark.skipif(sys.platform != "linux", reason="the forked child sees the patched task")
def test_session_processes_a_dead_one_fails_only_its_session(monkeypatch):
    monkeypatch.setattr(runners, "run_job", _crash_or_echo_job)
    jobs = [ExtractJob(f"/s{i}/depth.dat", {"n": i, "workers": 5 if i == 3 else 0},
                       name="crash" if i == 1 else f"s{i}") for i in range(5)]
    seen = []
    results = LocalProcessRunner(2, threads=2, tail_threads=7).run(jobs, on_result=seen.append)
    assert [r.status for r in results] == [DONE, FAILED, DONE, DONE, DONE]
    assert [r.n_frames for r in results] == [0, 0, 2, 3, 4]
    assert "exit status 13" in results[1].error
    # workers: the plan's where the job leaves it 0 (the last job: the tail's), the job's
    # own otherwise
    assert [r.seconds for r in results if r.ok] == [2.0, 2.0, 5.0, 7.0]
    assert len({r.worker for r in results if r.ok}) == 4  # one process per session
    assert str(os.getpid()) not in {r.worker for r in results}
    assert sorted(r.input_file for r in seen) == sorted(j.input_file for j in jobs)


def test_session_processes_report_a_failed_extraction(tmp_path):
    job = ExtractJob(str(tmp_path / "missing" / "depth.dat"), {})
    (result,) = LocalProcessRunner(2, threads=1).run([job])
    assert result.status == FAILED and "no such file" in result.error
