"""Worker pools: results, errors, priorities, crashes, shutdown."""

from __future__ import annotations

import os
import threading
import time

import pytest

from moseq2_extract.pipeline.workpool import (
    PriorityThreadPool,
    ProcessWorkerPool,
    WorkerProcessError,
    default_start_method,
)

METHODS = ["fork", "spawn"] if default_start_method() == "fork" else ["spawn"]


def _set_env(key: str, value: str) -> None:
    os.environ[key] = value


def _get_env(key: str) -> str | None:
    return os.environ.get(key)


def _stamp(label: str, pause: float = 0.0) -> tuple[str, float]:
    time.sleep(pause)
    return label, time.monotonic()


def test_thread_pool_runs_urgent_tasks_first():
    gate = threading.Event()
    order: list[str] = []
    with PriorityThreadPool(1) as pool:
        blocker = pool.submit(gate.wait)
        normal = [pool.submit(order.append, f"n{i}") for i in range(3)]
        urgent = pool.urgent.submit(order.append, "u")
        gate.set()
        for f in (blocker, *normal, urgent):
            f.result(timeout=10)
    assert order == ["u", "n0", "n1", "n2"]


def test_thread_pool_errors_and_shutdown():
    pool = PriorityThreadPool(2)
    with pytest.raises(ZeroDivisionError):
        pool.submit(divmod, 1, 0).result(timeout=10)
    assert list(pool.map(abs, [-1, -2, 3])) == [1, 2, 3]
    pool.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(abs, 1)


def test_thread_pool_cancels_queued_tasks():
    gate, started = threading.Event(), threading.Event()

    def block() -> bool:
        started.set()
        return gate.wait()

    pool = PriorityThreadPool(1)
    blocker = pool.submit(block)
    queued = pool.submit(abs, -1)
    assert started.wait(10)
    threading.Timer(0.2, gate.set).start()
    pool.shutdown(wait=True, cancel_futures=True)
    assert blocker.result() is True and queued.cancelled()


@pytest.mark.parametrize("method", METHODS)
def test_process_pool_results_errors_and_map(method):
    with ProcessWorkerPool(2, start_method=method) as pool:
        assert [f.result(timeout=30) for f in [pool.submit(pow, 2, i) for i in range(8)]] \
            == [2 ** i for i in range(8)]
        with pytest.raises(ZeroDivisionError):
            pool.submit(divmod, 1, 0).result(timeout=30)
        with pytest.raises(Exception, match="pickle"):
            pool.submit(lambda: 1).result(timeout=30)
        assert sum(pool.map(abs, range(-20, 20))) == 400
        # each task really runs in another process
        pids = {pool.submit(os.getpid).result(timeout=30) for _ in range(6)}
        assert os.getpid() not in pids


@pytest.mark.parametrize("method", METHODS)
def test_process_pool_runs_urgent_tasks_first(method):
    with ProcessWorkerPool(1, start_method=method) as pool:
        busy = pool.submit(_stamp, "busy", 0.5)
        normal = [pool.submit(_stamp, f"n{i}") for i in range(3)]
        urgent = pool.submit_urgent(_stamp, "u")
        results = [f.result(timeout=30) for f in (busy, *normal, urgent)]
    order = [label for label, _ in sorted(results, key=lambda r: r[1])]
    assert order == ["busy", "u", "n0", "n1", "n2"]


@pytest.mark.parametrize("method", METHODS)
def test_process_pool_reports_a_dead_worker(method):
    pool = ProcessWorkerPool(2, start_method=method)
    try:
        with pytest.raises(WorkerProcessError, match="stopped unexpectedly"):
            pool.submit(os._exit, 3).result(timeout=30)
        with pytest.raises(WorkerProcessError):
            pool.submit(abs, 1)
    finally:
        pool.shutdown()


def test_process_pool_initializer_runs_first():
    with ProcessWorkerPool(1, initializer=_set_env,
                           initargs=("MOSEQ2_TEST_INIT", "yes")) as pool:
        assert pool.submit(_get_env, "MOSEQ2_TEST_INIT").result(timeout=30) == "yes"


def test_process_pool_stops_its_workers():
    pool = ProcessWorkerPool(2)
    pids = [proc.pid for proc in pool._procs]
    pool.submit(abs, 1).result(timeout=30)
    pool.shutdown()
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # already reaped: nothing left running
    with pytest.raises(RuntimeError, match="shut down"):
        pool.submit(abs, 1)
