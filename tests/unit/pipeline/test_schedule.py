"""The block loop (pipeline/schedule.py), with real and with stand-in workers and
assembler: blocks are linked in frame order whatever order they finish in, writes happen in
order on the writer thread, a bounded number of blocks is in flight, failures stop
everything cleanly."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np
import pytest

from moseq2_extract.camera import KINECT
from moseq2_extract.extract.chunk import ChunkParams
from moseq2_extract.io.session import load_session
from moseq2_extract.pipeline.blocks import BlockExtractor
from moseq2_extract.pipeline.schedule import BLOCK, block_size, stream_blocks
from moseq2_extract.pipeline.sequence import SequenceAssembler
from moseq2_extract.pipeline.workers import open_workers
from moseq2_extract.synthetic import GroundTruth


class Block:
    """What a worker returns: measures and box (here just the frame range)."""

    def __init__(self, a, b):
        self.measures = (a, b)
        self.box = f"box {a}-{b}"


class Result:
    def __init__(self, frame_index):
        self.frame_index = frame_index

    def __len__(self):
        return len(self.frame_index)


class Workers:
    """Blocks finish in reverse order of submission within each wave (later ones first)."""

    def __init__(self, count, pool):
        self.count = count
        self.pool = pool
        self.submitted = []

    def submit_block(self, a, b):
        self.submitted.append((a, b))
        delay = 0.02 * max(0, 3 - len(self.submitted) % 4)
        return self.pool.submit(lambda: (time.sleep(delay), Block(a, b))[1])


class Assembler:
    """Holds the last block back (a one-block look-ahead) until ``final``."""

    def __init__(self, workers):
        self.workers = workers
        self.added = []
        self.held = []
        self.in_flight_seen = []

    def add(self, frame_index, measures, box):
        assert (int(frame_index[0]), int(frame_index[-1]) + 1) == measures
        assert box == f"box {measures[0]}-{measures[1]}"
        self.added.append(measures)
        self.in_flight_seen.append(len(self.workers.submitted) - len(self.added))
        self.held.append(Result(frame_index))

    def pop_ready(self, *, final=False):
        keep = 0 if final else 1
        ready, self.held = self.held[:len(self.held) - keep], self.held[len(self.held) - keep:]
        return ready


def run(first, last, block, *, count=2, ahead=1, write=None, workers=None):
    written, threads, progress = [], [], []

    def store(ready):
        threads.append(threading.current_thread().name)
        written.append([(int(r.frame_index[0]), len(r)) for r in ready])
        if write is not None:
            write(ready)

    with ThreadPoolExecutor(4) as pool, ThreadPoolExecutor(1, thread_name_prefix="w") as w:
        workers = workers or Workers(count, pool)
        asm = Assembler(workers)
        stream_blocks(workers, asm, first=first, last=last, block=block, write=store,
                      writer=w, progress=lambda done, total: progress.append((done, total)),
                      ahead=ahead)
    return asm, written, threads, progress


def test_block_size_is_the_chunk_size_up_to_a_limit():
    assert BLOCK == 128
    assert block_size(50) == 50 and block_size(1000) == BLOCK and block_size(0) == 1


def test_blocks_are_linked_in_order_and_written_in_order_on_the_writer_thread():
    asm, written, threads, progress = run(5, 300, 40)
    starts = list(range(5, 300, 40))
    assert asm.added == [(a, min(300, a + 40)) for a in starts]
    # one write per linked block, in order; the held block comes out with the last one
    flat = [item for batch in written for item in batch]
    assert [a for a, _ in flat] == starts
    assert sum(n for _, n in flat) == 295
    assert written[0] == [] and len(written) == len(starts)
    assert all(name.startswith("w") for name in threads)
    assert progress[-1] == (295, 295)
    done = [d for d, _ in progress]
    assert done == sorted(done) and all(t == 295 for _, t in progress)


@pytest.mark.parametrize(("count", "ahead"), [(1, 0), (2, 1), (3, 2)])
def test_a_bounded_number_of_blocks_is_in_flight(count, ahead):
    asm, *_ = run(0, 500, 20, count=count, ahead=ahead)
    # while a block is linked, the next count + ahead blocks are being extracted (the
    # next one was submitted as soon as its predecessor's result came), never more
    assert max(asm.in_flight_seen) == count + ahead
    assert asm.in_flight_seen[-1] == 0


class FailingWorkers:
    """Block 0 is extracted, block 1 fails, the rest never finish (still queued)."""

    count = 2

    def __init__(self):
        self.futures = []
        self.submitted = []

    def submit_block(self, a, b):
        self.submitted.append((a, b))
        fut: Future = Future()
        if a == 0:
            fut.set_result(Block(a, b))
        elif len(self.futures) == 1:
            fut.set_exception(RuntimeError("block failed"))
        self.futures.append(fut)
        return fut


def test_a_failed_block_drops_the_queued_ones_and_lets_the_write_finish():
    workers = FailingWorkers()
    writes = []

    def slow_write(ready):
        time.sleep(0.1)
        writes.append(len(ready))

    with pytest.raises(RuntimeError, match="block failed"):
        run(0, 100, 10, workers=workers, write=slow_write)
    assert writes == [0]  # the write in progress (block 0: held back) finished first
    queued = workers.futures[2:]
    assert len(queued) == 2 and all(f.cancelled() for f in queued)


def test_a_failed_write_stops_the_loop():
    calls = []

    def write(ready):
        calls.append(len(ready))
        if len(calls) == 3:
            raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        run(0, 400, 10, write=write)
    assert len(calls) == 3


def test_nothing_to_extract():
    asm, written, _, progress = run(7, 7, 10)
    assert asm.added == [] and written == [] and progress == []


def test_frame_indices_cover_the_range_once():
    asm, written, *_ = run(3, 131, 16, count=3)
    idx = np.concatenate([np.arange(a, b) for a, b in asm.added])
    np.testing.assert_array_equal(idx, np.arange(3, 131))


# ------------------------------------------------------- with real workers and assembler
def _run_real(depth, *, first, last, block, workers=2, fail_at=None):
    written, progress = [], []
    truth = GroundTruth.load(depth.parent / "ground_truth.npz")
    with load_session(depth).open_reader() as reader, ThreadPoolExecutor(1) as writer:
        shape = reader.frame_shape
        extractor = BlockExtractor(reader, bbox=(0, shape[0], 0, shape[1]),
                                   background=truth.background, roi=truth.floor_mask,
                                   params=ChunkParams(), first=first, last=last)
        assembler = SequenceAssembler(camera=KINECT, true_depth=670.0, box_origin=(0, 0))

        def write(ready):
            for r in ready:
                if fail_at is not None and r.frame_index[0] >= fail_at:
                    raise OSError("disk full")
                written.append(r)

        with open_workers(workers, extractor) as pool:
            stream_blocks(pool, assembler, first=first, last=last, block=block,
                          writer=writer, write=write,
                          progress=lambda done, total: progress.append((done, total)))
    return written, progress


def test_real_blocks_every_frame_once_in_order_with_progress(session_factory):
    depth = session_factory("dat", n_frames=150, seed=9)
    truth = GroundTruth.load(depth.parent / "ground_truth.npz")
    written, progress = _run_real(depth, first=7, last=143, block=32)
    index = np.concatenate([r.frame_index for r in written])
    np.testing.assert_array_equal(index, np.arange(7, 143))
    dones = [d for d, _ in progress]
    assert dones == sorted(dones) and progress[-1] == (136, 136)
    x = np.concatenate([r.scalars["centroid_x_px"] for r in written])
    assert np.nanmedian(np.abs(x - truth.centroid_x[7:143])) < 2.0


def test_a_failed_write_stops_real_workers(session_factory):
    depth = session_factory("dat", n_frames=150, seed=9)
    with pytest.raises(OSError, match="disk full"):
        _run_real(depth, first=0, last=150, block=16, fail_at=64)
