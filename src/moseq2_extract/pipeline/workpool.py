"""Worker pools with two priorities: threads, or worker processes.

The extraction pipeline runs two kinds of tasks on the same workers: blocks of frames to
extract, and preview-movie segments to encode.  Movie segments can only start once the
heading of their frames is decided (hundreds of frames after they were extracted), so if
they queued behind extraction work the movie would fall behind and be finished alone, on
fewer cores, after everything else.  Running them first whenever one is waiting keeps the
movie caught up and both kinds of work spread over the whole run.

The per-frame work is many short OpenCV / numpy calls, so threads of one process spend
much of their time waiting for each other's interpreter lock (two threads extract frames
barely faster than one).  :class:`ProcessWorkerPool` runs tasks in worker processes
instead, each with its own interpreter: tasks and results travel pickled over pipes, so
they should be small (a block of crops, not a stack of full frames).
"""

from __future__ import annotations

import abc
import contextlib
import heapq
import itertools
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Executor, Future
from multiprocessing.connection import Connection, wait
from typing import Any

from ..errors import WorkerProcessError
from .worker_main import serve

logger = logging.getLogger(__name__)

URGENT, NORMAL = 0, 1
_STOP = 2  # sorts after every task: workers stop once the queue is drained


class _PriorityExecutor(Executor, abc.ABC):
    """Executor with two priorities: :meth:`submit` (normal), :meth:`submit_urgent`, and
    :attr:`urgent`, an executor view that submits urgently.  Leaving a ``with`` block on
    an exception cancels the tasks still queued."""

    @abc.abstractmethod
    def _put(self, priority: int, fn: Callable, args: tuple, kwargs: dict) -> Future:
        """Queue one task with ``priority`` (lower runs first); return its future."""

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        """Queue ``fn(*args, **kwargs)`` with normal priority."""
        return self._put(NORMAL, fn, args, kwargs)

    def submit_urgent(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        """Queue ``fn(*args, **kwargs)`` ahead of every normal task."""
        return self._put(URGENT, fn, args, kwargs)

    @property
    def urgent(self) -> Executor:
        return _Urgent(self)

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.shutdown(wait=True, cancel_futures=exc_type is not None)
        return False


class PriorityThreadPool(_PriorityExecutor):
    """``concurrent.futures`` executor running urgent tasks before normal ones.

    Tasks of the same priority run in submission order.

    Parameters
    ----------
    workers : int
        Number of threads.
    name : str
        Prefix of the threads' names.
    """

    def __init__(self, workers: int, name: str = "worker"):
        self.workers = max(1, int(workers))
        self._queue: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._lock = threading.Lock()
        self._shutdown = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True)
                         for i in range(self.workers)]
        for thread in self._threads:
            thread.start()

    def _put(self, priority: int, fn: Callable, args: tuple, kwargs: dict) -> Future:
        future: Future = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to a pool that was shut down")
            self._queue.put((priority, next(self._order), future, fn, args, kwargs))
        return future

    def _work(self) -> None:
        while True:
            _, _, future, fn, args, kwargs = self._queue.get()
            if fn is None:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = fn(*args, **kwargs)
            except BaseException as err:  # handed to whoever waits for the future
                future.set_exception(err)
            else:
                future.set_result(result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting tasks; run (or with ``cancel_futures``, cancel) the queued ones."""
        with self._lock:
            if not self._shutdown:
                self._shutdown = True
                if cancel_futures:
                    while True:
                        try:
                            item = self._queue.get_nowait()
                        except queue.Empty:
                            break
                        item[2].cancel()
                for _ in self._threads:
                    self._queue.put((_STOP, next(self._order), None, None, (), {}))
        if wait:
            for thread in self._threads:
                thread.join()


class _Urgent(Executor):
    """The urgent side of a priority pool as an executor of its own."""

    def __init__(self, pool: _PriorityExecutor):
        self._pool = pool

    def submit(self, fn: Callable, /, *args: Any, **kwargs: Any) -> Future:
        return self._pool.submit_urgent(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """The pool belongs to its owner: nothing to do here."""


def default_start_method() -> str:
    """``fork`` on Linux, ``spawn`` elsewhere (macOS system libraries do not survive a
    fork)."""
    return "fork" if sys.platform.startswith("linux") else "spawn"


class _ForkedWorker:
    """A worker forked from this process (the ``Popen`` methods the pool uses)."""

    def __init__(self, read_fd: int, write_fd: int):
        with warnings.catch_warnings():
            # Python 3.12+ warns about forking a process that has threads; the child only
            # runs the worker loop below, which takes none of their locks
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: serve, then leave without running any caller code
            code = 1
            try:
                keep = sorted((read_fd, write_fd))
                os.closerange(3, keep[0])
                os.closerange(keep[0] + 1, keep[1])
                os.closerange(keep[1] + 1, _max_fd())
                serve(read_fd, write_fd)
                code = 0
            finally:
                os._exit(code)
        self.pid = pid
        self.returncode: int | None = None
        self._lock = threading.Lock()

    def poll(self) -> int | None:
        with self._lock:
            if self.returncode is None:
                try:
                    pid, status = os.waitpid(self.pid, os.WNOHANG)
                except ChildProcessError:  # reaped elsewhere: gone, status unknown
                    self.returncode = 0
                else:
                    if pid:
                        self.returncode = os.waitstatus_to_exitcode(status)
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"worker {self.pid}", timeout)
            time.sleep(0.005)
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


def _max_fd() -> int:
    try:
        return min(os.sysconf("SC_OPEN_MAX"), 1 << 20)
    except (ValueError, OSError):  # pragma: no cover
        return 1 << 16


def start_worker_processes(workers: int, *, initializer: Callable | None = None,
                           initargs: tuple = ()) -> ProcessWorkerPool | None:
    """A :class:`ProcessWorkerPool`, or None (with a log message) where none can start."""
    try:
        return ProcessWorkerPool(workers, initializer=initializer, initargs=initargs)
    except OSError as err:
        logger.info("worker processes unavailable (%s); using threads", err)
        return None


class ProcessWorkerPool(_PriorityExecutor):
    """Executor running picklable tasks in worker processes, urgent ones first.

    Each worker runs one task at a time; a task waits in the parent until a worker is idle,
    so an urgent task submitted later still starts before normal tasks queued earlier.
    Workers are connected by two pipes each and started without ``multiprocessing``, so
    they can be started from daemonic processes (Dask workers) and never re-import the
    parent's ``__main__``.

    Parameters
    ----------
    workers : int
        Number of worker processes.
    initializer : callable, optional
        Picklable function each worker runs first, with ``initargs`` (e.g. to import what
        later tasks need while the parent is still busy).
    start_method : {"fork", "spawn"}, optional
        ``fork`` (Linux default): a copy of this process that already has every module
        imported starts at once; it closes every inherited file except its two pipes and
        never returns into the caller's code.  ``spawn``: a fresh ``python -c`` child,
        which has to import numpy, OpenCV and PyAV first (about half a second of CPU).

    Raises
    ------
    OSError
        If worker processes cannot be started on this platform.
    """

    def __init__(self, workers: int, *, initializer: Callable | None = None,
                 initargs: tuple = (), start_method: str | None = None):
        if os.name != "posix":
            raise OSError("worker processes need POSIX pipes")
        self.workers = max(1, int(workers))
        self.start_method = start_method or default_start_method()
        if self.start_method not in ("fork", "spawn"):
            raise ValueError(f"start_method must be 'fork' or 'spawn', got {start_method!r}")
        self._lock = threading.Lock()
        self._idle_cv = threading.Condition(self._lock)
        self._heap: list = []
        self._order = itertools.count()
        self._running: dict[int, Future] = {}  # worker -> future of its task
        self._idle: list[int] = []
        self._broken: str | None = None
        self._shutdown = False
        self._stopping = False  # workers were told to exit
        self._procs: list[Any] = []  # subprocess.Popen or _ForkedWorker
        self._tx: list[Connection] = []
        self._rx: list[Connection] = []
        try:
            for _ in range(self.workers):
                self._start_worker()
        except BaseException:
            self._kill_all()
            raise
        wake_r, wake_w = os.pipe()
        self._wake_rx = Connection(wake_r, writable=False)
        self._wake_tx = Connection(wake_w, readable=False)
        self._dispatcher = threading.Thread(target=self._dispatch_results,
                                            name="worker-results", daemon=True)
        self._dispatcher.start()
        with self._lock:
            for w in range(self.workers):
                if initializer is None:
                    self._idle.append(w)
                else:
                    self._send(w, Future(), initializer, tuple(initargs), {})

    def _start_worker(self) -> None:
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        if self.start_method == "fork":
            proc: Any = _ForkedWorker(to_child_r, from_child_w)
        else:
            proc = self._spawn(to_child_r, to_child_w, from_child_r, from_child_w)
        os.close(to_child_r)
        os.close(from_child_w)
        self._procs.append(proc)
        self._tx.append(Connection(to_child_w, readable=False))
        self._rx.append(Connection(from_child_r, writable=False))

    @staticmethod
    def _spawn(to_child_r: int, to_child_w: int, from_child_r: int, from_child_w: int
               ) -> subprocess.Popen:
        paths = [p for p in sys.path if p]
        boot = (f"import sys; sys.path[:0] = {paths!r}; "
                f"from moseq2_extract.pipeline.worker_main import serve; "
                f"serve({to_child_r}, {from_child_w})")
        # one thread of BLAS each: the parallelism is the workers themselves
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "MKL_NUM_THREADS": "1"}
        try:
            proc = subprocess.Popen([sys.executable, "-c", boot], env=env,
                                    pass_fds=(to_child_r, from_child_w), close_fds=True)
        except BaseException:
            for fd in (to_child_r, to_child_w, from_child_r, from_child_w):
                os.close(fd)
            raise
        return proc

    # -- submitting ------------------------------------------------------------------

    def _put(self, priority: int, fn: Callable, args: tuple, kwargs: dict) -> Future:
        future: Future = Future()
        with self._lock:
            if self._shutdown:
                raise RuntimeError("cannot submit to a pool that was shut down")
            if self._broken is not None:
                raise WorkerProcessError(self._broken)
            heapq.heappush(self._heap, (priority, next(self._order), future, fn, args, kwargs))
            self._dispatch_locked()
        return future

    def _send(self, worker: int, future: Future, fn, args, kwargs) -> None:
        task_id = next(self._order)
        try:
            self._tx[worker].send((task_id, fn, args, kwargs))
        except Exception as err:  # unpicklable task, or a dead worker
            future.set_exception(err)
            self._idle.append(worker)
            return
        self._running[worker] = future

    def _dispatch_locked(self) -> None:
        while self._idle and self._heap:
            _, _, future, fn, args, kwargs = heapq.heappop(self._heap)
            if not future.set_running_or_notify_cancel():
                continue
            self._send(self._idle.pop(), future, fn, args, kwargs)
        self._idle_cv.notify_all()

    # -- results ---------------------------------------------------------------------

    def _dispatch_results(self) -> None:
        while True:
            with self._lock:
                live = [conn for conn in self._rx if conn is not None]
            if not live:
                return
            for conn in wait([*live, self._wake_rx]):
                if conn is self._wake_rx:
                    with contextlib.suppress(EOFError, OSError):
                        conn.recv_bytes()
                    continue
                worker = self._rx.index(conn)
                try:
                    status, _, value = conn.recv()
                except (EOFError, OSError):
                    self._worker_gone(worker)
                    continue
                except Exception as err:  # a result that cannot be unpickled here
                    status, value = "err", RuntimeError(f"worker result unreadable: {err}")
                with self._lock:
                    future = self._running.pop(worker, None)
                    self._idle.append(worker)
                    self._dispatch_locked()
                if future is not None and not future.done():
                    if status == "ok":
                        future.set_result(value)
                    else:
                        future.set_exception(value)

    def _worker_gone(self, worker: int) -> None:
        """A worker's pipe closed: expected after shutdown, a failure before."""
        proc = self._procs[worker]
        with contextlib.suppress(Exception):
            proc.wait(timeout=1)
        with self._lock:
            self._rx[worker].close()
            self._rx[worker] = None
            if self._stopping:
                return
            message = (f"worker process {proc.pid} stopped unexpectedly (exit code "
                       f"{proc.returncode}{'; out of memory?' if proc.returncode == -9 else ''})")
            self._broken = self._broken or message
            running = self._running.pop(worker, None)
            queued = [item[2] for item in self._heap]
            self._heap.clear()
            self._idle_cv.notify_all()
        if running is not None and not running.done():
            running.set_exception(WorkerProcessError(message))
        for future in queued:
            if future.set_running_or_notify_cancel():
                future.set_exception(WorkerProcessError(message))

    # -- ending ----------------------------------------------------------------------

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop accepting tasks, finish (or cancel) the queued ones and stop the workers."""
        with self._lock:
            first = not self._shutdown
            self._shutdown = True
            if cancel_futures:
                while self._heap:
                    heapq.heappop(self._heap)[2].cancel()
            if wait:
                while (self._heap or self._running) and self._broken is None:
                    self._idle_cv.wait(timeout=1.0)
        if not first:
            return
        with self._lock:
            self._stopping = True
        for tx in self._tx:
            with contextlib.suppress(Exception):
                tx.send(None)
            tx.close()
        for proc in self._procs:
            try:
                proc.wait(timeout=10 if wait else 0.1)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(OSError):
            self._wake_tx.send_bytes(b"x")
        self._dispatcher.join(timeout=5)
        for rx in self._rx:
            if rx is not None:
                rx.close()
        self._wake_tx.close()
        self._wake_rx.close()

    def _kill_all(self) -> None:
        for proc in self._procs:
            with contextlib.suppress(Exception):
                proc.kill()
                proc.wait()
        for conn in (*self._tx, *self._rx):
            with contextlib.suppress(Exception):
                conn.close()

