"""Verify an FFV1 copy while it is being encoded.

:class:`StreamVerifier` decodes the encoder's packets on a thread of its own as they come
out (FFmpeg releases the GIL, so encoding and decoding run on two cores at once) and
compares every decoded frame with the source frame it encodes; it keeps a digest of each
packet.  :func:`check_packets` then reads the finished file's packets back without
decoding them and requires exactly those bytes, in that order: the file decodes to what
was compared, frame for frame, at the cost of reading it once.
"""

from __future__ import annotations

import hashlib
import queue
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ExtractionError

__all__ = ["StreamVerifier", "check_packets"]

#: Source blocks that may wait for their packets to be decoded (bounds the memory).
MAX_PENDING_BLOCKS = 2


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


class StreamVerifier:
    """Compare the decoded packets of an FFV1 stream with its source frames, on a thread.

    Feed it in stream order: :meth:`expect` with each block of source frames *before* the
    block is given to the encoder, and :meth:`packet` (a
    :class:`~moseq2_extract.io.writers.DepthVideoWriter` ``on_packet`` callback) with
    every packet.  :meth:`finish` waits for the last frame.

    Parameters
    ----------
    path : Path
        The file being written (named in errors).
    extradata : callable() -> bytes or None
        The encoder's global header, asked for when the first packet arrives.
    width, height : int
        Frame size in pixels.
    threads : int
        Decoder slice threads.
    error : type
        Exception class raised on a difference (with a one-line message).
    """

    def __init__(self, path: Path, extradata: Callable[[], bytes | None], *, width: int,
                 height: int, threads: int, error: type[ExtractionError]):
        self.path = path
        self._size = (int(width), int(height))
        self.digests: list[bytes] = []
        self.verified = 0  # frames decoded and found equal so far
        self._extradata = extradata
        self._threads = int(threads)
        self._error_type = error
        self._error: BaseException | None = None
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._slots = threading.BoundedSemaphore(MAX_PENDING_BLOCKS)
        self._thread = threading.Thread(target=self._run, name="ffv1-verify", daemon=True)
        self._thread.start()

    # -- producer side ------------------------------------------------------------------
    def expect(self, frames: np.ndarray) -> None:
        """The next ``(n, H, W)`` uint16 source frames (waits while too many are pending)."""
        self._slots.acquire()
        self._raise()
        self._queue.put(("frames", frames))

    def packet(self, data: bytes) -> None:
        """The next encoded packet."""
        self.digests.append(_digest(data))
        self._queue.put(("packet", data))

    def finish(self, n_frames: int) -> None:
        """Wait for the decoder to catch up; raise unless all ``n_frames`` were equal."""
        self._queue.put(None)
        self._thread.join()
        self._raise()
        if self.verified != n_frames:
            raise self._error_type(f"{self.path}: {self.verified} frames decode, expected "
                                   f"{n_frames}")

    def close(self) -> None:
        """Stop the thread (after an error elsewhere); idempotent."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    # -- the thread -----------------------------------------------------------------------
    def _run(self) -> None:
        pending: deque[np.ndarray] = deque()
        offset = 0
        decoder: Any = None

        def compare(frame: Any) -> None:
            nonlocal offset
            if not pending:
                raise self._error_type(f"{self.path}: more frames decode than were written")
            if not np.array_equal(frame.to_ndarray(), pending[0][offset]):
                raise self._error_type(f"{self.path}: frame {self.verified} differs from the "
                                       "source")
            self.verified += 1
            offset += 1
            if offset == len(pending[0]):
                pending.popleft()
                offset = 0
                self._slots.release()

        while True:
            item = self._queue.get()
            if self._error is not None:  # drain, so that the producer never waits
                if item is None:
                    return
                if item[0] == "frames":
                    self._slots.release()
                continue
            try:
                if item is None:
                    if decoder is not None:
                        for frame in decoder.decode(None):
                            compare(frame)
                    return
                kind, payload = item
                if kind == "frames":
                    pending.append(payload)
                    continue
                if decoder is None:
                    decoder = self._decoder()
                import av

                for frame in decoder.decode(av.Packet(payload)):
                    compare(frame)
            except BaseException as err:  # noqa: BLE001 - handed to the producer
                self._error = err
                while pending:  # their slots are free again
                    pending.popleft()
                    self._slots.release()
                if item is None:
                    return

    def _decoder(self) -> Any:
        import av

        decoder = av.CodecContext.create("ffv1", "r")
        decoder.extradata = self._extradata()
        decoder.width, decoder.height = self._size
        decoder.thread_type = "SLICE"
        decoder.thread_count = self._threads
        return decoder


def check_packets(path: Path, digests: list[bytes], *, width: int, height: int,
                  error: type[ExtractionError]) -> None:
    """Require the video stream of ``path`` to be FFV1 ``gray16le`` of ``width`` x
    ``height`` holding exactly the packets whose digests are ``digests``, in order (read
    without decoding)."""
    import av

    with av.open(str(path)) as container:
        videos = container.streams.video
        if len(videos) != 1:
            raise error(f"{path}: {len(videos)} video streams, expected 1")
        stream = videos[0]
        ctx = stream.codec_context
        fmt = ctx.format.name if ctx.format is not None else None
        if (ctx.name, fmt, ctx.width, ctx.height) != ("ffv1", "gray16le", width, height):
            raise error(f"{path}: holds {ctx.name} {fmt} {ctx.width}x{ctx.height}, expected "
                        f"ffv1 gray16le {width}x{height}")
        found = [_digest(bytes(p)) for p in container.demux(stream) if p.size]
    if found != digests:
        same = next((i for i, (a, b) in enumerate(zip(found, digests)) if a != b),
                    min(len(found), len(digests)))
        raise error(f"{path}: the file's packets differ from those encoded from packet "
                    f"{same} on ({len(found)} read, {len(digests)} written)")
