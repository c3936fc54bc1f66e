"""Runners: cluster sizing, runner choice, a dying worker fails one job only, the SLURM job
script built by dask-jobqueue."""

from __future__ import annotations

import os
import sys

import cloudpickle
import pytest

from moseq2_extract.batch.jobs import DONE, FAILED, ExtractJob, JobResult
from moseq2_extract.batch.runners import (
    AddressRunner,
    InProcessRunner,
    LocalDaskRunner,
    SlurmDaskRunner,
    make_runner,
    make_slurm_cluster,
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


def test_make_runner_follows_the_parameters():
    runner = make_runner(make_config({"local_workers": 1}), 5)
    assert isinstance(runner, InProcessRunner)
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
