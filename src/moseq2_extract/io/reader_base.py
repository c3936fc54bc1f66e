"""Depth-video reader base: frame info, chunking, the reader interface."""

from __future__ import annotations

import abc
import contextlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputFileError
from ..paths import is_archive

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
    if is_archive(path):
        return "tar"
    name = Path(path).name.lower()
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


class DepthReader(abc.ABC):
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

    def read_region(self, start: int, stop: int, region: tuple[int, int, int, int], *,
                    out: np.ndarray | None = None) -> np.ndarray:
        """Read frames ``start .. stop - 1`` cropped to ``region``.

        Parameters
        ----------
        start, stop : int
            Half-open frame range.
        region : (y0, y1, x0, x1)
            Rows and columns to keep (end-exclusive).
        out : ndarray, optional
            ``(stop - start, y1 - y0, x1 - x0)`` uint16 array to fill (a buffer reused from
            block to block saves the kernel zeroing fresh memory for every block).

        Returns
        -------
        np.ndarray
            ``(stop - start, y1 - y0, x1 - x0)`` uint16, C-contiguous (``out`` if given).
        """
        y0, y1, x0, x1 = region
        frames = self.read(start, stop)[:, y0:y1, x0:x1]
        if out is None:
            return np.ascontiguousarray(frames)
        _check_out(out, frames.shape, self.path)
        np.copyto(out, frames)
        return out

    def region_view(self, start: int, stop: int, region: tuple[int, int, int, int], *,
                    out: np.ndarray | None = None) -> np.ndarray:
        """Frames ``start .. stop - 1`` cropped to ``region``, without a copy where the
        reader can (a read-only view into a memory-mapped file, valid until
        :meth:`release` or :meth:`close`); otherwise :meth:`read_region` into ``out``.

        Returns
        -------
        np.ndarray
            ``(stop - start, y1 - y0, x1 - x0)`` uint16, rows possibly strided.
        """
        return self.read_region(start, stop, region, out=out)

    def release(self, start: int, stop: int) -> None:  # noqa: B027 - optional hook
        """Forget frames ``start .. stop - 1`` of views handed out by :meth:`region_view`
        (their pages leave this process's memory); a no-op for readers that copy."""

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
        self._read_into(start, stop, out)
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

    def container_timestamps(self) -> np.ndarray | None:
        """Per-frame presentation times in milliseconds, or None when the format has none."""
        return None

    def close(self) -> None:
        """Release open files (the reader reopens them if used again)."""
        self._close_handles()

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
    @abc.abstractmethod
    def _read_into(self, start: int, stop: int, out: np.ndarray) -> None:
        """Fill ``out`` with frames ``start .. stop - 1`` (native uint16)."""

    def _close_handles(self) -> None:  # noqa: B027 - optional hook
        """Drop open file handles (subclasses that hold some)."""

    def _reset_position_state(self, state: dict[str, Any]) -> None:  # noqa: B027 - hook
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


def _check_out(out: np.ndarray, shape: tuple[int, ...], path: Path) -> None:
    if out.shape != tuple(shape) or out.dtype != np.uint16:
        raise ValueError(f"{path}: output buffer is {out.dtype} {out.shape}, "
                         f"expected uint16 {tuple(shape)}")


def whole_frames(size: int, width: int, height: int, *, what: str) -> int:
    """Number of complete uint16 frames in ``size`` bytes; a partial last one is dropped.

    Parameters
    ----------
    what : str
        The data, for messages (e.g. ``"depth.dat"`` or ``"archive.tgz: member depth.dat"``).

    Raises
    ------
    InputFileError
        If not even one frame fits.
    """
    bytes_per_frame = width * height * 2
    nframes = size // bytes_per_frame
    if nframes == 0:
        raise InputFileError(f"{what}: {size} bytes is less than one {width}x{height} "
                             f"uint16 frame ({bytes_per_frame} bytes)")
    extra = size - nframes * bytes_per_frame
    if extra:
        logger.warning("%s: %d trailing bytes do not make a whole %dx%d frame; the partial "
                       "last frame is ignored (%d complete frames)", what, extra, width,
                       height, nframes)
    return nframes


def _frame_size(frame_size: Sequence[int] | None) -> tuple[int, int]:
    if frame_size is None:
        return DEFAULT_FRAME_SIZE
    width, height = (int(v) for v in frame_size)
    if width < 1 or height < 1:
        raise ValueError(f"frame_size must be two positive integers (width, height), "
                         f"got {frame_size!r}")
    return width, height

