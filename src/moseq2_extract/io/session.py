"""One recording session: its depth file, metadata and timestamps, checked for consistency.

:func:`load_session` finds the files that belong to a depth file (spec section 3):

* metadata -- ``<dir>/metadata.json`` (defaults, with a warning, when it is missing or not
  a JSON object; nothing is written beside the recording); for an archive the member
  ``metadata.json``, else ``<dir>/<stem>.json`` next to it;
* timestamps -- ``<dir>/<stem>_ts.txt`` (ms; a copy-slice of part of a recording writes
  one), else ``<dir>/depth_ts.txt`` (ms), else ``<dir>/timestamps.csv`` (s -> ms), else
  the video container's own frame times (ms); archive members likewise.

When timestamps and frames disagree in number, the overlapping frames are kept and a
one-line warning is recorded (the original raised, spec 7.1-23).
"""

from __future__ import annotations

import logging
import os
import tarfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputFileError
from ..paths import session_stem
from .metadata import NotAnObjectError, load_metadata, metadata_from_text
from .timestamps import load_timestamps, looks_like_seconds, timestamps_from_text
from .video import DepthReader, VideoInfo, depth_file_kind, open_depth_video

logger = logging.getLogger(__name__)

TIMESTAMP_FILES = ("depth_ts.txt", "timestamps.csv")
_ARCHIVE_MEMBERS = ("metadata.json",) + TIMESTAMP_FILES


@dataclass
class Session:
    """A depth recording with its metadata and timestamps.

    Attributes
    ----------
    depth_path : Path
        The depth file (``depth.dat``, ``*.avi``, ``*.mkv``, ``*.tar.gz`` / ``*.tgz``).
    session_dir : Path
        Folder holding it (outputs go to ``session_dir / "proc"`` by default).
    name : str
        Session name: the folder name, or the archive name without ``.tar.gz``.
    kind : str
        ``'dat'``, ``'avi'``, ``'mkv'`` or ``'tar'``.
    info : VideoInfo
        Size, frame count and rate of the depth file.
    metadata : dict
        Flat acquisition metadata.
    timestamps : np.ndarray or None
        ``(nframes,)`` float64 per-frame times in the source's unit (ms for
        ``depth_ts.txt``, ``timestamps.csv`` x 1000 and container times); None if the
        session has none.
    timestamp_source : str
        ``'depth_ts.txt'``, ``'timestamps.csv'``, ``'container'``, ``'frame rate'`` (made
        up, see :func:`load_session`'s ``fps``) or ``'none'``.
    nframes : int
        Usable frames: the video's frame count, or fewer when the timestamps are fewer.
    warnings : list of str
        One-line problems found while loading (also logged).
    mapping : str or int
        Video stream selection used for this session.
    frame_size : (width, height) or None
        Raw frame size used for ``.dat`` / ``.tar.gz``.
    """

    depth_path: Path
    session_dir: Path
    name: str
    kind: str
    info: VideoInfo
    metadata: dict[str, Any]
    timestamps: np.ndarray | None
    timestamp_source: str
    nframes: int
    warnings: list[str] = field(default_factory=list)
    mapping: str | int = "DEPTH"
    frame_size: tuple[int, int] | None = None

    def open_reader(self, **kw: Any) -> DepthReader:
        """Open the depth file with this session's stream mapping and frame size.

        Keyword arguments override them and are passed to
        :func:`~moseq2_extract.io.video.open_depth_video` (e.g. ``threads``).
        """
        options: dict[str, Any] = {"mapping": self.mapping, "frame_size": self.frame_size}
        options.update(kw)
        return open_depth_video(self.depth_path, **options)


def read_archive_members(path: str | Path, names: tuple[str, ...] = _ARCHIVE_MEMBERS
                         ) -> dict[str, str]:
    """Text of the small members ``names`` at the root of a gzip tarball.

    The archive is scanned once, stopping as soon as every requested member was found.
    """
    path = Path(path)
    found: dict[str, str] = {}
    try:
        with tarfile.open(path, "r:gz") as tf:
            while len(found) < len(names):
                info = tf.next()
                if info is None:
                    break
                name = info.name[2:] if info.name.startswith("./") else info.name
                if name in names and name not in found and info.isfile():
                    fh = tf.extractfile(info)
                    if fh is not None:
                        found[name] = fh.read().decode("utf-8", errors="replace")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise InputFileError(f"{path}: cannot read archive ({err})") from None
    return found


def _resolve_depth_file(path: Path) -> Path:
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    if not path.is_dir():
        return path
    for name in ("depth.dat", "depth.avi"):
        if (path / name).is_file():
            return path / name
    mkvs = sorted(p for p in path.glob("*.mkv") if not p.name.startswith("."))
    if len(mkvs) == 1:
        return mkvs[0]
    raise InputFileError(f"{path}: folder has no depth.dat, depth.avi or single .mkv file")


def _usable_video_frames(path: Path, reader: DepthReader, warnings: list[str]) -> int:
    """Frames of a video that decode; fewer than the header announces (a truncated copy)
    gives a warning, and the frames that decode are extracted."""
    decodable = getattr(reader, "decodable_frames", None)
    usable = int(decodable()) if decodable is not None else reader.info.nframes
    declared = max(int(getattr(reader, "declared_frames", 0) or 0), reader.info.nframes)
    if usable <= 0:
        raise InputFileError(f"{path}: no frame can be decoded (damaged file)")
    if usable < declared:
        message = (f"{path}: only the first {usable} of {declared} frames can be decoded "
                   "(file truncated, e.g. an interrupted copy?); extracting those")
        logger.warning("%s", message)
        warnings.append(message)
    return usable


def _frame_size_from_metadata(metadata: dict[str, Any]) -> tuple[int, int] | None:
    value = metadata.get("DepthResolution")
    if (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
                    and float(v).is_integer() for v in value)):
        return (int(value[0]), int(value[1]))
    return None


def load_session(
    path: str | os.PathLike,
    *,
    mapping: str | int = "DEPTH",
    frame_size: tuple[int, int] | None = None,
    fps: float | None = None,
) -> Session:
    """Load a session from its depth file.

    Parameters
    ----------
    path : path-like
        ``depth.dat``, ``*.avi``, ``*.mkv``, ``*.tar.gz`` / ``*.tgz`` (a session folder
        holding ``depth.dat`` / ``depth.avi`` / one ``.mkv`` is also accepted).
    mapping : str or int
        Video stream to read (title or index).
    frame_size : (width, height), optional
        Raw frame size for ``.dat`` / archives; by default the metadata's
        ``DepthResolution``, else 512 x 424.
    fps : float, optional
        Frame rate from which timestamps are made up (``i * 1000 / fps`` ms, with a
        warning) when the session has none; None leaves ``timestamps`` None.

    Returns
    -------
    Session

    Raises
    ------
    InputFileError
        Missing or unreadable depth, metadata or timestamp files.
    """
    depth_path = _resolve_depth_file(Path(path))
    kind = depth_file_kind(depth_path)
    session_dir = depth_path.parent
    warnings: list[str] = []

    ts_text: tuple[str, str] | None = None  # (member name, text) for archives
    if kind == "tar":
        name = session_stem(depth_path)
        members = read_archive_members(depth_path)
        metadata = None
        if "metadata.json" in members:
            try:
                metadata = metadata_from_text(members["metadata.json"],
                                              source=f"{depth_path}:metadata.json")
            except NotAnObjectError as err:
                message = f"{err}; treated as missing"
                logger.warning("%s", message)
                warnings.append(message)
        if metadata is None:
            metadata = load_metadata(session_dir / f"{name}.json", session_name=name,
                                     warnings=warnings)
        for ts_name in TIMESTAMP_FILES:
            if ts_name in members:
                ts_text = (ts_name, members[ts_name])
                break
    else:
        name = session_dir.name
        metadata = load_metadata(session_dir / "metadata.json", session_name=name,
                                 warnings=warnings)

    if frame_size is None and kind in ("dat", "tar"):
        frame_size = _frame_size_from_metadata(metadata)
        if frame_size is not None and frame_size != (512, 424):
            logger.info("%s: using DepthResolution %dx%d from the metadata", depth_path,
                        *frame_size)

    bad_lines: list[int] = []
    with open_depth_video(depth_path, mapping=mapping, frame_size=frame_size) as reader:
        info = reader.info
        timestamps: np.ndarray | None = None
        source = "none"
        ts_label = ""
        if kind == "tar":
            if ts_text is not None:
                ts_name, text = ts_text
                ts_label = f"{depth_path}:{ts_name}"
                timestamps = timestamps_from_text(text, seconds=ts_name.endswith(".csv"),
                                                  source=ts_label, bad_lines=bad_lines)
                source = ts_name
        else:
            # a copy of part of a recording (copy-slice) has its own <stem>_ts.txt
            own = f"{session_stem(depth_path)}_ts.txt"
            for ts_name in dict.fromkeys((own, *TIMESTAMP_FILES)):
                ts_path = session_dir / ts_name
                if ts_path.is_file():
                    timestamps = load_timestamps(ts_path, bad_lines=bad_lines)
                    source, ts_label = ts_name, str(ts_path)
                    break
            if timestamps is None and kind in ("avi", "mkv"):
                timestamps = reader.container_timestamps()
                source, ts_label = "container", f"{depth_path} (container timestamps)"
        decodable = (_usable_video_frames(depth_path, reader, warnings)
                     if kind in ("avi", "mkv") else info.nframes)

    if bad_lines:
        shown = ", ".join(str(n) for n in bad_lines[:5]) + (", ..." if len(bad_lines) > 5
                                                             else "")
        message = (f"{ts_label}: {len(bad_lines)} unreadable line(s) ({shown}); their "
                   "timestamps were interpolated from the neighbouring lines")
        logger.warning("%s", message)
        warnings.append(message)
    nframes = decodable
    if timestamps is None and fps is not None:
        rate = float(fps)
        timestamps = np.arange(nframes, dtype=np.float64) * (1000.0 / rate)
        source = "frame rate"
        message = (f"{session_dir}: no depth_ts.txt or timestamps.csv; timestamps made up "
                   f"from the frame rate ({rate:g} frames/s, starting at 0 ms)")
        logger.warning("%s", message)
        warnings.append(message)
    if timestamps is not None:
        if len(timestamps) > nframes and any("can be decoded" in w for w in warnings):
            timestamps = timestamps[:nframes]  # the truncation was reported once already
        if len(timestamps) != nframes:
            usable = min(len(timestamps), nframes)
            message = (
                f"{ts_label}: {len(timestamps)} timestamps but {depth_path.name} has "
                f"{nframes} frames; using the first {usable}"
            )
            logger.warning("%s", message)
            warnings.append(message)
            nframes = usable
            timestamps = timestamps[:usable]
        if source.endswith("_ts.txt") and looks_like_seconds(timestamps):
            message = (f"{ts_label}: timestamps look like seconds (median step "
                       f"{float(np.median(np.diff(timestamps))):.4g}); kept as they are")
            logger.warning("%s", message)
            warnings.append(message)
    else:
        logger.info("%s: no timestamps found", depth_path)

    return Session(
        depth_path=depth_path,
        session_dir=session_dir,
        name=name,
        kind=kind,
        info=info,
        metadata=metadata,
        timestamps=timestamps,
        timestamp_source=source,
        nframes=int(nframes),
        warnings=warnings,
        mapping=mapping,
        frame_size=(int(frame_size[0]), int(frame_size[1])) if frame_size is not None else None,
    )


__all__ = ["Session", "TIMESTAMP_FILES", "load_session", "read_archive_members"]
