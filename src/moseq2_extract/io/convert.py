"""Lossless copies of depth recordings: ``convert-raw-to-avi`` and ``copy-slice``.

A copy is written under a temporary name, verified frame for frame against the source,
and only then renamed into place; the source is deleted only after that, and only when
asked.  An FFV1 copy is verified while it is encoded: a second thread decodes each packet
as it comes out and compares it with its source frame, and the finished file must then
hold exactly those packets (:mod:`.stream_verify`); a raw copy is read back and compared.
Frames move in blocks of at most ``chunk_size`` frames and at most
:data:`MAX_BLOCK_BYTES` (so memory stays bounded whatever the chunk size); FFV1 is encoded
and decoded on ``threads`` slice threads each.

A copy gets its own timestamps beside it, ``<output stem>_ts.txt`` (the lines
``[start, stop)`` of the source's ``depth_ts.txt``), which
:func:`moseq2_extract.io.session.load_session` prefers to the folder's ``depth_ts.txt``:
an extraction of a part of a recording (``copy-slice``) gives each frame its true time.
Only a whole-recording copy beside its source (``depth.dat`` -> ``depth.avi``) has none:
the source's ``depth_ts.txt`` is its own.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import ConfigError, ExtractionError, InputFileError
from ..paths import atomic_path, session_stem, write_text_atomic

logger = logging.getLogger(__name__)

__all__ = ["MAX_BLOCK_BYTES", "ConversionError", "Progress", "convert_to_avi", "copy_frames",
           "shares_source_timestamps", "slice_output_path", "slice_timestamps_path"]

#: Upper bound of one block of frames held in memory (per copy of it): 32 MiB, i.e. 77
#: Kinect v2 frames; a copy holds at most three blocks at once (one read, two waiting for
#: their verification).
MAX_BLOCK_BYTES = 32 << 20

#: ``progress(stage, done, total)``: ``stage`` is ``"encode"`` then ``"verify"``; ``done``
#: frames of ``total``.
Progress = Callable[[str, int, int], None]


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


def _frame_range(frames: tuple[int, int | None], nframes: int) -> tuple[int, int]:
    start = max(0, int(frames[0]))
    stop = nframes if frames[1] is None else min(int(frames[1]), nframes)
    return start, stop


def slice_output_path(input_file: str | os.PathLike, frames: tuple[int, int | None], *,
                      mapping: str | int = "DEPTH") -> Path:
    """The default output of ``copy-slice``: ``<input dir>/<input stem>.avi`` for the whole
    recording, ``<input stem>_<start>-<stop>.avi`` for part of it (a part named
    ``depth.avi`` beside ``depth.dat`` would be read with the whole recording's
    ``depth_ts.txt``)."""
    src = Path(input_file)
    with _open(src, mapping, 0) as reader:
        nframes = reader.nframes
    start, stop = _frame_range(frames, nframes)
    if (start, stop) == (0, nframes) or stop <= start:
        return _default_output(src)
    return src.with_name(f"{session_stem(src)}_{start}-{stop}.avi")


def _block_size(chunk_size: int, frame_shape: tuple[int, int]) -> int:
    """Frames per block: ``chunk_size``, capped at :data:`MAX_BLOCK_BYTES` of uint16."""
    h, w = frame_shape
    return max(1, min(int(chunk_size), MAX_BLOCK_BYTES // (2 * h * w)))


def _verify(source, copy_path: Path, start: int, stop: int, block: int,
            raw_shape: tuple[int, int], *, progress: Progress | None = None) -> None:
    """Compare frames ``[start, stop)`` of ``source`` with frames ``[0, stop - start)`` of
    the raw copy, block by block (bounded memory)."""
    n = stop - start
    h, w = raw_shape
    size = copy_path.stat().st_size
    if size != n * h * w * 2:
        raise ConversionError(f"{copy_path}: holds {size // (h * w * 2)} frames, expected "
                              f"{n}")
    copy = np.memmap(copy_path, dtype="<u2", mode="r", shape=(n, h, w))
    for a in range(0, n, block):
        b = min(n, a + block)
        if not np.array_equal(source.read(start + a, start + b), copy[a:b]):
            raise ConversionError(f"{copy_path}: frames {a}-{b} differ from the source")
        if progress is not None:
            progress("verify", b, n)
    del copy


def slice_timestamps_path(output_file: str | os.PathLike) -> Path:
    """Where a copy's own timestamps go: ``<output stem>_ts.txt`` beside it (for an output
    named ``depth.*`` that is ``depth_ts.txt``)."""
    out = Path(output_file)
    return out.with_name(session_stem(out) + "_ts.txt")


def _timestamp_lines(src: Path, start: int, stop: int, nframes: int) -> list[str] | None:
    """The timestamp lines of frames ``[start, stop)`` of ``src``: the source's own lines of
    ``depth_ts.txt`` (every column, as written), else its timestamps in ms, one a line;
    None when the source has none."""
    from .session import TIMESTAMP_FILES, load_session

    folder = src.parent
    for name in (slice_timestamps_path(src).name, TIMESTAMP_FILES[0]):
        path = folder / name
        if path.is_file():
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            lines = [line for line in lines if line.strip()]
            if len(lines) == nframes:
                return lines[start:stop]
    session = load_session(src)
    if session.timestamps is None or len(session.timestamps) < stop:
        return None
    return [format(float(t), ".17g") for t in session.timestamps[start:stop]]


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
    progress: Progress | None = None,
) -> Path:
    """Copy frames ``[start, stop)`` of a depth recording losslessly, verify, then
    (optionally) delete the source.

    The copy is FFV1 (gray16le) for ``.avi`` / ``.mkv`` outputs and raw little-endian
    uint16 otherwise.  It is written under a temporary name, re-read block by block and
    compared with the source (memory bounded by a block), and only then renamed to
    ``output_file``; only after that is the source deleted when ``delete`` is set.  The
    copy gets its own timestamps, :func:`slice_timestamps_path`, unless it is read with
    the source's (a whole recording copied beside it under the same stem).

    Parameters
    ----------
    input_file : path-like
        ``.dat``, ``.avi``, ``.mkv`` or ``.tar.gz``.
    output_file : path-like, optional
        Default: :func:`slice_output_path`.
    frames : (start, stop)
        Half-open range; ``stop`` None or beyond the end means the last frame.
    chunk_size : int
        Frames per read / write / comparison (at most :data:`MAX_BLOCK_BYTES` of frames).
    fps : float
        Frame rate written to the container.
    threads : int
        Encoder and decoder threads (FFV1 slice threads; 0 = FFmpeg's choice).
    mapping : str or int
        Stream of a video input.
    delete : bool
        Delete ``input_file`` after a successful verification.
    progress : callable(stage, done, total), optional
        Called after each block: ``stage`` is ``"encode"``, then ``"verify"``.

    Returns
    -------
    Path
        The output file.

    Raises
    ------
    ConversionError
        When the copy does not read back identical (nothing is renamed or deleted).
    InputFileError
        Unreadable input, output identical to the input, or a part of the recording
        named so that it would be read with the whole recording's timestamps.
    """
    src = Path(input_file)
    out = Path(output_file) if output_file else slice_output_path(src, frames, mapping=mapping)
    if out.resolve() == src.resolve():
        raise InputFileError(f"{src}: the output file is the input file")
    video = out.suffix.lower() in (".avi", ".mkv")
    with _open(src, mapping, threads) as reader:
        start, stop = _frame_range(frames, reader.nframes)
        if stop <= start:
            raise InputFileError(f"{src}: no frames in [{start}, {stop}) (it has "
                                 f"{reader.nframes})")
        partial = (start, stop) != (0, reader.nframes)
        ts_path = slice_timestamps_path(out)
        shared_ts = shares_source_timestamps(out, src)  # the copy is read with them as is
        if partial and shared_ts:
            raise InputFileError(
                f"{out}: a copy of frames {start}-{stop} named so would be read with "
                f"{ts_path.name}, the whole recording's timestamps; give it another name "
                f"(e.g. -o {src.with_name(f'{session_stem(src)}_{start}-{stop}.avi')})")
        with atomic_path(out, keep_suffix=True) as tmp:
            _copy(reader, tmp, start, stop, video=video, chunk_size=chunk_size, fps=fps,
                  threads=threads, progress=progress)
            if not shared_ts:
                ts_lines = _timestamp_lines(src, start, stop, reader.nframes)
                if ts_lines is not None:
                    write_text_atomic(ts_path, "\n".join(ts_lines) + "\n")
                    logger.info("%s: timestamps of frames %d-%d written to %s", src, start,
                                stop, ts_path)
                else:  # the source has none: an earlier copy's would be wrong
                    ts_path.unlink(missing_ok=True)
    logger.info("%s: %d frames copied to %s and verified", src, stop - start, out)
    if delete:
        src.unlink()
        logger.info("%s: deleted after verification", src)
    return out


def shares_source_timestamps(output_file: str | os.PathLike,
                             input_file: str | os.PathLike) -> bool:
    """Whether a copy named ``output_file`` would be read with a timestamp file of the
    recording ``input_file`` (its own ``<output stem>_ts.txt`` is one of the source's)."""
    from .session import TIMESTAMP_FILES

    ts_path, src = slice_timestamps_path(output_file), Path(input_file)
    if not ts_path.exists() or ts_path.parent.resolve() != src.parent.resolve():
        return False
    return ts_path.name in (*TIMESTAMP_FILES, slice_timestamps_path(src).name)


def _copy(reader, tmp: Path, start: int, stop: int, *, video: bool, chunk_size: int,
          fps: float, threads: int, progress: Progress | None) -> None:
    """Write frames ``[start, stop)`` of ``reader`` to ``tmp`` and verify them."""
    h, w = reader.frame_shape
    block = _block_size(chunk_size, (h, w))
    n = stop - start
    if video:
        _encode_verified(reader, tmp, start, stop, block, fps=fps, threads=threads,
                         progress=progress)
        return
    with open(tmp, "wb") as fh:
        for a in range(start, stop, block):
            b = min(stop, a + block)
            reader.read(a, b).astype("<u2").tofile(fh)
            if progress is not None:
                progress("encode", b - start, n)
    _verify(reader, tmp, start, stop, block, (h, w), progress=progress)


def _encode_verified(reader, tmp: Path, start: int, stop: int, block: int, *, fps: float,
                     threads: int, progress: Progress | None) -> None:
    """Encode frames ``[start, stop)`` to FFV1 while a second thread decodes the packets
    and compares them with the source (:class:`~.stream_verify.StreamVerifier`), then make
    sure the file holds exactly those packets and announces ``stop - start`` frames."""
    from .stream_verify import StreamVerifier, check_packets
    from .video import open_depth_video
    from .writers import DepthVideoWriter

    h, w = reader.frame_shape
    n = stop - start
    holder: list[DepthVideoWriter] = []
    verifier = StreamVerifier(tmp, lambda: holder[0].extradata, width=w, height=h,
                              threads=threads, error=ConversionError)
    try:
        with DepthVideoWriter(tmp, width=w, height=h, fps=fps, threads=threads,
                              title="DEPTH", on_packet=verifier.packet) as writer:
            holder.append(writer)
            for a in range(start, stop, block):
                b = min(stop, a + block)
                frames = reader.read(a, b)
                verifier.expect(frames)
                writer.write(frames)
                if progress is not None:
                    progress("encode", b - start, n)
                    progress("verify", verifier.verified, n)
        verifier.finish(n)
    finally:
        verifier.close()
    if progress is not None:
        progress("verify", n, n)
    check_packets(tmp, verifier.digests, width=w, height=h, error=ConversionError)
    with open_depth_video(tmp) as copy:
        if copy.nframes != n:
            raise ConversionError(f"{tmp}: holds {copy.nframes} frames, expected {n}")


def convert_to_avi(input_file: str | os.PathLike, output_file: str | os.PathLike | None = None,
                   *, chunk_size: int = 3000, fps: float = 30.0, delete: bool = False,
                   threads: int = 8, mapping: str | int = "DEPTH",
                   progress: Progress | None = None) -> Path:
    """Losslessly re-encode a whole recording to FFV1 ``.avi`` (``convert-raw-to-avi``).

    See :func:`copy_frames`; the output defaults to ``<input dir>/<input stem>.avi``.
    """
    out = Path(output_file) if output_file else _default_output(Path(input_file))
    if out.suffix.lower() not in (".avi", ".mkv"):
        raise ConfigError(f"{out}: convert-raw-to-avi writes .avi (or .mkv) files")
    return copy_frames(input_file, out, frames=(0, None), chunk_size=chunk_size, fps=fps,
                       threads=threads, mapping=mapping, delete=delete, progress=progress)
