"""Lossless copies of depth recordings: ``convert-raw-to-avi`` and ``copy-slice``.

A copy is written under a temporary name, read back chunk by chunk and compared with the
source (memory bounded by the chunk size), and only then renamed into place; the source is
deleted only after that, and only when asked.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ExtractionError, InputFileError
from ..paths import atomic_path, session_stem

logger = logging.getLogger(__name__)

__all__ = ["ConversionError", "convert_to_avi", "copy_frames"]


class ConversionError(ExtractionError, RuntimeError):
    """A converted video does not read back identical to its source."""


# ------------------------------------------------------------------------------------------
def _frame_size_of(path: Path) -> tuple[int, int] | None:
    """DepthResolution from ``metadata.json`` next to a ``.dat`` (None when absent)."""
    meta = path.parent / "metadata.json"
    if path.suffix.lower() != ".dat" or not meta.is_file():
        return None
    try:
        value = json.loads(meta.read_text()).get("DepthResolution")
    except (OSError, ValueError, AttributeError):
        return None
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(v, int) and v > 0 for v in value)):
        return (value[0], value[1])
    return None


def _open(path: Path, mapping: str | int, threads: int):
    from .video import open_depth_video

    return open_depth_video(path, mapping=mapping, threads=threads,
                            frame_size=_frame_size_of(path))


def _default_output(input_file: Path) -> Path:
    return input_file.with_name(session_stem(input_file) + ".avi")


def _verify(source, copy_path: Path, start: int, stop: int, chunk_size: int,
            raw_shape: tuple[int, int] | None = None) -> None:
    """Compare frames ``[start, stop)`` of ``source`` with frames ``[0, stop - start)`` of
    the copy, chunk by chunk (bounded memory)."""
    n = stop - start
    if raw_shape is not None:
        h, w = raw_shape
        size = copy_path.stat().st_size
        if size != n * h * w * 2:
            raise ConversionError(f"{copy_path}: holds {size // (h * w * 2)} frames, expected "
                                  f"{n}")
        copy = np.memmap(copy_path, dtype="<u2", mode="r", shape=(n, h, w))
        for a in range(0, n, chunk_size):
            b = min(n, a + chunk_size)
            if not np.array_equal(source.read(start + a, start + b), copy[a:b]):
                raise ConversionError(f"{copy_path}: frames {a}-{b} differ from the source")
        del copy
        return
    from .video import open_depth_video

    with open_depth_video(copy_path) as reader:
        if reader.nframes != n:
            raise ConversionError(f"{copy_path}: holds {reader.nframes} frames, expected {n}")
        for a in range(0, n, chunk_size):
            b = min(n, a + chunk_size)
            if not np.array_equal(source.read(start + a, start + b), reader.read(a, b)):
                raise ConversionError(f"{copy_path}: frames {a}-{b} differ from the source")


def copy_frames(
    input_file: str | os.PathLike,
    output_file: str | os.PathLike | None = None,
    *,
    frames: tuple[int, int | None] = (0, None),
    chunk_size: int = 3000,
    fps: float = 30.0,
    threads: int = 8,
    mapping: str | int = "DEPTH",
    delete: bool = False,
) -> Path:
    """Copy frames ``[start, stop)`` of a depth recording losslessly, verify, then
    (optionally) delete the source.

    The copy is FFV1 (gray16le) for ``.avi`` / ``.mkv`` outputs and raw little-endian
    uint16 otherwise.  It is written under a temporary name, re-read chunk by chunk and
    compared with the source (memory bounded by ``chunk_size``), and only then renamed to
    ``output_file``; only after that is the source deleted when ``delete`` is set.

    Parameters
    ----------
    input_file : path-like
        ``.dat``, ``.avi``, ``.mkv`` or ``.tar.gz``.
    output_file : path-like, optional
        Default ``<input dir>/<input stem>.avi``.
    frames : (start, stop)
        Half-open range; ``stop`` None or beyond the end means the last frame.
    chunk_size : int
        Frames per read / write / comparison.
    fps : float
        Frame rate written to the container.
    threads : int
        Encoder and decoder threads.
    mapping : str or int
        Stream of a video input.
    delete : bool
        Delete ``input_file`` after a successful verification.

    Returns
    -------
    Path
        The output file.

    Raises
    ------
    ConversionError
        When the copy does not read back identical (nothing is renamed or deleted).
    InputFileError
        Unreadable input, or output identical to the input.
    """
    from .writers import DepthVideoWriter

    src = Path(input_file)
    out = Path(output_file) if output_file else _default_output(src)
    if out.resolve() == src.resolve():
        raise InputFileError(f"{src}: the output file is the input file")
    chunk_size = max(1, int(chunk_size))
    video = out.suffix.lower() in (".avi", ".mkv")
    with _open(src, mapping, threads) as reader, \
            atomic_path(out, keep_suffix=True) as tmp:
        start = max(0, int(frames[0]))
        stop = reader.nframes if frames[1] is None else min(int(frames[1]), reader.nframes)
        if stop <= start:
            raise InputFileError(f"{src}: no frames in [{start}, {stop}) (it has "
                                 f"{reader.nframes})")
        h, w = reader.frame_shape
        if video:
            with DepthVideoWriter(tmp, width=w, height=h, fps=fps, threads=threads,
                                  title="DEPTH") as writer:
                for a in range(start, stop, chunk_size):
                    writer.write(reader.read(a, min(stop, a + chunk_size)))
        else:
            with open(tmp, "wb") as fh:
                for a in range(start, stop, chunk_size):
                    reader.read(a, min(stop, a + chunk_size)).astype("<u2").tofile(fh)
        _verify(reader, tmp, start, stop, chunk_size, None if video else (h, w))
    logger.info("%s: %d frames copied to %s and verified", src, stop - start, out)
    if delete:
        src.unlink()
        logger.info("%s: deleted after verification", src)
    return out


def convert_to_avi(input_file: str | os.PathLike, output_file: str | os.PathLike | None = None,
                   *, chunk_size: int = 3000, fps: float = 30.0, delete: bool = False,
                   threads: int = 8, mapping: str | int = "DEPTH") -> Path:
    """Losslessly re-encode a whole recording to FFV1 ``.avi`` (``convert-raw-to-avi``).

    See :func:`copy_frames`; the output defaults to ``<input dir>/<input stem>.avi``.
    """
    out = Path(output_file) if output_file else _default_output(Path(input_file))
    if out.suffix.lower() not in (".avi", ".mkv"):
        raise ConfigError(f"{out}: convert-raw-to-avi writes .avi (or .mkv) files")
    return copy_frames(input_file, out, frames=(0, None), chunk_size=chunk_size, fps=fps,
                       threads=threads, mapping=mapping, delete=delete)
