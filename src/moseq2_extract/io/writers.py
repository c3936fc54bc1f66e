"""Depth-video writers: lossless 16-bit grey video through PyAV (no ffmpeg binary).

Files are written under a temporary name in the destination folder and renamed when the
writer closes successfully; an exception inside ``with DepthVideoWriter(...)`` removes the
temporary file, so a crash never leaves a plausible-looking partial video.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..paths import atomic_path, commit_partial, partial_path

logger = logging.getLogger(__name__)

_GREY16 = ("gray16le", "gray16be")
_FORMATS = {".avi": "avi", ".mkv": "matroska"}


def _import_av() -> Any:
    try:
        import av
    except ImportError:  # pragma: no cover - av is a hard dependency
        raise ImportError("writing video needs PyAV: pip install av") from None
    return av


def _rate(fps: float) -> Fraction:
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return Fraction(fps).limit_denominator(1001000)


def _as_frames(frames: np.ndarray, height: int, width: int) -> np.ndarray:
    arr = np.asarray(frames)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1:] != (height, width):
        raise ValueError(f"frames must have shape (n, {height}, {width}) or ({height}, "
                         f"{width}), got {np.shape(frames)}")
    if arr.dtype != np.uint16:
        if not np.issubdtype(arr.dtype, np.integer) or (
            arr.size and (arr.min() < 0 or arr.max() > 65535)
        ):
            raise ValueError(f"frames must be uint16 (or integers in 0..65535), got "
                             f"{arr.dtype}")
        arr = arr.astype(np.uint16)
    return arr


def _ffv1_options(width: int, height: int) -> dict[str, str]:
    # level 3 with slice CRCs, as the original's convert-raw-to-avi; slices enable threaded
    # decoding.  Very small frames cannot be cut into many slices.
    slices = 24 if min(width, height) >= 96 else 4 if min(width, height) >= 16 else 1
    opts = {"level": "3", "slicecrc": "1"}
    if slices > 1:
        opts["slices"] = str(slices)
    return opts


class DepthVideoWriter:
    """Write 16-bit depth frames to a (by default lossless FFV1) video file.

    Parameters
    ----------
    path : path-like
        Output file, ``.avi`` (default container) or ``.mkv``.
    width, height : int
        Frame size in pixels.
    fps : float
        Frame rate written to the container.
    codec : str
        ``"ffv1"`` (lossless, default) or another PyAV encoder accepting ``pixel_format``.
    pixel_format : str
        ``"gray16le"`` (default) or ``"gray16be"``.
    threads : int
        Encoder threads (0 = automatic).
    title : str, optional
        Stream title stored in the container (e.g. ``"DEPTH"``).
    on_packet : callable(bytes), optional
        Called with the bytes of every encoded packet, in order, as it is written (a
        verifier decodes them while the encoding goes on, see
        :mod:`moseq2_extract.io.convert`).

    Examples
    --------
    >>> with DepthVideoWriter("depth.avi", width=512, height=424) as w:  # doctest: +SKIP
    ...     w.write(frames)
    """

    def __init__(self, path: str | Path, *, width: int, height: int, fps: float = 30.0,
                 codec: str = "ffv1", pixel_format: str = "gray16le", threads: int = 0,
                 title: str | None = None, on_packet: Callable[[bytes], None] | None = None):
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in _FORMATS:
            raise ValueError(f"{self.path}: depth video must be .avi or .mkv")
        if pixel_format not in _GREY16:
            raise ValueError(f"pixel_format must be one of {_GREY16}, got {pixel_format!r}")
        if int(width) < 1 or int(height) < 1:
            raise ValueError(f"width and height must be positive, got {width}x{height}")
        if codec == "rawvideo" and (suffix, pixel_format) != (".mkv", "gray16be"):
            raise ValueError("raw 16-bit video is only supported as .mkv with gray16be "
                             "(b16g, as Azure Kinect recordings); use codec='ffv1'")
        av = _import_av()
        self.width, self.height = int(width), int(height)
        self.fps = float(fps)
        self.pixel_format = pixel_format
        self.frames_written = 0
        self._on_packet = on_packet
        self._tmp = partial_path(self.path, keep_suffix=True)
        self._closed = False
        self._raw_mkv = codec == "rawvideo" and suffix == ".mkv"
        options = {"allow_raw_vfw": "1", "write_crc32": "0"} if self._raw_mkv else {}
        self._container = av.open(str(self._tmp), mode="w", format=_FORMATS[suffix],
                                  options=options)
        try:
            stream = self._container.add_stream(codec, rate=_rate(fps))
            stream.width, stream.height = self.width, self.height
            stream.pix_fmt = pixel_format
            if codec == "ffv1":
                stream.options = _ffv1_options(self.width, self.height)
            # FFV1 encodes its slices in parallel (slice threads; frame threads it has not)
            stream.codec_context.thread_type = "SLICE"
            stream.codec_context.thread_count = int(threads)
            if title:
                stream.metadata["title"] = title
        except Exception:
            self.abort()
            raise
        self._stream = stream

    def write(self, frames: np.ndarray) -> None:
        """Append frames.

        Parameters
        ----------
        frames : np.ndarray
            ``(n, H, W)`` or ``(H, W)`` uint16 depth frames.
        """
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")
        av = _import_av()
        arr = _as_frames(frames, self.height, self.width)
        stream = self._stream
        for frame in arr:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame),
                                            format=self.pixel_format)
            vf.pts = self.frames_written
            for packet in stream.encode(vf):
                self._mux(packet)
            self.frames_written += 1

    def _mux(self, packet: Any) -> None:
        if self._on_packet is not None:
            self._on_packet(bytes(packet))
        self._container.mux(packet)

    @property
    def extradata(self) -> bytes | None:
        """The encoder's global header (FFV1 version 3 keeps its configuration there),
        available once the first frame is encoded; what a decoder of the packets needs."""
        return self._stream.codec_context.extradata

    def close(self) -> Path:
        """Flush the encoder, finish the file and move it to its final name."""
        if self._closed:
            return self.path
        try:
            for packet in self._stream.encode(None):
                self._mux(packet)
            self._container.close()
            if self._raw_mkv and not _patch_b16g(self._tmp, 1):
                raise RuntimeError(f"{self.path}: could not mark the raw track as 16-bit grey")
        except Exception:
            self.abort()
            raise
        self._closed = True
        if self.frames_written == 0:
            logger.warning("%s: no frames were written", self.path)
        commit_partial(self._tmp, self.path, durable=False)
        return self.path

    def abort(self) -> None:
        """Stop writing and delete the temporary file; no output is left behind."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):  # the file is deleted anyway
            self._container.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> DepthVideoWriter:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _iter_arrays(frames: np.ndarray | Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    if isinstance(frames, np.ndarray):
        yield frames if frames.ndim == 3 else frames[None]
        return
    for block in frames:
        block = np.asarray(block)
        yield block if block.ndim == 3 else block[None]


def write_depth_video(path: str | Path, frames: np.ndarray | Iterable[np.ndarray], *,
                      fps: float = 30.0, **kw: Any) -> Path:
    """Write depth frames to a lossless video in one call.

    Parameters
    ----------
    path : path-like
        ``.avi`` or ``.mkv`` output file.
    frames : np.ndarray or iterable of np.ndarray
        ``(n, H, W)`` uint16 array, or an iterable of ``(n, H, W)`` / ``(H, W)`` arrays
        (e.g. chunks from a reader), written in order.
    fps : float
        Frame rate.
    **kw
        Passed to :class:`DepthVideoWriter` (``codec``, ``pixel_format``, ``threads``,
        ``title``).

    Returns
    -------
    Path
        The written file.
    """
    writer: DepthVideoWriter | None = None
    try:
        for block in _iter_arrays(frames):
            if writer is None:
                writer = DepthVideoWriter(path, width=block.shape[2], height=block.shape[1],
                                          fps=fps, **kw)
            writer.write(block)
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    if writer is None:
        raise ValueError(f"{path}: no frames to write")
    return writer.close()


# ------------------------------------------------------------------------------------------
# Azure-Kinect-like Matroska (test data)
# ------------------------------------------------------------------------------------------
def _patch_b16g(path: Path, ntracks: int) -> bool:
    """Mark the raw VFW tracks of a Matroska file as ``b16g`` (16-bit big-endian grey).

    FFmpeg's Matroska muxer stores raw video only in VFW mode and clears the codec tag, so
    readers would see 16-bit RGB.  Each track's CodecPrivate is a 40-byte
    BITMAPINFOHEADER; setting its compression FourCC to ``b16g`` (and the height positive,
    top-down) gives what the Azure Kinect recorder writes.  The file is written without
    CRC32 elements, so the patch keeps it valid.
    """
    data = bytearray(path.read_bytes()[:1 << 16])
    marker = b"\x63\xa2\xa8\x28\x00\x00\x00"  # CodecPrivate id, size 40, biSize = 40
    offsets = []
    start = 0
    while True:
        i = data.find(marker, start)
        if i < 0:
            break
        offsets.append(i + 3)
        start = i + 1
    if len(offsets) != ntracks:
        return False
    with open(path, "r+b") as fh:
        for off in offsets:
            _, width, height, planes, bits, compression = struct.unpack_from(
                "<IiiHHI", data, off)
            if bits != 16 or compression != 0:
                return False
            fh.seek(off + 8)
            fh.write(struct.pack("<i", abs(height)))
            fh.seek(off + 16)
            fh.write(b"b16g")
    return True


def _mkv_grey16_formats(path: Path) -> list[str]:
    av = _import_av()
    try:
        with av.open(str(path)) as container:
            return [s.codec_context.format.name for s in container.streams.video]
    except av.FFmpegError:
        return []


@functools.lru_cache(maxsize=1)
def _raw_b16g_supported() -> bool:
    """Whether this FFmpeg build can write (and read back) raw ``b16g`` Matroska tracks."""
    with tempfile.TemporaryDirectory() as folder:
        probe = Path(folder) / "probe.mkv"
        try:
            _write_mkv_tracks(probe, [np.zeros((1, 2, 2), np.uint16)], None,
                              np.zeros(1, np.int64), 30.0, "rawvideo")
        except Exception:  # noqa: BLE001 - any failure means: not supported
            return False
        return _patch_b16g(probe, 2) and _mkv_grey16_formats(probe) == ["gray16be"] * 2


def _write_mkv_tracks(tmp: Path, blocks: Iterable[np.ndarray], ir: np.ndarray | None,
                      pts_us: np.ndarray | None, fps: float, codec: str) -> int:
    """Write IR + DEPTH tracks from depth blocks; returns the number of frames."""
    av = _import_av()
    options = {"write_crc32": "0"}
    if codec == "rawvideo":
        options["allow_raw_vfw"] = "1"
    pix = "gray16be" if codec == "rawvideo" else "gray16le"
    time_base = Fraction(1, 1_000_000)
    count = 0
    last_pts = None
    with av.open(str(tmp), mode="w", format="matroska", options=options) as container:
        streams: list[Any] = []
        for block in blocks:
            if not streams:
                height, width = block.shape[1:]
                for title in ("IR", "DEPTH"):
                    stream = container.add_stream(codec, rate=_rate(fps))
                    stream.width, stream.height = width, height
                    stream.pix_fmt = pix
                    stream.time_base = time_base
                    stream.codec_context.time_base = time_base
                    if codec == "ffv1":
                        stream.options = _ffv1_options(width, height)
                    stream.metadata["title"] = title
                    streams.append(stream)
            block = _as_frames(block, height, width)
            for depth in block:
                if pts_us is None:
                    pts = int(round(count * 1e6 / fps))
                elif count < len(pts_us):
                    pts = int(pts_us[count])
                else:
                    raise ValueError(f"more frames than timestamps_us ({len(pts_us)})")
                if last_pts is not None and pts <= last_pts:
                    raise ValueError("timestamps_us must be strictly increasing")
                last_pts = pts
                infra = (np.uint16(65535) - depth) if ir is None else ir[count]
                for stream, arr in zip(streams, (infra, depth)):
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr, np.uint16),
                                                    format=pix)
                    vf.pts = pts
                    vf.time_base = time_base
                    for packet in stream.encode(vf):
                        container.mux(packet)
                count += 1
        for stream in streams:
            for packet in stream.encode(None):
                container.mux(packet)
    return count


def write_azure_mkv(path: str | Path, frames: np.ndarray | Iterable[np.ndarray], *,
                    fps: float = 30.0, timestamps_us: np.ndarray | None = None,
                    ir: np.ndarray | None = None) -> Path:
    """Write an Azure-Kinect-like Matroska file (test data).

    The file has an ``IR`` titled track first and a ``DEPTH`` titled track second, both raw
    16-bit big-endian grey (FourCC ``b16g``, as k4arecorder writes), 1 µs track time base.
    If this FFmpeg build cannot produce raw ``b16g`` tracks, lossless FFV1 ``gray16le``
    tracks are written instead (with a logged warning).  Frames are streamed: ``frames``
    may be a generator of chunks.

    Parameters
    ----------
    path : path-like
        Output ``.mkv`` file.
    frames : np.ndarray or iterable of np.ndarray
        Depth frames, ``(n, H, W)`` uint16, or an iterable of such blocks.
    fps : float
        Nominal frame rate; also the default frame spacing.
    timestamps_us : np.ndarray, optional
        ``(n,)`` strictly increasing presentation times in microseconds (default
        ``i * 1e6 / fps``).  FFmpeg's Matroska muxer stores times with a 1 ms resolution,
        so they are rounded to whole milliseconds in the file.
    ir : np.ndarray, optional
        ``(n, H, W)`` uint16 IR frames; default ``65535 - depth``.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    pts = None
    if timestamps_us is not None:
        pts = np.asarray(timestamps_us, dtype=np.float64).round().astype(np.int64).ravel()
    codec = "rawvideo" if _raw_b16g_supported() else "ffv1"
    if codec == "ffv1":
        logger.warning("%s: this FFmpeg cannot store raw b16g tracks; writing lossless "
                       "FFV1 gray16le instead", path)
    with atomic_path(path, keep_suffix=True, durable=False) as tmp:
        count = _write_mkv_tracks(tmp, _iter_arrays(frames), ir, pts, fps, codec)
        if count == 0:
            raise ValueError(f"{path}: no frames to write")
        if pts is not None and len(pts) != count:
            raise ValueError(f"timestamps_us has {len(pts)} values for {count} frames")
        if ir is not None and len(ir) != count:
            raise ValueError(f"ir has {len(ir)} frames but depth has {count}")
        if codec == "rawvideo" and not _patch_b16g(tmp, 2):
            raise RuntimeError(f"{path}: could not mark the raw tracks as b16g")
    return path


__all__ = ["DepthVideoWriter", "write_azure_mkv", "write_depth_video"]
