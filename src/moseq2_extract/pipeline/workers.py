"""Where blocks and movie segments run: a standard process pool, or threads of this process.

The per-frame work is many short OpenCV / numpy calls, so threads of one process spend much
of their time waiting for each other's interpreter lock (two threads extract frames barely
faster than one).  With ``workers > 1`` blocks therefore run in a
:class:`concurrent.futures.ProcessPoolExecutor`: each worker process installs a pickled copy
of the session's :class:`~.blocks.BlockExtractor` once (it reopens the file), and each task
carries two frame numbers and returns a small :class:`~moseq2_extract.extract.chunk.FrameBlock`.
The preview movie's segments are encoded on the same executor, queued behind at most a few
blocks (the scheduler keeps only ``workers + 1`` blocks in flight).

Threads of this process are used instead with ``workers`` 1, for a sequential ``.tar.gz``
stream (which cannot be read by several processes; it is read on one thread, in block
order, and extracted on the others), and where no process can start (inside a daemonic
process, e.g. a Dask worker with ``distributed.worker.daemon: True``).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import warnings
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np

from ..errors import WorkerProcessError
from ..extract.chunk import FrameBlock
from .blocks import BlockExtractor

logger = logging.getLogger(__name__)

_EXTRACTOR: BlockExtractor | None = None  # in a worker process: the session it serves


def start_method() -> str:
    """``fork`` on Linux (a copy of this process, every module already imported, starts at
    once), ``spawn`` elsewhere (macOS system libraries do not survive a fork)."""
    return "fork" if sys.platform.startswith("linux") else "spawn"


@contextlib.contextmanager
def opencv_threads(count: int) -> Iterator[None]:
    """Let OpenCV use ``count`` threads of its own inside the block (restored after)."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def _init_worker(payload: bytes) -> None:
    """First thing a worker process does: leave Ctrl-C to the parent (it reaches the whole
    process group), keep OpenCV to this one thread, import what movie segments need, and
    install the session's extractor (unpickling it reopens the file)."""
    global _EXTRACTOR
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import cv2

    from ..output import movie  # noqa: F401 - imported for its import cost only

    cv2.setNumThreads(1)
    _EXTRACTOR = pickle.loads(payload)


def _extract_in_worker(a: int, b: int) -> FrameBlock:
    if _EXTRACTOR is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("no block extractor installed in this worker process")
    return _EXTRACTOR.extract(a, b)


def _why_no_processes(count: int, extractor: BlockExtractor) -> str | None:
    """Why blocks must run on threads here (None: worker processes can be used)."""
    if count <= 1:
        return "one worker"
    if extractor.reader.kind == "tar":
        return "a .tar.gz stream is read in order by one reader"
    if multiprocessing.current_process().daemon:
        return "this is a daemonic process, which may not start processes"
    return None


class Workers:
    """The executor that blocks and movie segments share, and how a block is submitted.

    Use :func:`open_workers`.

    Attributes
    ----------
    executor : Executor
        Runs blocks and movie segments (picklable tasks when ``processes``).
    count : int
        Worker processes or threads.
    processes : bool
        Whether the executor is a process pool.
    """

    def __init__(self, executor: Executor, extractor: BlockExtractor, *, count: int,
                 processes: bool, sequential_reads: bool = False):
        self.executor = executor
        self.extractor = extractor
        self.count = count
        self.processes = processes
        self._reads = (ThreadPoolExecutor(1, thread_name_prefix="read")
                       if sequential_reads else None)

    def submit_block(self, a: int, b: int) -> Future[FrameBlock]:
        """Start extracting frames ``a .. b - 1``; blocks must be submitted in order."""
        if self.processes:
            return self.executor.submit(_extract_in_worker, a, b)
        if self._reads is None:
            return self.executor.submit(self.extractor.extract, a, b)
        # one thread reads, in submission (= block) order; the workers extract
        lo, hi = self.extractor.span(a, b)
        read = self._reads.submit(self.extractor.read, lo, hi, reuse_buffer=False)
        return self.executor.submit(self._extract_when_read, read, a, b)

    def _extract_when_read(self, read: Future[np.ndarray], a: int, b: int) -> FrameBlock:
        return self.extractor.extract_read(read.result(), a, b)

    def shutdown(self, *, cancel: bool) -> None:
        """Stop the workers (after the tasks already running; queued ones are dropped
        when ``cancel``)."""
        if self._reads is not None:
            self._reads.shutdown(wait=True, cancel_futures=cancel)
        self.executor.shutdown(wait=True, cancel_futures=cancel)


def _process_pool(count: int, extractor: BlockExtractor) -> ProcessPoolExecutor | None:
    """A started process pool of ``count`` workers serving ``extractor``, or None (with a
    log message) where processes cannot start."""
    context = multiprocessing.get_context(start_method())
    try:
        pool = ProcessPoolExecutor(count, mp_context=context, initializer=_init_worker,
                                   initargs=(pickle.dumps(extractor),))
        # OpenCV's thread pool is stopped while the workers are forked (a forked copy of
        # it would wait forever for threads that do not exist)
        with warnings.catch_warnings(), opencv_threads(1):
            # Python 3.12+ warns about forking a process that has threads: the children
            # only run the worker loop, which takes none of their locks
            warnings.simplefilter("ignore", DeprecationWarning)
            pool.submit(os.getpid)  # start the workers now, before other threads get busy
    except OSError as err:
        logger.info("worker processes unavailable (%s); using threads", err)
        return None
    return pool


@contextlib.contextmanager
def open_workers(count: int, extractor: BlockExtractor) -> Iterator[Workers]:
    """Workers for one session's blocks: ``count`` processes where they can start, else
    ``count`` threads.  Leaving the block on an exception drops queued tasks; a worker
    process that dies turns into one :class:`~moseq2_extract.errors.WorkerProcessError`.
    """
    reason = _why_no_processes(count, extractor)
    pool = _process_pool(count, extractor) if reason is None else None
    if pool is not None:
        workers = Workers(pool, extractor, count=count, processes=True)
    else:
        if reason is not None and count > 1:
            logger.info("extracting on %d threads: %s", count, reason)
        count = max(1, count)
        workers = Workers(ThreadPoolExecutor(count, thread_name_prefix="extract"),
                          extractor, count=count, processes=False,
                          sequential_reads=extractor.reader.kind == "tar")
    try:
        yield workers
    except BrokenProcessPool as err:
        workers.shutdown(cancel=True)
        raise WorkerProcessError(
            f"{extractor.reader.path}: a worker process stopped unexpectedly (killed, or "
            "out of memory?); nothing was kept") from err
    except BaseException:
        workers.shutdown(cancel=True)
        raise
    workers.shutdown(cancel=False)
