"""The batch layer: many sessions at once.

* :mod:`.discovery` -- find sessions under a folder and whether they are complete;
* :mod:`.jobs` -- picklable extraction jobs, :func:`~.jobs.run_job`, SLURM command lines,
  lossless conversion;
* :mod:`.runners` -- run jobs in-process, on a local Dask cluster, on SLURM through
  dask-jobqueue, or on an existing Dask scheduler;
* :mod:`.aggregate` and :mod:`.index` -- ``aggregate-results`` and ``moseq2-index.yaml``.

Nothing here imports Dask until a Dask runner is used.
"""

from __future__ import annotations

from .discovery import FoundSession, find_sessions
from .jobs import ExtractJob, JobResult, plan_jobs, run_job, summary_table
from .runners import make_runner

__all__ = [
    "ExtractJob",
    "FoundSession",
    "JobResult",
    "find_sessions",
    "make_runner",
    "plan_jobs",
    "run_job",
    "summary_table",
]
