"""16-bit grey depth video (``.avi`` / ``.mkv``) decoded with PyAV."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputFileError
from .reader_base import DepthReader, VideoInfo, depth_file_kind

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------
# .avi / .mkv through PyAV
# ------------------------------------------------------------------------------------------
_GREY_DTYPES = {"gray16le": "<u2", "gray16be": ">u2", "gray": "u1", "gray8": "u1"}
# pts tables of fully demuxed streams, keyed by (path, size, mtime_ns, stream index)
_PTS_CACHE: dict[tuple[str, int, int, int], np.ndarray] = {}
_PTS_CACHE_MAX = 32


def _import_av() -> Any:
    try:
        import av
    except ImportError:  # pragma: no cover - av is a hard dependency
        raise ImportError("reading .avi/.mkv needs PyAV: pip install av") from None
    return av


def _stream_title(stream: Any) -> str | None:
    for key, value in stream.metadata.items():
        if key.lower() == "title":
            return str(value)
    return None


class PyAVReader(DepthReader):
    """A 16-bit grey video stream of an ``.avi`` / ``.mkv`` file, decoded with PyAV.

    Parameters
    ----------
    path : path-like
        The video file.
    mapping : str or int
        Which video stream: a stream title (case-insensitive, e.g. ``"DEPTH"``) or an index
        among the video streams.  When no stream carries a title, a title mapping selects
        the first video stream.
    threads : int
        Decoder threads (0 = as many as FFmpeg chooses).
    frame_size : (width, height), optional
        Expected frame size; the stream's own size is always used, a different value is
        only reported in the log.
    """

    _HANDLES = ("_container", "_stream", "_packets")
    #: forward gaps up to this many frames are decoded through instead of seeking
    forward_limit = 48

    def __init__(self, path: str | Path, *, mapping: str | int = "DEPTH", threads: int = 0,
                 frame_size: Sequence[int] | None = None):
        super().__init__(path)
        self.kind = depth_file_kind(self.path)
        self.mapping = mapping
        self.threads = int(threads)
        self._container: Any = None
        self._stream: Any = None
        self._packets: Iterator[Any] | None = None
        self._queue: deque[Any] = deque()  # decoded frames not yet read
        self._pending: list[Any] = []  # undecoded packets since the last keyframe
        self._eof = False
        self._pos = 0
        self._last_idx = -1
        self._pts_table: np.ndarray | None = None
        if not self.path.exists():
            raise InputFileError(f"{self.path}: no such file")
        if self.path.stat().st_size == 0:
            raise InputFileError(f"{self.path}: empty file (0 bytes)")
        self._stream_index = -1
        self._open()
        stream: Any = self._stream
        ctx = stream.codec_context
        fmt = ctx.format.name if ctx.format is not None else None
        if fmt not in _GREY_DTYPES:
            self._close_handles()
            raise InputFileError(
                f"{self.path}: video stream {self._stream_index} is not 16-bit grey depth "
                f"(codec {ctx.name}, pixel format {fmt})"
            )
        if fmt in ("gray", "gray8"):
            logger.warning("%s: 8-bit grey stream; values are widened to uint16", self.path)
        self._pixel_dtype = np.dtype(_GREY_DTYPES[fmt])
        width, height = int(ctx.width), int(ctx.height)
        if width < 1 or height < 1:
            self._close_handles()
            raise InputFileError(f"{self.path}: video stream has no frame size")
        if frame_size is not None and tuple(int(v) for v in frame_size) != (width, height):
            logger.warning("%s: frame_size %s ignored; the video is %dx%d", self.path,
                           tuple(frame_size), width, height)
        self._tb = stream.time_base or Fraction(1, 1000)
        self._pts0 = int(stream.start_time) if stream.start_time is not None else 0
        nframes = int(stream.frames or 0)
        if nframes <= 0:
            nframes = len(self._get_pts_table())
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        if not fps > 0:
            table = self._get_pts_table()
            steps = np.diff(table) * float(self._tb)
            fps = 1.0 / float(np.median(steps)) if len(steps) and np.median(steps) > 0 else 30.0
        if nframes <= 0:
            self._close_handles()
            raise InputFileError(f"{self.path}: video stream has no frames")
        self._fps = fps
        self._info = VideoInfo(self.path, self.kind, width, height, nframes, fps)
        self.declared_frames = self._declared_frames(stream, fps, nframes)

    def _declared_frames(self, stream: Any, fps: float, nframes: int) -> int:
        """Frames the container's header announces: the AVI header's count, else the
        Matroska duration x the frame rate; ``nframes`` when the header says nothing.

        More than the frames that decode means the file was cut short (an interrupted
        copy): see :meth:`decodable_frames`.
        """
        if self.kind == "avi" and stream.frames:
            return max(nframes, int(stream.frames))
        duration = self._container.duration  # microseconds, from the header
        if duration and fps > 0:
            start = float(stream.start_time or 0) * float(self._tb)
            return max(nframes, int(round((duration / 1e6 - start) * fps)))
        return nframes

    def decodable_frames(self) -> int:
        """How many leading frames decode (``nframes`` for an intact file).

        The last frame is tried first; when it fails (a truncated file whose header
        still counts every frame) the last decodable frame is found by bisection,
        assuming, as for a cut-short copy, that the frames that decode are a prefix.
        """
        def decodes(index: int) -> bool:
            try:
                self.read(index, index + 1)
            except InputFileError:
                self._close_handles()  # the next read starts from a clean state
                return False
            return True

        n = self.nframes
        if n <= 0 or decodes(n - 1):
            return n
        lo, hi = 0, n - 1  # frame lo - 1 decodes (or lo == 0), frame hi does not
        if not decodes(0):
            return 0
        lo = 1
        while lo < hi:
            mid = (lo + hi) // 2
            if decodes(mid):
                lo = mid + 1
            else:
                hi = mid
        return lo

    # -- opening ---------------------------------------------------------------------------
    def _open(self) -> None:
        av = _import_av()
        try:
            container = av.open(str(self.path), mode="r")
        except (av.FFmpegError, OSError, ValueError) as err:
            raise InputFileError(f"{self.path}: not a readable video ({_av_reason(err)})"
                                 ) from None
        try:
            stream = self._select_stream(container)
        except InputFileError:
            container.close()
            raise
        if stream.codec_context is None:
            container.close()
            raise InputFileError(f"{self.path}: no decoder for video stream "
                                 f"{self._stream_index}")
        # slice threads only: frame threads delay every decoded frame by as many frames
        # as there are threads, which turns each seek (background sampling, a worker's
        # next block) into a dozen decodes; FFV1 depth video is cut into slices
        stream.thread_type = "SLICE"
        stream.codec_context.thread_count = self.threads
        self._container, self._stream = container, stream
        self._packets = None
        self._queue = deque()
        self._pending = []
        self._eof = False
        self._pos = 0

    def _select_stream(self, container: Any) -> Any:
        videos = list(container.streams.video)
        if not videos:
            raise InputFileError(f"{self.path}: no video stream")
        mapping = self.mapping
        if isinstance(mapping, str) and mapping.strip().lstrip("-").isdigit():
            mapping = int(mapping)
        if isinstance(mapping, (int, np.integer)):
            if not 0 <= mapping < len(videos):
                raise InputFileError(
                    f"{self.path}: video stream {mapping} requested but the file has "
                    f"{len(videos)}"
                )
            chosen = int(mapping)
        else:
            titles = [_stream_title(s) for s in videos]
            wanted = str(mapping).lower()
            matches = [i for i, t in enumerate(titles) if t is not None and t.lower() == wanted]
            if matches:
                chosen = matches[0]
            elif not any(titles):
                chosen = 0
            else:
                raise InputFileError(
                    f"{self.path}: no video stream titled {mapping!r} (titles: "
                    f"{', '.join(str(t) for t in titles)})"
                )
        self._stream_index = chosen
        return videos[chosen]

    def _ensure_open(self) -> None:
        if self._container is None:
            self._open()

    # -- pts bookkeeping -------------------------------------------------------------------
    def _cache_key(self) -> tuple[str, int, int, int]:
        st = self.path.stat()
        return (str(self.path.resolve()), st.st_size, st.st_mtime_ns, self._stream_index)

    def _get_pts_table(self) -> np.ndarray:
        """Presentation times of every packet of the stream, in stream time base, sorted.

        Built by demuxing the whole stream once (no decoding) and cached per file.
        """
        if self._pts_table is not None:
            return self._pts_table
        key = self._cache_key()
        table = _PTS_CACHE.get(key)
        if table is None:
            av = _import_av()
            try:
                container = av.open(str(self.path), mode="r")
            except (av.FFmpegError, OSError) as err:
                raise InputFileError(f"{self.path}: not a readable video ({_av_reason(err)})"
                                     ) from None
            try:
                stream = container.streams.video[self._stream_index]
                values: list[int] = []
                for packet in container.demux(stream):
                    if packet.size == 0:
                        continue
                    ts = packet.pts if packet.pts is not None else packet.dts
                    if ts is None:
                        ts = (values[-1] + 1) if values else 0
                    values.append(int(ts))
            except av.FFmpegError as err:
                raise InputFileError(f"{self.path}: cannot demux video ({_av_reason(err)})"
                                     ) from None
            finally:
                container.close()
            table = np.sort(np.asarray(values, dtype=np.int64))
            if len(_PTS_CACHE) >= _PTS_CACHE_MAX:
                _PTS_CACHE.pop(next(iter(_PTS_CACHE)))
            _PTS_CACHE[key] = table
        self._pts_table = table
        return table

    def _pts_of(self, index: int) -> int:
        table = self._pts_table
        if table is not None and len(table) > index:
            return int(table[index])
        return self._pts0 + int(round(index / (self._fps * float(self._tb))))

    def _index_of(self, pts: int | None) -> int:
        if pts is None:
            return self._last_idx + 1
        table = self._pts_table
        if table is not None and len(table):
            i = int(np.searchsorted(table, pts))
            if i < len(table) and table[i] == pts:
                return i
            if i == 0:
                return 0
            if i >= len(table):
                return len(table) - 1 + int(round((pts - table[-1]) * float(self._tb)
                                                  * self._fps))
            return i if table[i] - pts < pts - table[i - 1] else i - 1
        return int(round((pts - self._pts0) * float(self._tb) * self._fps))

    def container_timestamps(self) -> np.ndarray:
        """Per-frame presentation times of the stream in milliseconds (float64)."""
        table = self._get_pts_table()
        return table.astype(np.float64) * (float(self._tb) * 1000.0)

    # -- decoding --------------------------------------------------------------------------
    def _seek(self, target: int) -> None:
        av = _import_av()
        backoff = 0
        while True:
            first = max(0, target - backoff)
            try:
                if first == 0:
                    self._close_handles()
                    self._open()
                else:
                    self._container.seek(self._pts_of(first), stream=self._stream,
                                         backward=True, any_frame=False)
                    self._packets = None
                    self._queue = deque()
                    self._pending = []
                    self._eof = False
            except av.FFmpegError as err:
                raise InputFileError(f"{self.path}: cannot seek to frame {target} "
                                     f"({_av_reason(err)})") from None
            self._last_idx = first - 1
            nxt = self._peek(target)
            if first == 0 or (nxt is not None and nxt <= target):
                self._pos = target
                return
            backoff = max(16, backoff * 4)

    def _next_packet(self) -> Any | None:
        if self._packets is None:
            self._packets = self._container.demux(self._stream)
        return next(self._packets, None)

    def _decode(self, packet: Any) -> None:
        self._queue.extend(self._stream.codec_context.decode(packet))

    def _fill(self, want: int) -> bool:
        """Decode until the queue holds a frame; skip undecoded packets before ``want``.

        Packets before ``want`` are kept undecoded since the last keyframe, and decoded only
        when a packet at or after ``want`` arrives; a new keyframe drops them.
        """
        av = _import_av()
        try:
            while not self._queue:
                if self._eof:
                    return False
                packet = self._next_packet()
                if packet is None or packet.size == 0:
                    for old in self._pending:
                        self._decode(old)
                    self._pending = []
                    self._decode(None)
                    self._eof = True
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is not None and self._index_of(ts) < want:
                    if packet.is_keyframe:
                        self._pending = [packet]
                    else:
                        self._pending.append(packet)
                    continue
                for old in self._pending:
                    self._decode(old)
                self._pending = []
                self._decode(packet)
        except av.FFmpegError as err:
            raise InputFileError(f"{self.path}: cannot decode near frame {want} "
                                 f"({_av_reason(err)})") from None
        return True

    def _peek(self, want: int) -> int | None:
        """Index of the next decoded frame at or after ``want`` (left in the queue)."""
        while True:
            if not self._queue and not self._fill(want):
                return None
            frame = self._queue[0]
            idx = self._index_of(frame.pts)
            if idx >= want:
                return idx
            self._queue.popleft()
            self._last_idx = idx

    def _read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        self._ensure_open()
        if not (self._pos <= start <= self._pos + self.forward_limit) or (
            self._eof and not self._queue
        ):
            self._seek(start)
        for k, want in enumerate(range(start, stop)):
            idx = self._peek(want)
            if idx != want:
                self._pos = want
                raise InputFileError(
                    f"{self.path}: frame {want} of {self.nframes} could not be decoded "
                    f"(file truncated or frames missing?)"
                )
            frame = self._queue.popleft()
            self._last_idx = idx
            self._frame_into(frame, out[k])
        self._pos = stop

    def _frame_into(self, frame: Any, dst: np.ndarray) -> None:
        plane = frame.planes[0]
        dt = self._pixel_dtype
        row = plane.line_size // dt.itemsize
        buf = np.frombuffer(plane, dtype=dt)
        height, width = dst.shape
        dst[...] = buf[:row * height].reshape(height, row)[:, :width]

    def _close_handles(self) -> None:
        container = getattr(self, "_container", None)
        self._container = None
        self._stream = None
        self._packets = None
        self._queue = deque()
        self._pending = []
        self._eof = False
        self._pos = 0
        if container is not None:
            container.close()

    def _reset_position_state(self, state: dict[str, Any]) -> None:
        state["_queue"], state["_pending"] = deque(), []
        state["_pos"] = 0
        state["_eof"] = False
        state["_last_idx"] = -1


def _av_reason(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return " ".join(str(text).split())


