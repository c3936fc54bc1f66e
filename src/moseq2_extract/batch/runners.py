"""Where batch jobs run: in this process, in session processes forked from it, on a local
Dask cluster, on SLURM through dask-jobqueue, or on an existing Dask scheduler.

:func:`~.plan.plan_batch` chooses the local plan (how many sessions at a time, how many
workers each) from the machine and the sessions; :func:`make_runner` builds the runner
for it.

Every runner's ``run(jobs, on_result=None)`` takes :class:`~.jobs.ExtractJob` records,
calls ``on_result`` with each job's result as it finishes and returns one
:class:`~.jobs.JobResult` per job, in the order of ``jobs``, whatever happens to the
job: an exception in the extraction, a worker process that dies (Dask reports
``KilledWorker``) or a lost connection all come back as ``failed`` results, and the other
jobs go on.

Dask (``distributed``, ``dask-jobqueue``) is imported only when a Dask runner is used.
"""

from __future__ import annotations

import abc
import logging
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..config import Config
from ..errors import ConfigError, ExtractionError
from .jobs import FAILED, ExtractJob, JobResult, die_with_parent, run_job
from .plan import (  # noqa: F401 - the planning names, also importable from here
    LONG_SESSION_FRAMES,
    MAX_SESSION_WORKERS,
    SESSION_MEMORY,
    SESSION_PROCESS_MEMORY,
    SMALL_MACHINE_CORES,
    WORKER_MEMORY,
    BatchPlan,
    estimate_frames,
    plan_batch,
    plan_local_cluster,
)

logger = logging.getLogger(__name__)

OnResult = Callable[[JobResult], None]

__all__ = [
    "AddressRunner",
    "BatchPlan",
    "InProcessRunner",
    "LocalDaskRunner",
    "LocalProcessRunner",
    "SlurmDaskRunner",
    "SubmissionError",
    "estimate_frames",
    "make_runner",
    "plan_batch",
    "require_dask",
    "make_slurm_cluster",
    "plan_local_cluster",
]


class SubmissionError(ExtractionError, RuntimeError):
    """The cluster's scheduler refused the jobs (e.g. sbatch failed)."""


def _failed(job: ExtractJob, err: BaseException, seconds: float = 0.0) -> JobResult:
    text = str(err).splitlines()[0] if str(err) else ""
    return JobResult(job.input_file, job.name, FAILED, output_dir=job.output_dir,
                     seconds=seconds, error=f"{type(err).__name__}: {text}".rstrip(": "))


class InProcessRunner:
    """Run jobs one after the other in this process (no Dask)."""

    name = "in-process"

    def __init__(self, threads: int | None = None):
        self.threads = threads

    def run(self, jobs: Sequence[ExtractJob], *, on_result: OnResult | None = None
            ) -> list[JobResult]:
        results = []
        for job in jobs:
            if self.threads and not job.config.get("workers"):
                job = job.with_config(workers=self.threads)
            result = run_job(job)
            results.append(result)
            if on_result is not None:
                on_result(result)
        return results

    def describe(self) -> str:
        return "in-process, sequential"


def run_local_job(job: ExtractJob) -> JobResult:
    """:func:`~.jobs.run_job` in a local worker process, which first arranges to end with
    the batch process (so a killed batch leaves no orphan extraction behind)."""
    die_with_parent()
    return run_job(job)


def _session_process(job: ExtractJob, conn) -> None:
    """Body of a session process: extract ``job`` and send its result back.  Ctrl-C
    reaches the whole process group: the extraction cleans up after itself, then this
    process ends quietly (the batch reports the interruption)."""
    die_with_parent()
    try:
        conn.send(run_job(job))
    except KeyboardInterrupt:
        os._exit(130)
    finally:
        conn.close()


def _warm_imports() -> None:
    """Import what an extraction needs before session processes are forked, so that each
    starts with it loaded (as the workers of an extraction do)."""
    import contextlib
    import importlib

    for name in ("moseq2_extract.pipeline.session", "moseq2_extract.output.h5writer",
                 "moseq2_extract.output.movie", "tifffile", "numpy.random"):
        # an import that fails here fails again, with its message, where it is used
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


class LocalProcessRunner:
    """Run sessions in processes of their own, ``sessions_at_once`` at a time (no Dask).

    Each session runs :func:`~.jobs.run_job` in a process forked from this one (spawned
    where fork is not safe), after the extraction's modules were imported here, so a
    session starts at once.  A session process that dies (killed, out of memory) fails
    only its own session; each ends with this process (a killed batch leaves none).

    Parameters
    ----------
    sessions_at_once : int
    threads : int
        ``workers`` of each extraction whose config leaves it 0.
    tail_threads : int
        ``workers`` of the last session instead (0: ``threads``): it runs alone at the end.
    """

    name = "local-processes"

    def __init__(self, sessions_at_once: int, threads: int, tail_threads: int = 0):
        self.sessions_at_once = max(1, int(sessions_at_once))
        self.threads = max(1, int(threads))
        self.tail_threads = max(0, int(tail_threads))

    def run(self, jobs: Sequence[ExtractJob], *, on_result: OnResult | None = None
            ) -> list[JobResult]:
        """Run ``jobs`` as every runner does (module docstring)."""
        import multiprocessing
        from multiprocessing.connection import wait

        from ..pipeline.workers import opencv_threads, start_method

        if not jobs:
            return []
        context: Any = multiprocessing.get_context(start_method())
        if context.get_start_method() == "fork":
            _warm_imports()
        waiting = deque(enumerate(jobs))
        running: dict[Any, tuple[int, ExtractJob, Any, float]] = {}
        results: dict[int, JobResult] = {}
        try:
            while waiting or running:
                while waiting and len(running) < self.sessions_at_once:
                    i, job = waiting.popleft()
                    if not job.config.get("workers"):
                        last = not waiting and self.tail_threads
                        job = job.with_config(workers=self.tail_threads if last
                                              else self.threads)
                    receive, send = context.Pipe(duplex=False)
                    process = context.Process(target=_session_process, args=(job, send),
                                              name=f"session-{i}")
                    # OpenCV's thread pool, once running here, must not be forked
                    # running: the session process would hang in its first OpenCV call
                    with opencv_threads(1):
                        process.start()
                    send.close()
                    running[receive] = (i, job, process, time.perf_counter())
                for ready in wait(list(running)):
                    i, job, process, t0 = running.pop(ready)
                    results[i] = self._collect(ready, job, process, t0)
                    if on_result is not None:
                        on_result(results[i])
        finally:
            for receive, (_, _, process, _) in running.items():
                process.terminate()
                process.join()
                receive.close()
        return [results[i] for i in range(len(jobs))]

    @staticmethod
    def _collect(receive, job: ExtractJob, process, t0: float) -> JobResult:
        """The result a finished session process sent, or a failed one if it died."""
        try:
            result = receive.recv()
        except (EOFError, OSError):
            process.join()
            code = process.exitcode
            why = f"signal {-code}" if code is not None and code < 0 else f"exit status {code}"
            result = _failed(job, RuntimeError(
                f"the session process stopped unexpectedly ({why}; killed, or out of "
                "memory?)"), time.perf_counter() - t0)
            logger.error("%s: %s", job.input_file, result.error)
        receive.close()
        process.join()
        return result

    def describe(self) -> str:
        tail = f" (the last {self.tail_threads})" if self.tail_threads else ""
        return (f"{self.sessions_at_once} session process(es) at a time x {self.threads} "
                f"worker(s){tail}")


class _DaskRunner(abc.ABC):
    """Submit jobs to a ``distributed.Client`` and gather results as they finish."""

    name = "dask"
    resources: dict[str, float] | None = None
    threads: int | None = None
    task: Callable[[ExtractJob], JobResult] = staticmethod(run_job)

    _client_obj = None  # the distributed.Client, once connected
    _cluster: Any = None  # a cluster this runner started (None when attached to one)

    @abc.abstractmethod
    def _client(self):
        """Connect (starting a cluster if needed) and return the ``distributed.Client``."""

    def _close(self) -> None:
        """Disconnect, and shut down the cluster if this runner started it."""
        if self._client_obj is not None:
            self._client_obj.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client_obj = self._cluster = None

    def _prepare(self, client, n_jobs: int) -> None:  # noqa: B027 - optional hook
        """Hook run once the client exists (e.g. ask SLURM for workers)."""

    def _slots(self, client, n_jobs: int) -> int:
        """Jobs handed to the scheduler at once: one per worker thread, so that a worker
        never holds queued sessions (a worker that dies takes only its own session)."""
        try:
            return max(1, sum(client.nthreads().values()))
        except Exception:  # noqa: BLE001 - any scheduler hiccup: be conservative
            return 1

    def run(self, jobs: Sequence[ExtractJob], *, on_result: OnResult | None = None
            ) -> list[JobResult]:
        """Run ``jobs`` as every runner does (module docstring)."""
        import dask
        from distributed import as_completed

        if not jobs:
            return []
        results: dict[int, JobResult] = {}
        t0 = time.perf_counter()
        with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
            client = self._client()
        try:
            self._prepare(client, len(jobs))
            futures: dict[Any, tuple[int, ExtractJob]] = {}
            waiting = iter(enumerate(jobs))
            running = as_completed()

            def submit_next() -> None:
                item = next(waiting, None)
                if item is None:
                    return
                i, job = item
                if self.threads and not job.config.get("workers"):
                    job = job.with_config(workers=self.threads)
                fut = client.submit(self.task, job, pure=False, retries=0,
                                    key=f"extract-{i}-{os.getpid()}-{time.monotonic_ns()}",
                                    resources=self.resources)
                futures[fut] = (i, job)
                running.add(fut)

            for _ in range(min(len(jobs), self._slots(client, len(jobs)))):
                submit_next()
            for fut in running:
                i, job = futures.pop(fut)
                try:
                    result = fut.result()
                except Exception as err:  # noqa: BLE001 - a dead worker fails one session only
                    result = _failed(job, err, time.perf_counter() - t0)
                    logger.error("%s: %s", job.input_file, result.error)
                results[i] = result
                if on_result is not None:
                    on_result(result)
                submit_next()
        finally:
            self._close()
        return [results[i] for i in range(len(jobs))]


class LocalDaskRunner(_DaskRunner):
    """A ``distributed.LocalCluster`` of worker processes, one extraction each.

    Parameters
    ----------
    n_workers : int
        Worker processes (sessions run at once).
    threads : int
        ``workers`` threads given to each extraction (when its config leaves it 0).
    memory_limit : str or int
        Per-worker memory limit (Dask's ``"auto"`` shares the machine's memory).
    """

    name = "local-dask"
    task = staticmethod(run_local_job)

    def __init__(self, n_workers: int, threads: int = 1, memory_limit: str | int = "auto"):
        self.n_workers = int(n_workers)
        self.threads = int(threads)
        self.memory_limit = memory_limit
        self._cluster = None
        self._client_obj = None

    def _client(self):
        import dask
        from distributed import Client, LocalCluster

        # worker processes that are not daemonic may start their own worker processes
        # (an extraction with ``workers`` > 1); the nannies read this when they start one
        with dask.config.set({"distributed.worker.daemon": False}):
            self._cluster = LocalCluster(n_workers=self.n_workers, threads_per_worker=1,
                                         processes=True, memory_limit=self.memory_limit,
                                         dashboard_address=":0", silence_logs=logging.ERROR)
        self._client_obj = Client(self._cluster)
        return self._client_obj

    def describe(self) -> str:
        return (f"local Dask cluster: {self.n_workers} worker process(es) x "
                f"{self.threads} thread(s)")


class AddressRunner(_DaskRunner):
    """Use the workers of an existing Dask scheduler (``--scheduler-address``)."""

    name = "scheduler"

    def __init__(self, address: str, threads: int | None = None):
        self.address = address
        self.threads = threads
        self._client_obj = None

    def _client(self):
        from distributed import Client

        self._client_obj = Client(self.address)
        return self._client_obj

    def describe(self) -> str:
        return f"Dask scheduler at {self.address}"


def make_slurm_cluster(config: Mapping[str, Any], **overrides: Any):
    """A ``dask_jobqueue.SLURMCluster`` from the batch parameters (nothing is submitted).

    Uses ``partition`` (queue), ``ncpus`` (cores of each job), ``memory``, ``wall_time``,
    ``job_extra_directives`` (extra ``#SBATCH`` lines), ``prefix`` (a shell line run before
    the worker starts, e.g. environment activation) and ``slurm_log_directory``.  Each job
    runs one worker process that takes one session at a time (Dask resource
    ``extract=1``) and gives it all the job's cores.

    Parameters
    ----------
    config : mapping
        Batch parameters (a :class:`~moseq2_extract.config.Config` or dict).
    **overrides
        Passed to ``SLURMCluster`` over the derived arguments.
    """
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError:
        raise ConfigError("--cluster-type slurm needs dask-jobqueue: pip install "
                          "dask-jobqueue") from None
    cores = max(1, int(config.get("ncpus") or 1))
    directives = []
    for d in config.get("job_extra_directives") or []:
        d = str(d).strip()
        if d:
            directives.append(d if d.startswith("-") else f"--{d}")
    prologue = [str(config["prefix"]).strip().rstrip(";")] if config.get("prefix") else []
    # a daemonic worker could not start the extraction's own worker processes
    prologue.append("export DASK_DISTRIBUTED__WORKER__DAEMON=False")
    kwargs: dict[str, Any] = {
        "queue": str(config.get("partition") or "short"),
        "cores": cores,
        "processes": 1,
        "memory": str(config.get("memory") or "5GB"),
        "walltime": str(config.get("wall_time") or "3:00:00"),
        "job_name": "moseq2-extract",
        "job_extra_directives": directives,
        "job_script_prologue": prologue,
        "worker_extra_args": ["--resources", "extract=1"],
        "python": sys.executable,
        "scheduler_options": {"dashboard_address": ":0"},
    }
    if config.get("slurm_log_directory"):
        kwargs["log_directory"] = str(config["slurm_log_directory"])
    kwargs.update(overrides)
    return SLURMCluster(**kwargs)


class SlurmDaskRunner(_DaskRunner):
    """Run sessions on SLURM jobs started by ``dask_jobqueue.SLURMCluster``.

    Parameters
    ----------
    config : mapping
        Batch parameters (see :func:`make_slurm_cluster`).
    max_jobs : int
        SLURM jobs requested at once (0: one per session).
    """

    name = "slurm"
    resources = {"extract": 1}

    def __init__(self, config: Mapping[str, Any], max_jobs: int = 0, **cluster_kwargs: Any):
        self.config = dict(config)
        self.max_jobs = int(max_jobs)
        self.threads = max(1, int(self.config.get("ncpus") or 1))
        self.cluster_kwargs = cluster_kwargs
        self._cluster = None
        self._client_obj = None

    def _client(self):
        from distributed import Client

        self._cluster = make_slurm_cluster(self.config, **self.cluster_kwargs)
        self._client_obj = Client(self._cluster)
        return self._client_obj

    def _n_slurm_jobs(self, n_jobs: int) -> int:
        return n_jobs if self.max_jobs <= 0 else min(self.max_jobs, n_jobs)

    def _preflight(self) -> None:
        """``sbatch --test-only`` on the job script: a submission SLURM would refuse (unknown
        partition, more memory or time than allowed, ...) fails here, at once, with
        SLURM's own message, instead of leaving the batch waiting for workers."""
        import subprocess
        import tempfile

        with tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False) as fh:
            fh.write(self._cluster.job_script())
            script = fh.name
        try:
            proc = subprocess.run(["sbatch", "--test-only", script], capture_output=True,
                                  text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise SubmissionError(f"cannot run sbatch: {err}") from None
        finally:
            os.unlink(script)
        if proc.returncode != 0:
            lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines()
                     if ln.strip()]
            reason = next((ln for ln in lines if "error" in ln.lower()),
                          lines[0] if lines else f"exit status {proc.returncode}")
            raise SubmissionError(f"SLURM would refuse the jobs: {reason}")

    def _prepare(self, client, n_jobs: int) -> None:
        jobs = self._n_slurm_jobs(n_jobs)
        self._preflight()
        logger.info("submitting %d SLURM job(s)", jobs)
        self._cluster.scale(jobs=jobs)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # wait until sbatch has answered for each job
            started = list(self._cluster.workers.values())
            if len(started) >= jobs:
                if not any(getattr(w, "job_id", None) for w in started):
                    raise SubmissionError("SLURM refused every job submission (see the "
                                          "error above)")
                return
            time.sleep(0.2)

    def _slots(self, client, n_jobs: int) -> int:
        return self._n_slurm_jobs(n_jobs)

    def describe(self) -> str:
        c = self.config
        return (f"SLURM via dask-jobqueue: partition {c.get('partition')}, "
                f"{max(1, int(c.get('ncpus') or 1))} core(s), {c.get('memory')}, "
                f"{c.get('wall_time')} per job")


def require_dask(*, slurm: bool = False) -> None:
    """Check that Dask (and dask-jobqueue for SLURM) can be imported.

    They are dependencies of moseq2-extract; a broken or partial install gives one line
    saying what to install instead of a traceback in the middle of a batch.

    Raises
    ------
    ConfigError
        Naming the missing module.
    """
    import importlib

    for module in ("dask", "distributed") + (("dask_jobqueue",) if slurm else ()):
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise ConfigError(f"batch work needs {module.replace('_', '-')}, which cannot be "
                              f"imported ({err}); reinstall moseq2-extract or run "
                              f"'pip install {module.replace('_', '-')}', or use "
                              "--local-workers 1 to run the sessions one after the other"
                              ) from None


def make_runner(config: Config | Mapping[str, Any], n_jobs: int, *,
                plan: BatchPlan | None = None):
    """The runner the batch parameters ask for.

    * ``scheduler_address`` set: :class:`AddressRunner`;
    * ``cluster_type: slurm``: :class:`SlurmDaskRunner`;
    * otherwise the local machine, as ``plan`` says (default: :func:`plan_batch` for
      ``n_jobs`` sessions of unknown length): :class:`InProcessRunner` (one session at a
      time), :class:`LocalProcessRunner` (several, in session processes) or
      :class:`LocalDaskRunner` (``local_workers`` > 1).

    Extractions whose ``workers`` is 0 get the plan's workers.
    """
    get = config.get
    slurm = str(get("cluster_type") or "local") == "slurm"
    if plan is None and not (get("scheduler_address") or slurm):
        plan = plan_batch(n_jobs, requested_sessions=int(get("local_workers") or 0),
                          requested_workers=int(get("workers") or 0))
    if get("scheduler_address") or slurm or (plan is not None and plan.runner == "dask"):
        require_dask(slurm=slurm)
    if get("scheduler_address"):
        return AddressRunner(str(get("scheduler_address")),
                             threads=int(get("workers") or 0) or None)
    if slurm:
        return SlurmDaskRunner(config, max_jobs=int(get("slurm_jobs") or 0))
    assert plan is not None
    if plan.runner == "dask":
        return LocalDaskRunner(plan.sessions_at_once, threads=plan.workers)
    if plan.runner == "processes":
        return LocalProcessRunner(plan.sessions_at_once, threads=plan.workers,
                                  tail_threads=plan.tail_workers)
    return InProcessRunner(threads=plan.workers)
