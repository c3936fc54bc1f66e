"""The block loop: extract blocks in parallel, link them in frame order, write behind.

Blocks are submitted to the workers ``workers + 1`` ahead of the one being linked, so the
workers never wait for the main thread and memory holds a fixed number of blocks.  The
main thread links finished blocks in time (:class:`~.sequence.SequenceAssembler`: heading,
velocities, smoothing); what it releases is written by a single writer thread, one batch
behind, in order.
"""

from __future__ import annotations

import contextlib
import itertools
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

import numpy as np

from ..extract.chunk import FrameBlock
from .sequence import SequenceAssembler
from .workers import Workers

Progress = Callable[[int, int], None]
BLOCK = 128  # frames extracted together (one task); results do not depend on it


def block_size(chunk_size: int, *, tracking: bool = False) -> int:
    """Frames per task: ``chunk_size``, at most :data:`BLOCK` (results never depend on it).

    With the EM tracker always :data:`BLOCK`: each block starts its own tracker, so block
    boundaries must not move with the chunk size.
    """
    if tracking:
        return BLOCK
    return max(1, min(BLOCK, int(chunk_size)))


def stream_blocks(workers: Workers, assembler: SequenceAssembler, *, first: int, last: int,
                  block: int, write: Callable[..., None],
                  writer: Executor, progress: Progress | None = None,
                  ahead: int = 1, checkpoint: Callable[[int, int], Any] | None = None,
                  done: int = 0) -> None:
    """Extract frames ``first .. last - 1`` and hand the finished ones to ``write``.

    A resumed run passes the ``first`` frame of the blocks still pending in a restored
    ``assembler`` (:meth:`~.sequence.SequenceAssembler.restore`): those blocks are
    extracted again and given back to it (:meth:`~.sequence.SequenceAssembler.refill`),
    the others are added as usual.

    Parameters
    ----------
    workers : Workers
        Where blocks are extracted.
    assembler : SequenceAssembler
        Links blocks in frame order.
    block : int
        Frames per task.
    write : callable(results)
        Stores finished results; runs on ``writer``, one call at a time, in order.
    writer : Executor
        A single-thread executor (the output files are touched only there).
    progress : callable(done, total), optional
        Called after each batch handed to the writer.
    ahead : int
        Blocks in flight beyond one per worker thread or process.
    checkpoint : callable(rows, next_frame), optional
        Called on this thread after each batch is released, with the number of rows
        released so far and the first frame not yet added; what it returns is passed to
        ``write`` as a second argument (``write(results, token)``).
    done : int
        Rows released before ``first`` (a resumed run), for ``progress`` and
        ``checkpoint``.

    On an exception the blocks still queued are dropped and the write in progress is let
    finish (so that the caller can remove the files) before the exception propagates.
    """
    refilling = getattr(assembler, "awaiting_refill", None)
    total = last - first + done
    starts = iter(range(first, last, block))

    def submit(a: int) -> tuple[int, int, Future[FrameBlock]]:
        b = min(last, a + block)
        return a, b, workers.submit_block(a, b)

    in_flight: deque[tuple[int, int, Future[FrameBlock]]] = deque(
        submit(a) for a in itertools.islice(starts, workers.count + ahead))
    pending_write: Future[None] | None = None
    try:
        while in_flight:
            a, b, task = in_flight.popleft()
            result = task.result()
            nxt = next(starts, None)
            if nxt is not None:
                in_flight.append(submit(nxt))
            if refilling is not None and a < refilling[1]:
                assembler.refill(np.arange(a, b), result.measures, result.box)
                if b < refilling[1]:
                    continue
                refilling = None
                if b < last:
                    continue
                ready = assembler.pop_ready(final=True)
            else:
                assembler.add(np.arange(a, b), result.measures, result.box)
                ready = assembler.pop_ready(final=(b == last))
            if pending_write is not None:
                pending_write.result()
            done += sum(len(r) for r in ready)
            if checkpoint is None:
                pending_write = writer.submit(write, ready)
            else:
                pending_write = writer.submit(write, ready, checkpoint(done, b))
            if progress is not None:
                progress(done, total)
        if pending_write is not None:
            pending_write.result()
    except BaseException:
        for _, _, task in in_flight:
            task.cancel()
        if pending_write is not None:  # let the writer thread leave the files alone
            with contextlib.suppress(BaseException):
                pending_write.result()
        raise
