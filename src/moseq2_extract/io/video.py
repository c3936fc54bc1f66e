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
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputFileError
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
from .writers import DepthVideoWriter

__all__ = [
    "DEFAULT_FRAME_SIZE", "DatReader", "DepthReader", "PyAVReader", "TarDepthReader",
    "VideoInfo", "chunk_ranges", "depth_file_kind", "get_movie_info", "get_raw_info",
    "get_stream_names", "get_video_info", "load_movie_data", "load_timestamps_from_movie",
    "open_depth_video", "read_frames", "read_frames_raw", "read_mkv", "write_frames",
    "write_frames_preview",
]


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




# ------------------------------------------------------------------------------------------
# The original's functions (spec 6.5), over the readers above.  Pixel formats, dtypes,
# thread and slice counts of the original's ffmpeg command lines are accepted and
# ignored: each reader decodes what the file holds (native uint16 depth).
# ------------------------------------------------------------------------------------------
def _frame_indices(frames: Any, nframes: int) -> np.ndarray:
    if frames is None:
        return np.arange(nframes, dtype=np.int64)
    return np.asarray(list(frames) if isinstance(frames, range) else frames,
                      dtype=np.int64).reshape(-1)


def _read_indices(reader: DepthReader, frames: Any) -> np.ndarray:
    idx = _frame_indices(frames, reader.nframes)
    if len(idx) and np.all(np.diff(idx) == 1):
        return reader.read(int(idx[0]), int(idx[-1]) + 1)
    return reader.read_frames(idx)


def get_raw_info(filename: str | os.PathLike, bit_depth: int = 16,
                 frame_size: Sequence[int] = DEFAULT_FRAME_SIZE) -> dict[str, Any]:
    """Size of a raw ``.dat`` recording.

    Returns
    -------
    dict
        ``bytes`` (file size), ``nframes`` (complete frames), ``dims`` (width, height),
        ``bytes_per_frame``.
    """
    reader = DatReader(Path(filename), frame_size=frame_size)
    return {"bytes": Path(filename).stat().st_size, "nframes": reader.nframes,
            "dims": reader.info.dims, "bytes_per_frame": reader.bytes_per_frame}


def read_frames_raw(filename: str | os.PathLike | tarfile.TarInfo, frames: Any = None,
                    frame_size: Sequence[int] = DEFAULT_FRAME_SIZE, bit_depth: int = 16,
                    movie_dtype: str = "<u2", **kwargs: Any) -> np.ndarray:
    """Frames of a raw ``.dat`` file (or of the ``depth.dat`` member of the open archive
    ``tar=`` when ``filename`` is its ``TarInfo``).

    Returns
    -------
    ndarray, (n, height, width) uint16
    """
    reader: DepthReader
    if isinstance(filename, tarfile.TarInfo):
        reader = TarDepthReader(_archive_of(kwargs), frame_size=frame_size,
                                member=filename.name)
    else:
        reader = DatReader(Path(filename), frame_size=frame_size)
    with reader:
        return _read_indices(reader, frames)


def _archive_of(kwargs: dict[str, Any]) -> str:
    tar = kwargs.get("tar")
    if tar is None or getattr(tar, "name", None) is None:
        raise ValueError("reading a TarInfo member needs the open archive as tar=")
    return str(tar.name)


def get_stream_names(filename: str | os.PathLike, stream_tag: str = "title") -> dict[str, int]:
    """``{stream title: index among the video streams}`` of a video file (``{"DEPTH": 0}``
    when no stream has a title)."""
    import av

    with av.open(str(filename)) as container:
        names = {}
        for i, stream in enumerate(container.streams.video):
            for key, value in stream.metadata.items():
                if key.lower() == stream_tag.lower():
                    names[str(value)] = i
    return names or {"DEPTH": 0}


def get_video_info(filename: str | os.PathLike, mapping: str | int = "DEPTH", threads: int = 8,
                   count_frames: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Frame size, rate and count of a video: depth video (``.avi`` / ``.mkv``, the
    ``mapping`` stream), raw ``.dat`` / archives, and any other video PyAV reads (8-bit
    H.264 ``.mp4`` previews and crowd movies: the first video stream).

    Returns
    -------
    dict
        ``file``, ``dims`` (width, height), ``fps`` (float), ``nframes`` (int, or None when
        the container does not say and ``count_frames`` is False).
    """
    path = Path(os.fspath(filename))
    try:
        kind = depth_file_kind(path)
    except InputFileError:
        kind = "other"
    if kind != "other":
        with open_depth_video(path, mapping=mapping, threads=threads) as reader:
            info = reader.info
        return {"file": str(path), "dims": info.dims, "fps": float(info.fps),
                "nframes": int(info.nframes)}
    import av

    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as err:
        raise InputFileError(f"{path}: not a readable video ({err})") from None
    with container:
        if not container.streams.video:
            raise InputFileError(f"{path}: no video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        nframes: int | None = int(stream.frames) if stream.frames else None
        if nframes is None and count_frames:
            nframes = sum(1 for _ in container.demux(stream) if _.size)
        return {"file": str(path), "dims": (int(stream.codec_context.width),
                                            int(stream.codec_context.height)),
                "fps": float(rate) if rate else 0.0, "nframes": nframes}


def get_movie_info(filename: str | os.PathLike, frame_size: Sequence[int] = DEFAULT_FRAME_SIZE,
                   bit_depth: int = 16, mapping: str | int = "DEPTH", threads: int = 8,
                   **kwargs: Any) -> dict[str, Any]:
    """:func:`get_raw_info` for ``.dat`` files, :func:`get_video_info` for the rest."""
    if str(filename).lower().endswith(".dat"):
        return get_raw_info(filename, bit_depth=bit_depth, frame_size=frame_size)
    return get_video_info(filename, mapping=mapping, threads=threads, **kwargs)


def read_frames(filename: str | os.PathLike, frames: Any = range(0), threads: int = 6,
                fps: float = 30, frames_is_timestamp: bool = False,
                pixel_format: str = "gray16le", movie_dtype: str = "uint16",
                frame_size: Sequence[int] | None = None, slices: int = 24, slicecrc: int = 1,
                mapping: str | int = "DEPTH", get_cmd: bool = False, finfo: Any = None,
                **kwargs: Any) -> np.ndarray:
    """Frames of a depth video (``.avi`` / ``.mkv``) by index.

    Any list of indices is read exactly (the original read a contiguous run from the first
    index, spec 7.1-32, and seeked by ``fps``); ``frames_is_timestamp`` is accepted for the
    signature, frames are always indices.  An empty ``frames`` reads every frame.

    Returns
    -------
    ndarray, (n, height, width) uint16
    """
    with PyAVReader(Path(filename), mapping=mapping, threads=threads) as reader:
        picked = None if frames is None or len(frames) == 0 else frames
        return _read_indices(reader, picked)


def read_mkv(filename: str | os.PathLike, frames: Any = range(0), pixel_format: str = "gray16be",
             movie_dtype: str = "uint16", frames_is_timestamp: bool = True,
             timestamps: Any = None, **kwargs: Any) -> np.ndarray:
    """Frames of an Azure ``.mkv`` by index (see :func:`read_frames`)."""
    return read_frames(filename, frames, mapping=kwargs.pop("mapping", "DEPTH"),
                       threads=kwargs.pop("threads", 0))


def load_movie_data(filename: str | os.PathLike | tarfile.TarInfo, frames: Any = None,
                    frame_size: Sequence[int] = DEFAULT_FRAME_SIZE, bit_depth: int = 16,
                    **kwargs: Any) -> np.ndarray:
    """Frames of any depth recording: ``.dat``, ``.avi``, ``.mkv``, a ``.tar.gz`` archive,
    or a ``TarInfo`` member with the open archive as ``tar=``.

    Parameters
    ----------
    frames : iterable of int, optional
        Frame indices (a ``range`` or a list); None reads every frame.
    frame_size : (width, height)
        Frame size of raw data (video files carry their own).
    kwargs
        A whole config may be passed; ``mapping`` and ``threads`` are used.

    Returns
    -------
    ndarray, (n, height, width) uint16
    """
    if isinstance(filename, tarfile.TarInfo):
        return read_frames_raw(filename, frames, frame_size=frame_size, **kwargs)
    kind = depth_file_kind(Path(filename))
    size = frame_size if kind in ("dat", "tar") else None
    with open_depth_video(filename, mapping=kwargs.get("mapping", "DEPTH"), frame_size=size,
                          threads=int(kwargs.get("threads", 0) or 0)) as reader:
        return _read_indices(reader, frames)


def load_timestamps_from_movie(input_file: str | os.PathLike, threads: int = 8,
                               mapping: str | int = "DEPTH") -> np.ndarray:
    """Per-frame presentation times of a video's depth stream, in milliseconds (the
    original returned seconds for ``.mkv``; spec 7.1-22).

    Returns
    -------
    ndarray, (n,) float64
    """
    with PyAVReader(Path(input_file), mapping=mapping, threads=threads) as reader:
        return np.asarray(reader.container_timestamps(), dtype=np.float64)


def write_frames(filename: str | os.PathLike, frames: np.ndarray, threads: int = 6,
                 fps: float = 30, pixel_format: str = "gray16le", codec: str = "ffv1",
                 close_pipe: bool = True, pipe: DepthVideoWriter | None = None,
                 frame_dtype: str = "uint16", slices: int = 24, slicecrc: int = 1,
                 frame_size: Any = None, get_cmd: bool = False) -> DepthVideoWriter | None:
    """Append 16-bit depth frames to a lossless video (FFV1 ``.avi`` by default).

    Returns the open writer to pass back as ``pipe`` for the next frames, or None when
    ``close_pipe`` (the file is then complete; it appears under its name only then).
    """
    frames = np.asarray(frames)
    if pipe is None:
        height, width = frames.shape[1:3]
        pipe = DepthVideoWriter(Path(filename), width=int(width), height=int(height), fps=fps,
                                codec=codec, pixel_format=pixel_format, threads=threads)
    pipe.write(frames.astype(np.uint16, copy=False))
    if close_pipe:
        pipe.close()
        return None
    return pipe


def write_frames_preview(filename: str | os.PathLike, frames: np.ndarray | None = None,
                         threads: int = 6, fps: float = 30, pixel_format: str = "rgb24",
                         codec: str = "h264", slices: int = 24, slicecrc: int = 1,
                         frame_size: Any = None, depth_min: float = 0, depth_max: float = 80,
                         get_cmd: bool = False, cmap: str = "jet", pipe: Any = None,
                         close_pipe: bool = True, frame_range: Any = None,
                         progress_bar: bool = False) -> Any:
    """Append height frames, coloured with ``jet`` over ``depth_min .. depth_max`` mm, to
    an H.264 ``.mp4`` (encoded in-process with PyAV, no ffmpeg binary).

    Parameters
    ----------
    frames : ndarray, (n, h, w)
        Heights (mm).
    pipe : handle, optional
        The handle returned by the previous call for the same file.
    close_pipe : bool
        Finish the file now (otherwise call ``.communicate()`` on the returned handle, as
        on the original's ffmpeg process).
    frame_range : iterable of int, optional
        Frame numbers drawn on the frames.

    Returns
    -------
    handle or None
        The open movie (``.write(frames)``, ``.communicate()``), or None when closed.
    """
    # the movie encoder lives in the output layer; imported here, at the original's path
    from ..output.frames_movie import FramesPreview

    if pipe is None:
        pipe = FramesPreview(filename, fps=fps, depth_min=depth_min, depth_max=depth_max)
    pipe.write(np.zeros((0, 0, 0)) if frames is None else np.asarray(frames), frame_range)
    if close_pipe:
        pipe.communicate()
        return None
    return pipe
