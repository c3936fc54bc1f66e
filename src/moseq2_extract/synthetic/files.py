"""Writing synthetic sessions to disk in every input format of spec section 3."""

from __future__ import annotations

import json
import logging
import os
import re
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from moseq2_extract.camera import PRESETS
from moseq2_extract.errors import ConfigError
from moseq2_extract.paths import atomic_path, write_text_atomic

from .session import (
    _FORMATS,
    SessionSpec,
    SyntheticSession,
)

logger = logging.getLogger(__name__)




# ---------------------------------------------------------------------- writing
def session_metadata(spec: SessionSpec) -> dict:
    """metadata.json content of a session (kinect2nidaq keys, spec section 3.1)."""
    cam = PRESETS[spec.camera]
    return {
        "SubjectName": spec.subject_name,
        "SessionName": spec.session_name,
        "NidaqChannels": 0,
        "NidaqSamplingRate": 0.0,
        "DepthResolution": [cam.width, cam.height],
        "ColorResolution": [1920, 1080],
        "DepthDataType": "UInt16[]",
        "ColorDataType": "Byte[]",
        "IsLittleEndian": True,
        "StartTime": spec.start_time,
    }


def _session_digits(start_time: str) -> str:
    digits = re.sub(r"\D", "", start_time.split(".")[0])[:14]
    return digits or "0"


class _FrameStream:
    """File-like object reading a session's raw little-endian frames (for tarfile)."""

    def __init__(self, session: SyntheticSession, chunk_size: int) -> None:
        self._chunks = session.iter_chunks(chunk_size, reuse_buffer=True)
        self._buf = memoryview(b"")

    def read(self, size: int = -1) -> bytes:
        parts = []
        want = size if size >= 0 else 1 << 62
        while want > 0:
            if not len(self._buf):
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                # A view of the (reused) chunk buffer, consumed before the next chunk.
                self._buf = np.ascontiguousarray(chunk, dtype="<u2").data.cast("B")
            take = self._buf[:want]
            parts.append(take.tobytes())
            self._buf = self._buf[len(take):]
            want -= len(take)
        return b"".join(parts)


def _timestamps_text(ts_ms: np.ndarray) -> str:
    return "".join(f"{t:.3f} 0\n" for t in ts_ms)


def write_session(
    out_dir: str | os.PathLike,
    spec: SessionSpec | None = None,
    *,
    fmt: str = "dat",
    chunk_size: int = 500,
) -> Path:
    """Write a synthetic session to ``out_dir`` in one of the input layouts of spec section 3.

    Parameters
    ----------
    out_dir : path-like
        Folder to write into (created if missing).
    spec : SessionSpec, optional
        Session parameters; default ``SessionSpec()`` (``camera="azure"`` for ``mkv``).
    fmt : {"dat", "avi", "tar.gz", "mkv"}
        ``dat``: depth.dat (raw little-endian uint16, Kinect only) + depth_ts.txt +
        metadata.json.  ``avi``: depth.avi (FFV1 gray16le) + depth_ts.txt + metadata.json.
        ``tar.gz``: session_<digits>.tar.gz with members depth.dat, depth_ts.txt,
        metadata.json at the archive root, plus session_<digits>.json beside it.
        ``mkv``: depth.mkv (Azure-like, timestamps in the container) + metadata.json.
        ground_truth.npz is always written to ``out_dir``.
    chunk_size : int
        Frames rendered at a time (memory bound).

    Returns
    -------
    Path
        The depth file (depth.dat, depth.avi, the archive or depth.mkv).
    """
    if fmt not in _FORMATS:
        raise ConfigError(f"write_session: fmt must be one of {_FORMATS}, got {fmt!r}")
    if spec is None:
        spec = SessionSpec(camera="azure") if fmt == "mkv" else SessionSpec()
    if fmt in ("dat", "tar.gz") and spec.camera != "kinect":
        raise ConfigError(f"write_session: fmt {fmt!r} holds 512x424 Kinect frames only, "
                          f"got camera {spec.camera!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    session = SyntheticSession(spec)
    ts_ms = session.timestamps_ms()
    meta_text = json.dumps(session_metadata(spec), indent=2)
    if fmt == "dat":
        path = out / "depth.dat"
        with atomic_path(path, durable=False) as tmp, open(tmp, "wb") as fh:
            for chunk in session.iter_chunks(chunk_size, reuse_buffer=True):
                np.ascontiguousarray(chunk, dtype="<u2").tofile(fh)
    elif fmt == "avi":
        from moseq2_extract.io.writers import DepthVideoWriter

        path = out / "depth.avi"
        with DepthVideoWriter(path, width=session.width, height=session.height, fps=spec.fps,
                              codec="ffv1", pixel_format="gray16le") as writer:
            for chunk in session.iter_chunks(chunk_size, reuse_buffer=True):
                writer.write(chunk)
    elif fmt == "mkv":
        from moseq2_extract.io.writers import write_azure_mkv

        if spec.camera != "azure":
            logger.warning("writing a %s-sized session as an Azure .mkv", spec.camera)
        path = out / "depth.mkv"
        # The Matroska muxer keeps 1 ms resolution: write (and record) whole milliseconds.
        ts_ms = np.rint(ts_ms)
        write_azure_mkv(path, session.iter_chunks(chunk_size), fps=spec.fps,
                        timestamps_us=ts_ms * 1000.0)
    else:  # tar.gz
        stem = f"session_{_session_digits(spec.start_time)}"
        path = out / f"{stem}.tar.gz"
        n_bytes = session.n_frames * session.height * session.width * 2
        with atomic_path(path, durable=False) as tmp, \
                tarfile.open(tmp, "w:gz", compresslevel=1) as tar:
            for name, data in (("metadata.json", meta_text.encode()),
                               ("depth_ts.txt", _timestamps_text(ts_ms).encode())):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mtime = 0
                tar.addfile(info, _BytesReader(data))
            info = tarfile.TarInfo("depth.dat")
            info.size = n_bytes
            info.mtime = 0
            tar.addfile(info, _FrameStream(session, chunk_size))
        write_text_atomic(out / f"{stem}.json", meta_text, durable=False)
    if fmt in ("dat", "avi"):
        write_text_atomic(out / "depth_ts.txt", _timestamps_text(ts_ms), durable=False)
    if fmt != "tar.gz":
        write_text_atomic(out / "metadata.json", meta_text, durable=False)
    truth = session.ground_truth()
    if fmt == "mkv":
        truth = replace(truth, timestamps_ms=ts_ms)
    truth.save(out / "ground_truth.npz")
    logger.info("wrote synthetic %s session (%d frames) to %s", fmt, session.n_frames, path)
    return path


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)

    def read(self, size: int = -1) -> bytes:
        size = len(self._data) if size < 0 else size
        chunk, self._data = self._data[:size], self._data[size:]
        return chunk.tobytes()

