"""Choosing how a batch runs on this machine: how many sessions at a time, how many
workers each (:func:`plan_batch`), the size of a local Dask cluster
(:func:`plan_local_cluster`), from the cores, the available memory and the sessions'
count and estimated lengths (:func:`estimate_frames`).  Pure decisions: the runners that
carry them out are in :mod:`.runners`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..pipeline.plan import available_cores

SESSION_MEMORY = 1.5e9
"""Memory (bytes) budgeted per concurrent extraction when sizing a local Dask cluster."""

SESSION_PROCESS_MEMORY = 0.3e9
WORKER_MEMORY = 0.1e9
"""Memory (bytes) the automatic plan budgets per session at once: ``SESSION_PROCESS_MEMORY``
plus ``WORKER_MEMORY`` per worker (an extraction with two workers peaks at about 270 MB,
shared pages counted once; docs/performance.md)."""

MAX_SESSION_WORKERS = 8
"""Workers one session is given at most by the automatic plan; more cores run more
sessions at once (one session's own thread, which links and writes its blocks in order,
would otherwise become its limit)."""

SMALL_MACHINE_CORES = 4
"""Up to this many cores the automatic plan runs one session per core (one more for short
sessions), each with one worker, a thread of the session's own process: 20-25 % less CPU
per frame than worker processes, which must send every block's results back (measured on
2 cores, docs/performance.md).  The last session of the batch gets every core."""

LONG_SESSION_FRAMES = 18000
"""Sessions at least this long (10 minutes at 30 frames/s) are run one at a time on a
machine that one session fills: their fixed costs (about a second) are under 3 % of their
run, less than a second session at once would cost in memory."""

__all__ = [
    "LONG_SESSION_FRAMES",
    "MAX_SESSION_WORKERS",
    "SESSION_MEMORY",
    "SESSION_PROCESS_MEMORY",
    "SMALL_MACHINE_CORES",
    "WORKER_MEMORY",
    "BatchPlan",
    "estimate_frames",
    "plan_batch",
    "plan_local_cluster",
]


def _available_memory() -> int | None:
    """Memory available to new processes, in bytes: Linux's ``MemAvailable`` (free memory
    plus the page cache it can reclaim), else the free physical memory."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
        return int(pages * size)
    except (ValueError, OSError, AttributeError):
        return None


def plan_local_cluster(n_jobs: int, *, requested: int = 0, cores: int | None = None,
                       memory: int | None = None, session_memory: float = SESSION_MEMORY
                       ) -> tuple[int, int]:
    """Size a local cluster: ``(worker processes, threads per extraction)``.

    Parameters
    ----------
    n_jobs : int
        Sessions to run.
    requested : int
        ``local_workers`` (0 = automatic).
    cores : int, optional
        Usable cores (default: this process's CPU affinity).
    memory : int, optional
        Available memory in bytes (default: free physical memory).
    session_memory : float
        Bytes budgeted per concurrent extraction.

    Returns
    -------
    (int, int)
        Workers (one extraction each, never more than ``n_jobs``) and the extraction's
        ``workers`` threads, so that workers x threads is about the core count.
    """
    cores = cores or available_cores()
    if requested > 0:
        n = requested
    else:
        n = cores
        if memory is None:
            memory = _available_memory()
        if memory:
            n = min(n, max(1, int(memory // session_memory)))
    n = max(1, min(n, max(1, n_jobs)))
    threads = max(1, cores // n)
    return n, threads


@dataclass(frozen=True)
class BatchPlan:
    """How a batch runs on this machine.

    Attributes
    ----------
    runner : str
        ``'in-process'`` (one session after the other in this process), ``'processes'``
        (sessions in processes forked from this one, several at a time) or ``'dask'`` (a
        local Dask cluster).
    sessions_at_once : int
    workers : int
        Worker processes of each extraction whose config leaves ``workers`` at 0.
    cores, n_sessions : int
        What the plan was made for.
    reason : str
        Why, in a few words.
    tail_workers : int
        Workers of the batch's last session (0: ``workers``): it runs alone at the end.
    """

    runner: str
    sessions_at_once: int
    workers: int
    cores: int
    n_sessions: int
    reason: str = ""
    tail_workers: int = 0

    def describe(self) -> str:
        """One line, e.g. ``Plan: 2 sessions at a time x 2 workers each, session processes
        (2 cores, 8 sessions; ...)``."""
        s = "session" if self.sessions_at_once == 1 else "sessions"
        w = "worker" if self.workers == 1 else "workers"
        where = {"in-process": "in this process", "processes": "session processes",
                 "dask": "local Dask cluster"}[self.runner]
        why = f"; {self.reason}" if self.reason else ""
        tail = (f" (the last with {self.tail_workers})"
                if self.tail_workers > self.workers else "")
        return (f"Plan: {self.sessions_at_once} {s} at a time x {self.workers} {w} each{tail}, "
                f"{where} ({self.cores} cores, {self.n_sessions} sessions{why})")


def plan_batch(n_sessions: int, *, frames: Sequence[int] = (), cores: int | None = None,
               memory: int | None = None, requested_sessions: int = 0,
               requested_workers: int = 0, session_memory: float | None = None
               ) -> BatchPlan:
    """Choose how to run ``n_sessions`` sessions here.

    One session's extraction keeps every core busy only while its blocks run: its start,
    background, ROI and end (about a second) are single-threaded.  So sessions overlap:

    * up to :data:`SMALL_MACHINE_CORES` cores, one session per core runs at once (one more
      for short sessions, whose single-threaded stages are a larger part of their run),
      each with one worker (no worker processes: less CPU per frame), and the batch's
      last session with every core;
    * on more cores, sessions with at most :data:`MAX_SESSION_WORKERS` workers fill the
      cores, and short sessions run one more at a time (while one is in a single-threaded
      stage, the others' workers use the idle cores; when all extract, the operating
      system shares the cores between them).

    Memory bounds the sessions at once.

    Parameters
    ----------
    n_sessions : int
        Sessions to extract.
    frames : sequence of int
        Their lengths in frames (estimates; empty when unknown: taken as short).
    cores : int, optional
        Usable cores (default: this process's CPU affinity).
    memory : int, optional
        Available memory in bytes (default: free physical memory).
    requested_sessions : int
        ``local_workers``: 0 = automatic; 1 = one at a time in this process; more = that
        many at once on a local Dask cluster, as asked.
    requested_workers : int
        ``workers`` of each extraction (0 = from the plan).
    session_memory : float, optional
        Bytes budgeted per session at once (default: :data:`SESSION_PROCESS_MEMORY` plus
        :data:`WORKER_MEMORY` per worker; :data:`SESSION_MEMORY` for a Dask cluster).

    Returns
    -------
    BatchPlan
    """
    cores = max(1, cores or available_cores())
    n = max(0, int(n_sessions))
    if requested_sessions > 1:  # the user's cluster size, as before
        at_once, threads = plan_local_cluster(n, requested=requested_sessions, cores=cores,
                                              memory=memory,
                                              session_memory=session_memory or SESSION_MEMORY)
        return BatchPlan("dask", at_once, requested_workers or threads, cores, n,
                         "--local-workers")
    if requested_sessions == 1 or n <= 1:
        return BatchPlan("in-process", 1, requested_workers or cores, cores, n,
                         "--local-workers 1" if requested_sessions == 1 else "one session")
    small = cores <= SMALL_MACHINE_CORES and not requested_workers
    # sessions that fill the cores: one per core on a small machine, else each with at
    # most MAX_SESSION_WORKERS
    fill = cores if small else -(-cores // (requested_workers or MAX_SESSION_WORKERS))
    if memory is None:
        memory = _available_memory()
    per_session = session_memory or (SESSION_PROCESS_MEMORY + WORKER_MEMORY * -(-cores // fill))
    memory_cap = max(1, int(memory // per_session)) if memory else n
    lengths = sorted(int(f) for f in frames if f and f > 0)
    short = not lengths or lengths[len(lengths) // 2] < LONG_SESSION_FRAMES
    reasons = []
    at_once = fill
    if cores >= 2 and short:
        at_once += 1  # one more, to fill the cores a session leaves idle at its ends
        reasons.append("short sessions overlap their single-threaded stages")
    elif cores >= 2:
        reasons.append("long sessions: one fills the cores")
    if at_once > memory_cap:
        reasons.append(f"memory for {memory_cap}")
    at_once = max(1, min(at_once, memory_cap, n))
    # the cores shared evenly between the sessions that fill them
    workers = requested_workers or -(-cores // min(fill, at_once))
    if at_once == 1:
        return BatchPlan("in-process", 1, cores if small else workers, cores, n,
                         "; ".join(reasons))
    return BatchPlan("processes", at_once, workers, cores, n, "; ".join(reasons),
                     tail_workers=cores if small and workers < cores else 0)


def estimate_frames(path: str | os.PathLike) -> int:
    """A session's length in frames, estimated from its file size without opening it
    (0 when unknown): raw ``.dat`` at 512 x 424 x 2 bytes a frame, compressed video and
    archives at about a third of that."""
    try:
        size = Path(path).stat().st_size
    except OSError:
        return 0
    frame_bytes = 512 * 424 * 2
    return int(size // frame_bytes if str(path).lower().endswith(".dat")
               else 3 * size // frame_bytes)
