"""Depth-video readers: raw ``.dat``, FFV1/raw ``.avi`` / ``.mkv`` (PyAV) and ``.tar.gz`` sessions.

Every reader returns frames as native-endian ``uint16`` arrays of shape ``(n, H, W)`` (depth
in millimetres, 0 = invalid) and is picklable: open file handles are dropped when pickled
and reopened lazily on the next read, which is what process pools and Dask need.

* ``.dat`` -- headerless little-endian frames, read through ``np.memmap`` (never loaded
  whole).  The frame size is 512 x 424 unless ``frame_size`` says otherwise.
* ``.avi`` / ``.mkv`` -- any 16-bit grey video stream (FFV1 ``gray16le`` AVI, Azure Kinect
  Matroska with a raw ``b16g`` = ``gray16be`` track titled ``DEPTH``) decoded with PyAV.  The
  decoder position is kept between calls, so consecutive chunks are decoded once; random
  access seeks to the preceding keyframe and decodes forward to the exact frame.
* ``.tar.gz`` / ``.tgz`` -- the ``depth.dat`` member is streamed forward through the gzip
  stream once; only a backwards read reopens the archive.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import sys
import tarfile
import zlib
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputFileError

logger = logging.getLogger(__name__)

DEFAULT_FRAME_SIZE = (512, 424)
"""(width, height) of a Kinect v2 depth frame, the default for raw ``.dat`` data."""

_DEPTH_MEMBER = "depth.dat"
_BIG_ENDIAN_HOST = sys.byteorder == "big"


@dataclass(frozen=True)
class VideoInfo:
    """Static description of one depth recording.

    Attributes
    ----------
    path : Path
        The depth file (the archive for ``tar`` sessions).
    kind : str
        ``'dat'``, ``'avi'``, ``'mkv'`` or ``'tar'``.
    width, height : int
        Frame size in pixels.
    nframes : int
        Number of complete frames that can be read.
    fps : float
        Nominal frame rate in frames per second (30 for raw data, the container's rate for
        video).
    """

    path: Path
    kind: str
    width: int
    height: int
    nframes: int
    fps: float

    @property
    def dims(self) -> tuple[int, int]:
        """``(width, height)`` as in the original's ``finfo['dims']``."""
        return (self.width, self.height)


def depth_file_kind(path: str | Path) -> str:
    """Classify a depth file by its name.

    Parameters
    ----------
    path : path-like
        A depth file.

    Returns
    -------
    str
        ``'dat'``, ``'avi'``, ``'mkv'`` or ``'tar'``.

    Raises
    ------
    InputFileError
        If the suffix is none of ``.dat``, ``.avi``, ``.mkv``, ``.tar.gz``, ``.tgz``.
    """
    name = Path(path).name.lower()
    if name.endswith((".tar.gz", ".tgz")):
        return "tar"
    for suffix in ("dat", "avi", "mkv"):
        if name.endswith("." + suffix):
            return suffix
    raise InputFileError(
        f"{path}: unsupported depth file type (expected .dat, .avi, .mkv, .tar.gz or .tgz)"
    )


def chunk_ranges(
    start: int, stop: int, chunk_size: int, overlap: int = 0
) -> list[range]:
    """Frame ranges of consecutive chunks, as the original's ``gen_batch_sequence``.

    Chunks are ``seq[i:i + chunk_size]`` for ``i`` in ``range(0, len(seq) - overlap,
    chunk_size - overlap)`` over ``seq = range(start, stop)``; e.g. ``(0, 25, 10, 5)`` gives
    ``[0:10], [5:15], [10:20], [15:25]``.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    if not 0 <= overlap < chunk_size:
        raise ValueError(f"overlap must be in [0, chunk_size), got {overlap}")
    seq = range(start, max(start, stop))
    return [seq[i:i + chunk_size] for i in range(0, len(seq) - overlap, chunk_size - overlap)]


class DepthReader:
    """Base class of the depth readers.

    Subclasses implement :meth:`_read_into` (contiguous frames into a preallocated array)
    and :meth:`_close_handles`; the base class adds range checks, a small tail cache for
    overlapping chunks, sparse reads, chunk iteration, pickling and context management.

    Attributes
    ----------
    path : Path
        The depth file.
    kind : str
        ``'dat'``, ``'avi'``, ``'mkv'`` or ``'tar'``.
    """

    kind = "?"
    _HANDLES: tuple[str, ...] = ()

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._info: VideoInfo | None = None
        self._tail_keep = 0
        self._tail: tuple[int, np.ndarray] | None = None

    # -- public API ------------------------------------------------------------------------
    @property
    def info(self) -> VideoInfo:
        """Frame size, frame count and rate of the recording."""
        assert self._info is not None
        return self._info

    @property
    def nframes(self) -> int:
        """Number of readable frames."""
        return self.info.nframes

    @property
    def frame_shape(self) -> tuple[int, int]:
        """``(height, width)`` of one frame."""
        return (self.info.height, self.info.width)

    def __len__(self) -> int:
        return self.nframes

    def read_region(self, start: int, stop: int, region: tuple[int, int, int, int]
                    ) -> np.ndarray:
        """Read frames ``start .. stop - 1`` cropped to ``region``.

        Parameters
        ----------
        start, stop : int
            Half-open frame range.
        region : (y0, y1, x0, x1)
            Rows and columns to keep (end-exclusive).

        Returns
        -------
        np.ndarray
            ``(stop - start, y1 - y0, x1 - x0)`` uint16, C-contiguous.
        """
        y0, y1, x0, x1 = region
        return np.ascontiguousarray(self.read(start, stop)[:, y0:y1, x0:x1])

    def read(self, start: int, stop: int) -> np.ndarray:
        """Read the contiguous frames ``start .. stop - 1``.

        Parameters
        ----------
        start, stop : int
            Half-open frame range, ``0 <= start <= stop <= nframes``.

        Returns
        -------
        np.ndarray
            ``(stop - start, H, W)`` uint16, C-contiguous, owned by the caller.
        """
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= self.nframes:
            raise ValueError(
                f"{self.path}: frame range [{start}, {stop}) is outside [0, {self.nframes})"
            )
        height, width = self.frame_shape
        out = np.empty((stop - start, height, width), dtype=np.uint16)
        if stop == start:
            return out
        done = start
        if self._tail is not None:
            t0, tail = self._tail
            if t0 <= start < t0 + len(tail):
                k = min(stop, t0 + len(tail)) - start
                out[:k] = tail[start - t0:start - t0 + k]
                done = start + k
        if done < stop:
            self._read_into(done, stop, out[done - start:])
        if self._tail_keep > 0:
            keep = min(self._tail_keep, len(out))
            self._tail = (stop - keep, out[len(out) - keep:].copy())
        return out

    def read_frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Read arbitrary frames, efficiently when ``indices`` are sorted and sparse.

        Parameters
        ----------
        indices : sequence of int
            Frame indices in ``[0, nframes)``; any order, repeats allowed.

        Returns
        -------
        np.ndarray
            ``(len(indices), H, W)`` uint16, frames in the order of ``indices``.
        """
        idx = self._check_indices(indices)
        height, width = self.frame_shape
        out = np.empty((len(idx), height, width), dtype=np.uint16)
        if len(idx) == 0:
            return out
        order = np.argsort(idx, kind="stable")
        sorted_idx = idx[order]
        # group consecutive runs so that each run is a single contiguous read
        breaks = np.flatnonzero(np.diff(sorted_idx) > 1) + 1
        pos = 0
        for run in np.split(sorted_idx, breaks):
            uniq = np.unique(run)
            block = self.read(int(uniq[0]), int(uniq[-1]) + 1)
            out[order[pos:pos + len(run)]] = block[run - uniq[0]]
            pos += len(run)
        return out

    def iter_chunks(
        self, chunk_size: int, *, start: int = 0, stop: int | None = None, overlap: int = 0
    ) -> Iterator[tuple[range, np.ndarray]]:
        """Iterate over consecutive, optionally overlapping chunks of frames.

        Parameters
        ----------
        chunk_size : int
            Frames per chunk (the last chunk may be shorter).
        start, stop : int
            Frame range to cover (``stop`` defaults to ``nframes``).
        overlap : int
            Frames shared by consecutive chunks; they are served from memory, not re-read.

        Yields
        ------
        (range, np.ndarray)
            The chunk's frame indices and its ``(len(range), H, W)`` uint16 frames.
        """
        stop = self.nframes if stop is None else min(int(stop), self.nframes)
        ranges = chunk_ranges(int(start), stop, chunk_size, overlap)
        previous = self._tail_keep
        self._tail_keep = max(previous, overlap)
        try:
            for rng in ranges:
                yield rng, self.read(rng.start, rng.stop)
        finally:
            self._tail_keep = previous
            if previous == 0:
                self._tail = None

    def container_timestamps(self) -> np.ndarray | None:
        """Per-frame presentation times in milliseconds, or None when the format has none."""
        return None

    def close(self) -> None:
        """Release open files (the reader reopens them if used again)."""
        self._close_handles()
        self._tail = None

    def __enter__(self) -> DepthReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # never raise from a finaliser
            self._close_handles()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in self._HANDLES:
            state[name] = None
        state["_tail"] = None
        self._reset_position_state(state)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        info = self._info
        if info is None:
            return f"{type(self).__name__}({str(self.path)!r})"
        return (f"{type(self).__name__}({str(self.path)!r}, {info.width}x{info.height}, "
                f"{info.nframes} frames)")

    # -- for subclasses ----------------------------------------------------------------------
    def _read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        raise NotImplementedError

    def _close_handles(self) -> None:
        pass

    def _reset_position_state(self, state: dict[str, Any]) -> None:
        """Adjust a pickled state so that the copy reopens its files on first use."""

    def _check_indices(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices)
        if idx.ndim != 1:
            raise ValueError(f"{self.path}: frame indices must be one-dimensional")
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(f"{self.path}: frame indices must be integers")
        idx = idx.astype(np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= self.nframes):
            raise ValueError(
                f"{self.path}: frame indices must lie in [0, {self.nframes}), "
                f"got {idx.min()}..{idx.max()}"
            )
        return idx


def _frame_size(frame_size: Sequence[int] | None) -> tuple[int, int]:
    if frame_size is None:
        return DEFAULT_FRAME_SIZE
    width, height = (int(v) for v in frame_size)
    if width < 1 or height < 1:
        raise ValueError(f"frame_size must be two positive integers (width, height), "
                         f"got {frame_size!r}")
    return width, height


# ------------------------------------------------------------------------------------------
# raw .dat
# ------------------------------------------------------------------------------------------
class DatReader(DepthReader):
    """Raw little-endian uint16 frames (Kinect ``depth.dat``) through ``np.memmap``.

    Parameters
    ----------
    path : path-like
        The ``.dat`` file.
    frame_size : (width, height), optional
        Frame size; 512 x 424 by default.
    fps : float
        Nominal frame rate recorded in :attr:`info` (raw data carries none).
    """

    kind = "dat"
    _HANDLES = ("_mm", "_map")

    def __init__(self, path: str | Path, *, frame_size: Sequence[int] | None = None,
                 fps: float = 30.0):
        super().__init__(path)
        width, height = _frame_size(frame_size)
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            raise InputFileError(f"{self.path}: no such file") from None
        except OSError as err:
            raise InputFileError(f"{self.path}: cannot read ({err.strerror or err})") from None
        if not self.path.is_file():
            raise InputFileError(f"{self.path}: not a regular file")
        if size == 0:
            raise InputFileError(f"{self.path}: empty file (0 bytes)")
        bytes_per_frame = width * height * 2
        nframes = size // bytes_per_frame
        if nframes == 0:
            raise InputFileError(
                f"{self.path}: {size} bytes is less than one {width}x{height} uint16 frame "
                f"({bytes_per_frame} bytes)"
            )
        extra = size - nframes * bytes_per_frame
        if extra:
            logger.warning(
                "%s: %d trailing bytes do not make a whole %dx%d frame; the partial last "
                "frame is ignored (%d complete frames)", self.path, extra, width, height,
                nframes,
            )
        self.bytes_per_frame = bytes_per_frame
        self._mm: np.ndarray | None = None
        self._map: mmap.mmap | None = None
        self._info = VideoInfo(self.path, "dat", width, height, int(nframes), float(fps))

    def _memmap(self) -> np.ndarray:
        if self._mm is None:
            info = self.info
            try:
                with open(self.path, "rb") as fh:
                    self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
                count = info.nframes * info.height * info.width
                self._mm = np.frombuffer(self._map, dtype="<u2", count=count).reshape(
                    info.nframes, info.height, info.width)
            except (OSError, ValueError) as err:
                raise InputFileError(f"{self.path}: cannot map file ({err})") from None
        return self._mm

    def _release(self, start: int, stop: int) -> None:
        """Drop the mapped pages of frames [start, stop) from this process's memory.

        The frames were copied out; without this the resident set would grow with every
        page of the file read so far.
        """
        if self._map is None or not hasattr(self._map, "madvise"):
            return
        page = mmap.PAGESIZE
        lo = (start * self.bytes_per_frame) // page * page
        hi = min(len(self._map), stop * self.bytes_per_frame)
        if hi > lo:
            self._map.madvise(mmap.MADV_DONTNEED, lo, hi - lo)

    def read(self, start: int, stop: int) -> np.ndarray:
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= self.nframes:
            raise ValueError(
                f"{self.path}: frame range [{start}, {stop}) is outside [0, {self.nframes})"
            )
        out = np.array(self._memmap()[start:stop], dtype=np.uint16)
        self._release(start, stop)
        return out

    def read_region(self, start: int, stop: int, region: tuple[int, int, int, int]
                    ) -> np.ndarray:
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= self.nframes:
            raise ValueError(
                f"{self.path}: frame range [{start}, {stop}) is outside [0, {self.nframes})"
            )
        y0, y1, x0, x1 = region
        out = np.array(self._memmap()[start:stop, y0:y1, x0:x1], dtype=np.uint16)
        self._release(start, stop)
        return out

    def read_frames(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = self._check_indices(indices)
        out = np.array(self._memmap()[idx], dtype=np.uint16)
        for i in np.asarray(idx).ravel():
            self._release(int(i), int(i) + 1)
        return out

    def _read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        out[...] = self._memmap()[start:stop]
        self._release(start, stop)

    def _close_handles(self) -> None:
        # reads return copies, so dropping the map releases the file
        self._mm = None
        self._map = None


# ------------------------------------------------------------------------------------------
# .tar.gz sessions
# ------------------------------------------------------------------------------------------
def _member_name(name: str) -> str:
    return name[2:] if name.startswith("./") else name


class TarDepthReader(DepthReader):
    """The ``depth.dat`` member of a gzip tarball, streamed forward once.

    Reading chunks in increasing order decompresses the archive once; a read that starts
    before the current stream position reopens the archive (counted in :attr:`open_count`).

    Parameters
    ----------
    path : path-like
        The ``.tar.gz`` / ``.tgz`` archive.
    frame_size : (width, height), optional
        Frame size of ``depth.dat``; 512 x 424 by default.
    fps : float
        Nominal frame rate recorded in :attr:`info`.
    member : str
        Name of the depth member at the archive root.
    """

    kind = "tar"
    _HANDLES = ("_tf", "_fobj")

    def __init__(self, path: str | Path, *, frame_size: Sequence[int] | None = None,
                 fps: float = 30.0, member: str = _DEPTH_MEMBER):
        super().__init__(path)
        if not self.path.exists():
            raise InputFileError(f"{self.path}: no such file")
        width, height = _frame_size(frame_size)
        self.member = member
        self.open_count = 0
        self._tf: tarfile.TarFile | None = None
        self._fobj: Any = None
        self._pos = 0
        size = self._open_stream()
        bytes_per_frame = width * height * 2
        nframes = size // bytes_per_frame
        if nframes == 0:
            raise InputFileError(
                f"{self.path}: member {member} ({size} bytes) holds no complete "
                f"{width}x{height} frame"
            )
        if size % bytes_per_frame:
            logger.warning(
                "%s: member %s has %d trailing bytes that do not make a whole frame; the "
                "partial last frame is ignored (%d complete frames)", self.path, member,
                size % bytes_per_frame, nframes,
            )
        self.bytes_per_frame = bytes_per_frame
        self._info = VideoInfo(self.path, "tar", width, height, int(nframes), float(fps))

    def _open_stream(self) -> int:
        """(Re)open the archive and position the stream at the start of the depth member."""
        self._close_handles()
        self.open_count += 1
        try:
            tf = tarfile.open(self.path, "r:gz")  # noqa: SIM115 - kept open for streaming
            member = None
            while True:
                info = tf.next()
                if info is None:
                    break
                if _member_name(info.name) == self.member and info.isfile():
                    member = info
                    break
            if member is None:
                tf.close()
                raise InputFileError(f"{self.path}: archive has no {self.member} member")
            fobj = tf.extractfile(member)
        except InputFileError:
            raise
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            raise InputFileError(f"{self.path}: cannot read archive ({err})") from None
        self._tf, self._fobj, self._pos = tf, fobj, 0
        return int(member.size)

    def _read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        if self._fobj is None or start < self._pos:
            if self._fobj is not None:
                logger.debug("%s: reading backwards (frame %d < %d); reopening the archive",
                             self.path, start, self._pos)
            self._open_stream()
        bpf = self.bytes_per_frame
        try:
            if start > self._pos:
                self._skip((start - self._pos) * bpf)
                self._pos = start
            view = memoryview(out).cast("B")
            got = 0
            while got < len(view):
                n = self._fobj.readinto(view[got:])
                if not n:
                    break
                got += n
        except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
            self._close_handles()
            raise InputFileError(f"{self.path}: cannot read {self.member} ({err})") from None
        if got < len(view):
            self._close_handles()
            raise InputFileError(
                f"{self.path}: {self.member} ended after {self._pos + got // bpf} frames "
                f"(archive truncated?)"
            )
        self._pos = stop
        if _BIG_ENDIAN_HOST:
            out.byteswap(inplace=True)

    def _skip(self, nbytes: int) -> None:
        buf = bytearray(min(nbytes, 1 << 22))
        view = memoryview(buf)
        while nbytes > 0:
            n = self._fobj.readinto(view[:min(nbytes, len(buf))])
            if not n:
                raise EOFError("unexpected end of member")
            nbytes -= n

    def _close_handles(self) -> None:
        tf = getattr(self, "_tf", None)
        self._tf = None
        self._fobj = None
        self._pos = 0
        if tf is not None:
            tf.close()

    def _reset_position_state(self, state: dict[str, Any]) -> None:
        state["_pos"] = 0
        state["open_count"] = 0


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

    _HANDLES = ("_container", "_stream", "_packets", "_queue", "_pending")
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
        self._queue: deque[Any] | None = None
        self._pending: list[Any] | None = None
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
        stream = self._stream
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
        stream.thread_type = "AUTO"
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
                values = []
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
        self._queue = None
        self._pending = None
        self._eof = False
        self._pos = 0
        if container is not None:
            container.close()

    def _reset_position_state(self, state: dict[str, Any]) -> None:
        state["_pos"] = 0
        state["_eof"] = False
        state["_last_idx"] = -1


def _av_reason(err: BaseException) -> str:
    text = getattr(err, "strerror", None) or str(err)
    return " ".join(str(text).split())


def open_depth_video(
    path: str | Path,
    *,
    mapping: str | int = "DEPTH",
    frame_size: Sequence[int] | None = None,
    threads: int = 0,
) -> DepthReader:
    """Open a depth recording for reading.

    Parameters
    ----------
    path : path-like
        ``*.dat``, ``*.avi``, ``*.mkv``, ``*.tar.gz`` or ``*.tgz``.
    mapping : str or int
        Video stream to read (``.avi`` / ``.mkv``): a stream title or an index among the
        video streams.
    frame_size : (width, height), optional
        Frame size of raw data (``.dat``, ``.tar.gz``); 512 x 424 by default.
    threads : int
        Video decoder threads (0 = automatic).

    Returns
    -------
    DepthReader
        A reader; use it as a context manager or call ``close()``.

    Raises
    ------
    InputFileError
        Missing, empty, unreadable or unsupported file.
    """
    path = Path(os.fspath(path))
    kind = depth_file_kind(path)
    if kind == "dat":
        return DatReader(path, frame_size=frame_size)
    if kind == "tar":
        return TarDepthReader(path, frame_size=frame_size)
    return PyAVReader(path, mapping=mapping, threads=threads, frame_size=frame_size)


__all__ = [
    "DEFAULT_FRAME_SIZE",
    "DatReader",
    "DepthReader",
    "PyAVReader",
    "TarDepthReader",
    "VideoInfo",
    "chunk_ranges",
    "depth_file_kind",
    "open_depth_video",
]
