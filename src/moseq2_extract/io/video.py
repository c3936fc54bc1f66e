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

import os
from collections.abc import Sequence
from pathlib import Path

from .dat_reader import DatReader
from .pyav_reader import PyAVReader
from .reader_base import (
    DEFAULT_FRAME_SIZE,
    DepthReader,
    VideoInfo,
    chunk_ranges,
    depth_file_kind,
)
from .tar_reader import TarDepthReader

__all__ = ["DEFAULT_FRAME_SIZE", "DatReader", "DepthReader", "PyAVReader", "TarDepthReader",
           "VideoInfo", "chunk_ranges", "depth_file_kind", "open_depth_video"]


def open_depth_video(
    path: str | os.PathLike,
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
