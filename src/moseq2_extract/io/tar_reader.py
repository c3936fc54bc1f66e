"""``.tar.gz`` sessions: the ``depth.dat`` member streamed forward once."""

from __future__ import annotations

import logging
import tarfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputFileError
from .reader_base import (
    _BIG_ENDIAN_HOST,
    _DEPTH_MEMBER,
    DepthReader,
    VideoInfo,
    _frame_size,
    whole_frames,
)

logger = logging.getLogger(__name__)


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
        nframes = whole_frames(size, width, height, what=f"{self.path}: member {member}")
        self.bytes_per_frame = width * height * 2
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
            view = out.data.cast("B")
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


