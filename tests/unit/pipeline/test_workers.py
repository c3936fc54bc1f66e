"""Where blocks run: a standard process pool for seekable files, threads otherwise."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time

import numpy as np
import pytest

from moseq2_extract.errors import WorkerProcessError
from moseq2_extract.extract.chunk import ChunkParams
from moseq2_extract.io.session import load_session
from moseq2_extract.pipeline.blocks import BlockExtractor
from moseq2_extract.pipeline.workers import open_workers, start_method


def _extractor(reader, last: int) -> BlockExtractor:
    roi = np.ones(reader.frame_shape, bool)
    return BlockExtractor(reader, bbox=(0, reader.frame_shape[0], 0, reader.frame_shape[1]),
                          background=np.full(roi.shape, 670, np.float32), roi=roi,
                          params=ChunkParams(), first=0, last=last)


def _blocks(workers, n: int, step: int) -> list:
    futures = [workers.submit_block(a, min(n, a + step)) for a in range(0, n, step)]
    return [f.result(timeout=60) for f in futures]


@pytest.mark.parametrize(("fmt", "count", "processes"), [
    ("dat", 2, True), ("avi", 2, True), ("dat", 1, False), ("tar.gz", 3, False)])
def test_blocks_are_the_same_wherever_they_run(session_factory, fmt, count, processes):
    depth = session_factory(fmt, n_frames=120, seed=4)
    with load_session(depth).open_reader() as reader:
        alone = _extractor(reader, 120)
        expected = [alone.extract(a, min(120, a + 40)) for a in range(0, 120, 40)]
    with load_session(depth).open_reader() as reader:
        with open_workers(count, _extractor(reader, 120)) as workers:
            assert workers.processes is processes and workers.count == count
            got = _blocks(workers, 120, 40)
        if fmt == "tar.gz":  # read strictly in order by one reader, never reopened
            assert reader.open_count == 1
    assert sum(np.isfinite(b.measures.x).sum() for b in got) >= 110  # the mouse was found
    for a, b in zip(expected, got):
        for name in a.measures.row_fields():
            np.testing.assert_array_equal(getattr(a.measures, name),
                                          getattr(b.measures, name), err_msg=name)
        np.testing.assert_array_equal(a.box.dense(), b.box.dense())


def test_worker_processes_leave_ctrl_c_to_the_parent(session_factory):
    depth = session_factory("dat", n_frames=40, seed=1)
    with load_session(depth).open_reader() as reader, \
            open_workers(2, _extractor(reader, 40)) as workers:
        handler = workers.executor.submit(signal.getsignal, signal.SIGINT).result(timeout=60)
        pid = workers.executor.submit(os.getpid).result(timeout=60)
    assert handler == signal.SIG_IGN and pid != os.getpid()


def test_a_worker_that_dies_is_one_clear_error_within_seconds(session_factory):
    depth = session_factory("dat", n_frames=200, seed=2)
    t0 = time.monotonic()
    with pytest.raises(WorkerProcessError, match="worker process stopped unexpectedly"), \
            load_session(depth).open_reader() as reader, \
            open_workers(2, _extractor(reader, 200)) as workers:
        pid = workers.executor.submit(os.getpid).result(timeout=60)
        futures = [workers.submit_block(a, a + 40) for a in range(0, 200, 40)]
        os.kill(pid, signal.SIGKILL)
        for f in futures:
            f.result(timeout=60)
    assert time.monotonic() - t0 < 30  # not a hang


def test_a_failed_read_of_a_sequential_stream_stops_the_blocks_after_it(session_factory):
    """With a .tar.gz stream one thread reads every block in order: when one read fails,
    the blocks behind it fail too instead of waiting for their turn forever."""
    depth = session_factory("tar.gz", n_frames=160, seed=3)
    with load_session(depth).open_reader() as reader:
        extractor = _extractor(reader, 160)
        real = extractor.read

        def fails_at_80(lo, hi, **kw):
            if lo >= 80:
                raise OSError("unreadable member")
            return real(lo, hi, **kw)

        extractor.read = fails_at_80
        with pytest.raises(OSError, match="unreadable"), open_workers(2, extractor) as workers:
            futures = [workers.submit_block(a, a + 40) for a in range(0, 160, 40)]
            assert len(futures[0].result(timeout=60)) == 40
            futures[2].result(timeout=60)


def _daemonic_child(depth: str, queue) -> None:
    with load_session(depth).open_reader() as reader, \
            open_workers(2, _extractor(reader, 40)) as workers:
        queue.put((workers.processes, len(_blocks(workers, 40, 20))))


@pytest.mark.skipif(start_method() != "fork", reason="the child is forked from the test")
def test_inside_a_daemonic_process_threads_do_the_work(session_factory):
    depth = session_factory("dat", n_frames=40, seed=5)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_daemonic_child, args=(str(depth), queue), daemon=True)
    child.start()
    try:
        assert queue.get(timeout=60) == (False, 2)
    finally:
        child.join(30)
    assert child.exitcode == 0
