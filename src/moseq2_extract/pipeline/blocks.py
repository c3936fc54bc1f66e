"""One block of frames, from the depth file to per-frame results: the unit of parallel work.

A :class:`BlockExtractor` holds what extracting a session's frames needs (its reader, the ROI
box, background and parameters).  ``extract(a, b)`` reads frames ``a .. b - 1`` itself
(plus the neighbours a temporal filter needs) and hands them to the one per-block path,
:meth:`~moseq2_extract.extract.chunk.BlockKernel.extract`.  The result is small (tens of kB
per frame), so the same object serves worker threads and worker processes, which each get
a pickled copy that reopens the file.

A sequential reader (``.tar.gz``) cannot seek back, so its reads must happen in block
order: the scheduler then calls :meth:`read` on one thread, in order, and
:meth:`extract_read` for each block on the workers.
"""

from __future__ import annotations

import threading

import numpy as np

from ..extract.chunk import BlockKernel, ChunkParams, FrameBlock
from ..extract.intrusion import Surround
from ..io.reader_base import DepthReader

_BUFFERS = threading.local()  # per thread: the read buffer, reused by every extractor
#: Frames let go of together while a block is extracted (see BlockExtractor.extract_read).
RELEASE_EVERY = 32


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
    """

    def __init__(self, reader: DepthReader, *, bbox: tuple[int, int, int, int],
                 background: np.ndarray, roi: np.ndarray, params: ChunkParams,
                 first: int, last: int):
        self.reader = reader
        y0, y1, x0, x1 = (int(v) for v in bbox)
        self.bbox = (y0, y1, x0, x1)
        self.background = np.ascontiguousarray(background[y0:y1, x0:x1], dtype=np.float32)
        self.roi = np.ascontiguousarray(roi[y0:y1, x0:x1])
        self.params = params
        # the intrusion test also looks around the box: reads cover the outer box
        self.surround = (Surround.around(self.bbox, background, roi)
                         if params.ignore_intrusions else None)
        self.read_bbox = (self.bbox if self.surround is None
                          else self.surround.outer_bbox(self.bbox))
        self.first, self.last = int(first), int(last)
        self.halo = params.temporal_halo
        self.lead = params.lead_frames
        self._kernel: BlockKernel | None = None

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_kernel"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._kernel = None
        # a copy serves one worker process: decode on this one thread, the workers are
        # the parallelism (several decoder threads per worker only compete for cores)
        if hasattr(self.reader, "threads"):
            self.reader.threads = 1

    @property
    def kernel(self) -> BlockKernel:
        if self._kernel is None:
            self._kernel = BlockKernel(self.background, self.roi, self.params,
                                       surround=self.surround)
        return self._kernel

    def span(self, a: int, b: int) -> tuple[int, int]:
        """Frames to read for block ``[a, b)``: the block, its temporal neighbours and the
        EM tracker's warm-up frames before it."""
        return max(self.first, a - self.lead), min(self.last, b + self.halo)

    def _buffer(self, n: int) -> np.ndarray:
        """This thread's buffer of ``n`` frames of whole rows of the box (reused from
        block to block, so the kernel does not zero fresh memory for each)."""
        y0, y1, _, _ = self.read_bbox
        shape = (n, y1 - y0, self.reader.info.width)
        buf = getattr(_BUFFERS, "rows", None)
        if buf is None or buf.shape[0] < n or buf.shape[1:] != shape[1:]:
            buf = _BUFFERS.rows = np.empty(shape, np.uint16)
        return buf[:n]

    def read(self, lo: int, hi: int, *, reuse_buffer: bool = True) -> np.ndarray:
        """Frames ``lo .. hi - 1`` over the ROI box (with its surround when the intrusion
        test is on: :attr:`read_bbox`), ``(n, h, w)`` uint16: a view into the
        mapped file (``.dat``) or into this thread's reused buffer (a new array with
        ``reuse_buffer=False``, for frames handed to another thread); call
        :meth:`DepthReader.release` when done with it."""
        y0, y1, x0, x1 = self.read_bbox
        width = self.reader.info.width
        out = self._buffer(hi - lo) if reuse_buffer else None
        rows = self.reader.region_view(lo, hi, (y0, y1, 0, width), out=out)
        return rows[:, :, x0:x1]

    def extract(self, a: int, b: int) -> FrameBlock:
        """Extract frames ``a .. b - 1``.

        Returns
        -------
        FrameBlock
            Row ``i`` is frame ``a + i``.
        """
        lo, hi = self.span(a, b)
        return self.extract_read(self.read(lo, hi), a, b)

    def extract_read(self, raw: np.ndarray, a: int, b: int) -> FrameBlock:
        """Extract frames ``a .. b - 1`` from ``raw``, the frames :meth:`span` names.

        The frames are let go of (:meth:`DepthReader.release`) :data:`RELEASE_EVERY` at a
        time as the kernel finishes them, not all at the block's end: a ``.dat`` block's
        mapped pages (about 50 MB of a 128-frame block) then never stay mapped at once.
        """
        lo, hi = self.span(a, b)
        mapped = lo  # frames from here on are still mapped

        def done(row: int) -> None:
            nonlocal mapped
            frame = lo + row + 1
            if frame - mapped >= RELEASE_EVERY:
                self.reader.release(mapped, frame)
                mapped = frame

        try:
            return self.kernel.extract(raw, lead=a - lo, count=b - a, frame_done=done)
        finally:
            del raw
            self.reader.release(mapped, hi)
