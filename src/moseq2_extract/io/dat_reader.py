"""Raw ``.dat`` depth frames through a memory map."""

from __future__ import annotations

import logging
import mmap
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputFileError
from .reader_base import DepthReader, VideoInfo, _check_out, _frame_size, whole_frames

logger = logging.getLogger(__name__)


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
        nframes = whole_frames(size, width, height, what=str(self.path))
        self.bytes_per_frame = width * height * 2
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

    def _frames(self, start: int, stop: int) -> np.ndarray:
        """Read-only view of frames ``start .. stop - 1`` in the map (range checked)."""
        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= self.nframes:
            raise ValueError(
                f"{self.path}: frame range [{start}, {stop}) is outside [0, {self.nframes})"
            )
        return self._memmap()[start:stop]

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.array(self._frames(start, stop), dtype=np.uint16)
        self._release(int(start), int(stop))
        return out

    def read_region(self, start: int, stop: int, region: tuple[int, int, int, int], *,
                    out: np.ndarray | None = None) -> np.ndarray:
        frames = self.region_view(start, stop, region)
        if out is None:
            out = np.array(frames, dtype=np.uint16)
        else:
            _check_out(out, frames.shape, self.path)
            np.copyto(out, frames)
        self._release(int(start), int(stop))
        return out

    def region_view(self, start: int, stop: int, region: tuple[int, int, int, int], *,
                    out: np.ndarray | None = None) -> np.ndarray:
        """A read-only view into the memory-mapped file (``out`` is not used): no copy,
        and the kernel maps the page-cache pages in batches; :meth:`release` drops them."""
        y0, y1, x0, x1 = region
        return self._frames(start, stop)[:, y0:y1, x0:x1]

    def release(self, start: int, stop: int) -> None:
        self._release(int(start), int(stop))

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


