"""The preview movie ``results_XX.mp4`` (spec 4.18), encoded in-process with PyAV.

The picture of each frame is painted by :mod:`.preview_picture` (whose names are also
available here).  How the movie is made fast:

* The picture goes straight into the encoder's yuv420p planes, and only where it changed
  (:class:`~.preview_picture.PreviewCanvas`).
* The movie is encoded in independent segments of :data:`SEGMENT_FRAMES` frames, each by
  its own encoder starting with a key frame (:func:`encode_segment`), so segments can be
  encoded on several threads at once (x264 releases the GIL); :class:`PreviewWriter`
  writes their packets into one MP4 stream in order.  Segments are cut by frame count
  only, so the file does not depend on how frames were handed over or on thread counts.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from collections import deque
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..extract.results import BoxWindows
from ..paths import commit_partial, partial_path
from .preview_picture import (
    PreviewCanvas,
    box_window,
    canvas_shape,
    check_height_range,
    colorize_heights,
    compose_preview,
    compose_preview_yuv,
    jet_lut,
)

log = logging.getLogger(__name__)

__all__ = ["SEGMENT_FRAMES", "TAIL_SEGMENTS", "EncodedSegment", "EncoderSettings",
           "PreviewCanvas", "PreviewWriter", "SegmentLog", "colorize_heights",
           "compose_preview", "compose_preview_yuv", "encode_segment", "jet_lut",
           "read_segment_log", "segment_plan", "select_codec"]

SEGMENT_FRAMES = 256  # frames per independently encoded segment (one key frame each)
TAIL_SEGMENTS = 4  # the last 2 * SEGMENT_FRAMES frames of a known length, in this many


def segment_plan(total_frames: int) -> list[int]:
    """Lengths of the segments of a movie of ``total_frames`` frames.

    :data:`SEGMENT_FRAMES` each, except that the last (up to) two segments' worth of
    frames is cut into :data:`TAIL_SEGMENTS` near-equal segments: the end of a recording
    becomes ready all at once (the heading look-ahead), so its segments are what the
    workers encode after everything else, side by side.  Depends on the length only.
    """
    n = max(0, int(total_frames))
    head = max(0, n - 2 * SEGMENT_FRAMES)
    head -= head % SEGMENT_FRAMES
    plan = [SEGMENT_FRAMES] * (head // SEGMENT_FRAMES)
    tail = n - head
    parts = min(TAIL_SEGMENTS, tail)
    plan += [tail // parts + (1 if i < tail % parts else 0) for i in range(parts)]
    return plan


@lru_cache(maxsize=1)
def select_codec() -> str:
    """The encoder used for previews: ``libx264`` (H.264, yuv420p) if this PyAV build has
    it, else ``libopenh264``, else ``mpeg4`` (MPEG-4 part 2)."""
    available = av.codec.codecs_available
    for name in ("libx264", "libopenh264", "mpeg4"):
        if name not in available:
            continue
        try:
            av.codec.Codec(name, "w")
        except Exception:  # any failure means "not usable"
            continue
        return name
    raise RuntimeError("PyAV has no H.264 or MPEG-4 encoder")  # pragma: no cover


@dataclass(frozen=True)
class EncoderSettings:
    """Everything that decides the encoded stream (identical for every segment).

    Attributes
    ----------
    codec : str
        Encoder name.
    width, height : int
        Picture size (even).
    rate : Fraction
        Frame rate.
    preset : str
        x264 speed preset (ignored by other encoders).
    qp : int
        x264 constant quantiser (quality; lower is better).
    """

    codec: str
    width: int
    height: int
    rate: Fraction
    preset: str = "ultrafast"
    qp: int = 18

    def configure(self, ctx: Any) -> None:
        """Set up an (unopened) encoder context; the segments' encoders and the MP4
        stream's must agree, so that their stream headers are the same."""
        ctx.width, ctx.height = self.width, self.height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = 1 / self.rate
        ctx.framerate = self.rate
        ctx.gop_size = SEGMENT_FRAMES  # one key frame per segment, at its start
        ctx.thread_count = 1  # parallelism comes from encoding segments side by side
        # what cv2.COLOR_RGB2YUV_I420 produces: BT.601, limited range
        ctx.color_range = 1
        ctx.colorspace = 6
        ctx.color_primaries = 6
        ctx.color_trc = 6
        if self.codec == "libx264":
            ctx.options = {"preset": self.preset, "qp": str(self.qp)}
        else:
            ctx.bit_rate = 4_000_000

    def open_encoder(self) -> Any:
        """A new encoder context producing MP4-ready packets (stream headers out of band)."""
        ctx = av.CodecContext.create(self.codec, "w")
        self.configure(ctx)
        ctx.flags |= int(av.codec.context.Flags.global_header)
        ctx.open()
        return ctx


Piece = tuple[np.ndarray, "np.ndarray | BoxWindows", np.ndarray]  # crops, box, frame numbers


@dataclass
class EncodedSegment:
    """Output of :func:`encode_segment`, plain data (it may come from a worker process).

    Attributes
    ----------
    packets : list of (bytes, int, int, bool)
        Each packet's data, presentation and decoding time stamps (in frames from the
        segment's first frame) and key-frame flag, in decoding order.
    extradata : bytes
        The encoder's stream header (SPS/PPS for H.264).
    """

    packets: list[tuple[bytes, int, int, bool]]
    extradata: bytes


def encode_segment(settings: EncoderSettings, pieces: list[Piece], *, crop_size: int,
                   box_shape: tuple[int, int], min_height: float, max_height: float
                   ) -> EncodedSegment:
    """Paint and encode one segment with its own encoder.

    Parameters
    ----------
    settings : EncoderSettings
    pieces : list of (crops, box, frame_index)
        The segment's frames in order: crops (k, c, c), box heights ((k, h, w) array or
        :class:`~moseq2_extract.extract.results.BoxWindows`), frame numbers (k,).
    crop_size, box_shape, min_height, max_height
        As for :class:`PreviewCanvas`.

    Returns
    -------
    EncodedSegment
    """
    wide = any(max(p[0].dtype.itemsize, p[1].dtype.itemsize) > 1 for p in pieces)
    canvas = PreviewCanvas(box_shape, crop_size, min_height=min_height,
                           max_height=max_height, wide=wide)
    ctx = settings.open_encoder()
    packets: list[Any] = []
    pts = 0
    for crops, box, index in pieces:
        for i in range(len(index)):
            window, at = box_window(box, i)
            frame = canvas.paint(crops[i], window, index[i], at=at)
            frame.pts = pts
            pts += 1
            packets.extend(ctx.encode(frame))
    packets.extend(ctx.encode(None))
    return EncodedSegment([(bytes(p), int(p.pts), int(p.dts), bool(p.is_keyframe))
                           for p in packets], bytes(ctx.extradata or b""))


_SEGMENT_HEAD = struct.Struct("<qqii")  # first frame, frames, packets, header bytes
_PACKET_HEAD = struct.Struct("<iqq?")  # data bytes, pts, dts, key frame


class SegmentLog:
    """The encoded segments of a movie, appended to a file as they are written (a
    resumed run writes them into its movie again instead of encoding their frames).

    Records: ``<first frame, frames, packets, header bytes>`` (little-endian int64, int64,
    int32, int32), the stream header, then per packet ``<bytes, pts, dts, key>`` and its
    data.  Only a prefix of :meth:`sync`'s size is ever trusted.
    """

    def __init__(self, path: str | os.PathLike, *, keep: int = 0, frames: int = 0):
        self.path = Path(path)
        self._file = open(self.path, "r+b" if keep else "wb")  # noqa: SIM115 - closed by close
        self._file.truncate(keep)
        self._file.seek(keep)
        self._ends = {int(frames): keep}  # frames logged -> bytes, at each record's end

    def append(self, start: int, n: int, segment: EncodedSegment) -> None:
        out = self._file
        out.write(_SEGMENT_HEAD.pack(start, n, len(segment.packets), len(segment.extradata)))
        out.write(segment.extradata)
        for data, pts, dts, key in segment.packets:
            out.write(_PACKET_HEAD.pack(len(data), pts, dts, key))
            out.write(data)
        self._ends[start + n] = out.tell()

    def sync(self, frames: int) -> int:
        """Flush the records to the disk; returns the bytes of those of the first
        ``frames`` frames (which must end a record)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        size = self._ends[frames]
        self._ends = {k: v for k, v in self._ends.items() if k >= frames}
        return size

    def close(self) -> None:
        self._file.close()


def read_segment_log(path: str | os.PathLike, size: int
                     ) -> list[tuple[int, int, EncodedSegment]]:
    """The ``(first frame, frames, segment)`` records in the first ``size`` bytes of a
    :class:`SegmentLog` file.

    Raises
    ------
    ValueError
        If the file is shorter or the records do not end at ``size``.
    """
    with open(path, "rb") as f:
        data = f.read(size)
    if len(data) != size:
        raise ValueError(f"{path}: {len(data)} bytes, expected {size}")
    out, at = [], 0
    while at < size:
        start, n, count, head = _SEGMENT_HEAD.unpack_from(data, at)
        at += _SEGMENT_HEAD.size
        extradata = data[at:at + head]
        at += head
        packets = []
        for _ in range(count):
            length, pts, dts, key = _PACKET_HEAD.unpack_from(data, at)
            at += _PACKET_HEAD.size
            packets.append((data[at:at + length], pts, dts, key))
            at += length
        if at > size:
            raise ValueError(f"{path}: a record runs past {size} bytes")
        out.append((start, n, EncodedSegment(packets, extradata)))
    return out


class PreviewWriter:
    """Encode the preview movie chunk by chunk (context manager).

    The movie is written to ``<dir>/.<name>.partial`` and renamed to ``path`` by
    :meth:`close`; an exception inside the ``with`` block (or :meth:`abort`) deletes it.
    Frames are gathered into segments (of :data:`SEGMENT_FRAMES`, or as
    :func:`segment_plan` cuts ``total_frames``); each full segment is encoded as a task on
    ``executor`` while the caller goes on, and its packets are written to the file, in
    order, by later calls (all of them by :meth:`close`).

    Parameters
    ----------
    path : path-like
        Final ``.mp4`` path.
    fps : float
        Frame rate (frames/s).
    box_shape : (int, int)
        ``(h, w)`` of the ROI bounding box.
    crop_size : int
        Side ``c`` of the egocentric crop.
    min_height, max_height : float
        Colour scale range (mm).
    preset : str
        x264 speed preset (ignored by other encoders).  ``ultrafast`` (the default,
        Constrained Baseline profile, browser-playable) costs about 0.6 ms of CPU per
        444 x 444 frame here; ``superfast`` (High profile like the original's movies)
        about twice that.
    qp : int
        x264 constant quantiser (quality; lower is better).  A constant quantiser spares
        x264 the look-ahead analysis that a constant rate factor needs (about a fifth of
        its time); 18 gives the quality of ``crf`` 23 on these pictures (59 dB PSNR,
        1.6 kB a frame).
    background : bool
        Without ``executor``: encode on a private background thread (True) or in the
        calling thread (False).
    executor : concurrent.futures.Executor, optional
        Where segments are encoded (e.g. the pipeline's worker pool, so that several
        segments are encoded at once).  The arrays passed to :meth:`write` must not be
        modified afterwards.
    max_pending : int
        Segments queued or being encoded at most; :meth:`write` waits beyond that.
    total_frames : int, optional
        Length of the movie, when known: the last frames are then cut into smaller
        segments (:func:`segment_plan`) that several workers encode at once.
    codec : str, optional
        Force an encoder name (default: :func:`select_codec`).
    segment_log : SegmentLog, optional
        Where every segment written to the movie is also appended (for a resumed run).
    restored : list of (first frame, frames, EncodedSegment), optional
        Segments of an interrupted run (:func:`read_segment_log`): written first, as if
        just encoded; the frames passed to :meth:`write` continue after them.

    Attributes
    ----------
    codec : str
        Encoder in use.
    frame_size : (int, int)
        ``(height, width)`` of the movie.
    frames_written : int
        Frames written to the file so far.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float, box_shape: tuple[int, int],
                 crop_size: int, min_height: float, max_height: float,
                 preset: str = "ultrafast", qp: int = 18, background: bool = True,
                 executor: Executor | None = None, max_pending: int = 4,
                 total_frames: int | None = None, codec: str | None = None,
                 segment_log: SegmentLog | None = None,
                 restored: list[tuple[int, int, EncodedSegment]] | None = None):
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.min_height, self.max_height = check_height_range(min_height, max_height)
        self.path = Path(path)
        self.partial_path = partial_path(self.path)
        self.box_shape = (int(box_shape[0]), int(box_shape[1]))
        self.crop_size = int(crop_size)
        self.frame_size = canvas_shape(self.box_shape, self.crop_size)
        self.codec = codec or select_codec()
        self.settings = EncoderSettings(self.codec, self.frame_size[1], self.frame_size[0],
                                        Fraction(fps).limit_denominator(1001), preset,
                                        int(qp))
        self.frames_written = 0
        self._frames_submitted = 0
        self._closed = False
        self._buffer: list[Piece] = []
        self._buffered = 0
        self._plan: deque[int] = deque(segment_plan(total_frames) if total_frames else ())
        self._pending: deque[tuple[int, int, Future]] = deque()  # (first frame, n, task)
        self._max_pending = max(1, int(max_pending))
        self._own_executor: ThreadPoolExecutor | None = None
        if executor is None and background:
            executor = self._own_executor = ThreadPoolExecutor(
                1, thread_name_prefix="preview-writer")
        self._executor = executor
        self.segment_log: SegmentLog | None = None  # restored segments are logged already
        self.partial_path.parent.mkdir(parents=True, exist_ok=True)
        self.partial_path.unlink(missing_ok=True)
        self._container = av.open(str(self.partial_path), "w", format="mp4")
        try:
            self._stream = self._container.add_stream(self.codec, rate=self.settings.rate)
            self.settings.configure(self._stream.codec_context)
            self._stream.time_base = 1 / self.settings.rate
            for start, n, segment in restored or ():
                self._restore(start, n, segment)
            self.segment_log = segment_log
        except BaseException:
            self._container.close()
            self.partial_path.unlink(missing_ok=True)
            raise

    def _restore(self, start: int, n: int, segment: EncodedSegment) -> None:
        if start != self._frames_submitted or (self._plan and self._plan[0] != n):
            raise ValueError(f"{self.partial_path}: a restored segment of {n} frames from "
                             f"frame {start} does not continue the movie")
        done: Future = Future()
        done.set_result(segment)
        self._pending.append((start, n, done))
        self._frames_submitted += n
        if self._plan:
            self._plan.popleft()
        self._mux_ready(wait=True)

    # -- encoding --------------------------------------------------------------------

    def _submit(self, pieces: list[Piece]) -> None:
        n = sum(len(p[2]) for p in pieces)
        args = (self.settings, pieces)
        kwargs: dict[str, Any] = dict(crop_size=self.crop_size, box_shape=self.box_shape,
                                      min_height=self.min_height, max_height=self.max_height)
        if self._executor is None:
            future: Future = Future()
            try:
                future.set_result(encode_segment(*args, **kwargs))
            except Exception as err:  # raised when the segment is written, like a task's
                future.set_exception(err)
        else:
            future = self._executor.submit(encode_segment, *args, **kwargs)
        self._pending.append((self._frames_submitted, n, future))
        self._frames_submitted += n

    def _next_segment(self) -> int:
        return self._plan[0] if self._plan else SEGMENT_FRAMES

    def _cut(self, count: int) -> list[Piece]:
        """Take the first ``count`` buffered frames as a list of pieces."""
        out: list[Piece] = []
        while count > 0:
            crops, box, index = self._buffer[0]
            k = len(index)
            if k <= count:
                out.append(self._buffer.pop(0))
            else:
                out.append((crops[:count], box[:count], index[:count]))
                self._buffer[0] = (crops[count:], box[count:], index[count:])
                k = count
            count -= k
            self._buffered -= k
        return out

    def _mux_ready(self, *, wait: bool) -> None:
        """Write the packets of finished segments, in order (all of them if ``wait``)."""
        while self._pending and (wait or self._pending[0][2].done()
                                 or len(self._pending) > self._max_pending):
            start, n, future = self._pending.popleft()
            segment: EncodedSegment = future.result()
            time_base = 1 / self.settings.rate
            for data, pts, dts, key in segment.packets:
                packet = av.Packet(data)
                packet.pts, packet.dts = pts + start, dts + start
                packet.time_base = time_base
                packet.is_keyframe = key
                packet.stream = self._stream
                self._container.mux(packet)
            # the file's stream header (written by the stream's own encoder, opened with
            # the same settings) must be the one the segment's packets were made for
            header = bytes(self._stream.codec_context.extradata or b"")
            if header != segment.extradata:
                raise RuntimeError(f"{self.partial_path}: a movie segment was encoded with "
                                   "different stream headers")
            if self.segment_log is not None:
                self.segment_log.append(start, n, segment)
            self.frames_written += n

    def write(self, crops: np.ndarray, box: np.ndarray | BoxWindows,
              frame_index: np.ndarray) -> None:
        """Add one chunk of frames.

        Parameters
        ----------
        crops : ndarray, (n, c, c) uint8 or uint16
            Egocentric height crops (mm).
        box : ndarray, (n, h, w) uint8 or uint16, or BoxWindows
            Heights over the ROI bounding box (mm).
        frame_index : ndarray, (n,) int
            Absolute video frame index of each frame.
        """
        if self._closed:
            raise ValueError(f"{self.partial_path}: preview writer is closed")
        crops = np.asarray(crops)
        if not isinstance(box, BoxWindows):
            box = np.asarray(box)
        frame_index = np.asarray(frame_index).reshape(-1)
        c = self.crop_size
        n = len(frame_index)
        if crops.shape != (n, c, c):
            raise ValueError(f"crops: expected shape {(n, c, c)}, got {crops.shape}")
        shape = (len(box), *box.shape) if isinstance(box, BoxWindows) else box.shape
        if shape != (n, *self.box_shape):
            raise ValueError(f"box: expected shape {(n, *self.box_shape)}, got {shape}")
        if n == 0:
            return
        self._buffer.append((crops, box, frame_index))
        self._buffered += n
        while self._buffered >= (size := self._next_segment()):
            self._submit(self._cut(size))
            if self._plan:
                self._plan.popleft()
        self._mux_ready(wait=False)

    # -- ending ----------------------------------------------------------------------

    def _drop_pending(self) -> None:
        for _, _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._buffer.clear()
        self._buffered = 0
        if self._own_executor is not None:
            self._own_executor.shutdown(wait=True, cancel_futures=True)
            self._own_executor = None

    def close(self, *, commit: bool = True) -> Path | None:
        """Encode what is pending, finish the file and rename it to ``path``.

        With ``commit=False`` the finished file keeps its temporary name until
        :meth:`commit` (so that an earlier movie at ``path`` is replaced only once the
        results it goes with are complete) or :meth:`abort`.

        Returns
        -------
        Path or None
            ``path``, or None if no frame was written (then no file is left).
        """
        if self._closed:
            return self.path if self.path.exists() and self.frames_written else None
        try:
            if self._buffered:
                self._submit(self._cut(self._buffered))
            self._mux_ready(wait=True)
        except BaseException:
            self.abort()
            raise
        self._drop_pending()
        self._container.close()
        self._closed = True
        if not self.frames_written:
            self.partial_path.unlink(missing_ok=True)
            log.warning("%s: no frames were written; no preview movie", self.path)
            return None
        if not commit:
            self._uncommitted = True
            return self.path
        return self.commit()

    def commit(self) -> Path:
        """Rename a movie finished with ``close(commit=False)`` to ``path``."""
        commit_partial(self.partial_path, self.path, durable=False)
        self._uncommitted = False
        log.debug("wrote %s (%d frames, %s)", self.path, self.frames_written, self.codec)
        return self.path

    def abort(self) -> None:
        """Stop, close and delete the partial movie (``path`` is not touched)."""
        if self._closed:
            if getattr(self, "_uncommitted", False):
                self.partial_path.unlink(missing_ok=True)
                self._uncommitted = False
            return
        self._closed = True
        self._drop_pending()
        with contextlib.suppress(Exception):
            self._container.close()
        self.partial_path.unlink(missing_ok=True)

    def __enter__(self) -> PreviewWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()
