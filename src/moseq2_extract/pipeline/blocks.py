"""One block of frames, from the depth file to per-frame results: the unit of parallel work.

A :class:`BlockExtractor` holds what extracting a session's frames needs (its reader, the ROI
box, background and parameters).  ``extract(a, b)`` reads frames ``a .. b - 1`` itself
(plus the neighbours a temporal filter needs) and returns their
:class:`~moseq2_extract.extract.chunk.FrameBlock`: crops, masks and measures, and the
heights around the mouse for the preview.  The result is small (tens of kB per frame), so
the same object serves worker threads, which share its reader, and worker processes, which
each get a pickled copy that reopens the file.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np

from ..extract.chunk import (
    BlockKernel,
    ChunkParams,
    FrameBlock,
    measure_frames,
    prepare_heights,
)
from ..extract.frames import temporal_median
from ..extract.results import BoxWindows
from ..io.reader_base import DepthReader

_BUFFERS = threading.local()  # per thread: the read buffer, reused by every extractor


class BlockExtractor:
    """Extract blocks of frames of one recording.

    Parameters
    ----------
    reader : DepthReader
        The recording (picklable; copies reopen the file).
    bbox : (y0, y1, x0, x1)
        ROI bounding box in full-frame pixels.
    background, roi : ndarray, (H, W)
        Full-frame background (mm) and ROI mask.
    params : ChunkParams
    first, last : int
        Frames that may be read (``last`` exclusive): the temporal filter's neighbours
        stop there.
    shared_reader : bool
        The reader is shared by threads: reads then happen one at a time, in block order
        (sequential readers never seek back).  Pickled copies always own their reader.
    """

    def __init__(self, reader: DepthReader, *, bbox: tuple[int, int, int, int],
                 background: np.ndarray, roi: np.ndarray, params: ChunkParams,
                 first: int, last: int, shared_reader: bool = False):
        self.reader = reader
        self.bbox = tuple(int(v) for v in bbox)
        y0, y1, x0, x1 = self.bbox
        self.background = np.ascontiguousarray(background[y0:y1, x0:x1], dtype=np.float32)
        self.roi = np.ascontiguousarray(roi[y0:y1, x0:x1])
        self.params = params
        self.first, self.last = int(first), int(last)
        self.halo = params.temporal_halo
        self.shared_reader = bool(shared_reader)
        self._setup()

    def _setup(self) -> None:
        self._kernel: BlockKernel | None = None
        self._turn = threading.Condition()
        self._next_read = self.first  # shared reader: the block that reads next
        self._cancelled = False

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("_kernel", "_turn", "_next_read", "_cancelled")}
        state["shared_reader"] = False
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._setup()
        # a copy serves one worker process: decode on this one thread, the workers are
        # the parallelism (several decoder threads per worker only compete for cores)
        if hasattr(self.reader, "threads"):
            self.reader.threads = 1

    @property
    def kernel(self) -> BlockKernel:
        if self._kernel is None:
            self._kernel = BlockKernel(self.background, self.roi, self.params)
        return self._kernel

    def _buffer(self, n: int) -> np.ndarray:
        """This thread's buffer of ``n`` frames of whole rows of the box (reused from
        block to block, so the kernel does not zero fresh memory for each)."""
        y0, y1, _, _ = self.bbox
        shape = (n, y1 - y0, self.reader.info.width)
        buf = getattr(_BUFFERS, "rows", None)
        if buf is None or buf.shape[0] < n or buf.shape[1:] != shape[1:]:
            buf = _BUFFERS.rows = np.empty(shape, np.uint16)
        return buf[:n]

    @contextmanager
    def _reading(self, a: int, b: int):
        """Hold the shared reader for block ``[a, b)``, after every earlier block."""
        if not self.shared_reader:
            yield
            return
        with self._turn:
            self._turn.wait_for(lambda: self._next_read == a or self._cancelled)
            if self._cancelled:
                raise RuntimeError("extraction cancelled")
            try:
                yield
            finally:
                self._next_read = b
                self._turn.notify_all()

    def cancel(self) -> None:
        """Make blocks still waiting for their turn to read give up (a block before them
        was cancelled, so their turn would never come)."""
        with self._turn:
            self._cancelled = True
            self._turn.notify_all()

    def read(self, lo: int, hi: int) -> np.ndarray:
        """Frames ``lo .. hi - 1`` over the ROI box, ``(n, h, w)`` uint16: a view into the
        mapped file (``.dat``) or into a reused buffer; call :meth:`DepthReader.release`
        when done with it."""
        y0, y1, x0, x1 = self.bbox
        width = self.reader.info.width
        rows = self.reader.region_view(lo, hi, (y0, y1, 0, width), out=self._buffer(hi - lo))
        return rows[:, :, x0:x1]

    def extract(self, a: int, b: int) -> FrameBlock:
        """Extract frames ``a .. b - 1``.

        Returns
        -------
        FrameBlock
            Row ``i`` is frame ``a + i``.
        """
        n = b - a
        lo, hi = max(self.first, a - self.halo), min(self.last, b + self.halo)
        with self._reading(a, b):
            raw = self.read(lo, hi)
        try:
            return self._extract(raw, a - lo, n)
        finally:
            del raw
            self.reader.release(lo, hi)

    def _extract(self, raw: np.ndarray, lead: int, n: int) -> FrameBlock:
        if not self.halo:
            block = self.kernel.new_block(n)
            self.kernel.run(raw, block, range(n))
            return block
        heights, filtered = prepare_heights(raw, self.background, self.roi, self.params)
        filtered = temporal_median(filtered, self.params.temporal_filter_size)
        heights = heights[lead:lead + n]
        measures = measure_frames(heights, filtered[lead:lead + n], self.params)
        return FrameBlock(measures, BoxWindows.from_dense(heights))


# the extractor of the session a worker process serves, installed once by its first task
_INSTALLED: dict[str, BlockExtractor] = {}


def prepare_worker_process(key: str | None = None,
                           extractor: BlockExtractor | None = None) -> None:
    """First task of a worker process: keep OpenCV to this one thread, make sure what
    movie segments need is imported, and install ``extractor`` under ``key`` for
    :func:`extract_block` (so that tasks carry two frame numbers, not the background)."""
    import cv2

    from ..output import movie  # noqa: F401 - imported for its import cost only

    cv2.setNumThreads(1)
    if extractor is not None:
        _INSTALLED.clear()
        _INSTALLED[str(key)] = extractor


def extract_block(key: str, a: int, b: int) -> FrameBlock:
    """Task form of :meth:`BlockExtractor.extract` with the worker's installed extractor."""
    try:
        extractor = _INSTALLED[key]
    except KeyError:
        raise RuntimeError(f"no block extractor {key!r} installed in this worker") from None
    return extractor.extract(a, b)
