"""Finding recording sessions under a folder and knowing which are finished (spec 3.8).

A session is a depth file -- ``*.dat``, ``*.avi``, ``*.mkv`` (by extension) or a
``session_<digits>.tar.gz`` / ``.tgz`` archive (by pattern) -- and its results live in
:func:`moseq2_extract.paths.resolve_output_dir` of it.  A session counts as *complete*
only when its status file ``results_XX.yaml`` says ``complete: true`` **and** the
``results_XX.h5`` beside it exists: the extraction writes the h5 and mp4 under temporary
names, renames them, and writes the completed status last, so a run killed at any moment
never passes for a finished one.

Differences from the original (spec 7.1 item 20): ``nidaq.dat``, infrared files
(``ir*``, ``*.ir.*``), hidden and partial files are never taken for depth data; archives
are looked up where their results are really written (``<dir>/<stem>/proc``), so they can
count as done; two depth files sharing one output folder (``depth.dat`` next to its
``depth.avi`` copy) are reported instead of being extracted twice into the same place.
"""

from __future__ import annotations

import glob
import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py

from ..errors import ConfigError
from ..output.h5layout import read_group
from ..output.status import is_complete, read_status_or_skip
from ..paths import ResultsPaths, archive_stem, is_archive, resolve_output_dir

logger = logging.getLogger(__name__)

ARCHIVE_PATTERN = r"session_\d+\.(?:tgz|tar\.gz)"
"""Default pattern (full match) of compressed raw sessions (spec 3.2)."""

DEPTH_EXTENSIONS = (".dat", ".avi", ".mkv", ".tar.gz", ".tgz")
"""Depth-file extensions the readers understand."""

DEFAULT_EXTENSIONS = (".dat", ".avi", ".mkv")
"""Searched by default (archives are found by :data:`ARCHIVE_PATTERN`, so that an unrelated
``.tar.gz`` is not taken for a session)."""

# Files that sit beside depth data but are not depth recordings.
_NOT_DEPTH = re.compile(r"^(nidaq|rgb|color|colour)\.", re.IGNORECASE)

__all__ = [
    "ARCHIVE_PATTERN",
    "DEFAULT_EXTENSIONS",
    "DEPTH_EXTENSIONS",
    "COMPLETE",
    "NEW",
    "PARTIAL",
    "FoundSession",
    "find_sessions",
    "is_depth_file_name",
    "kind_counts",
    "load_found_session_paths",
    "normalize_extensions",
    "recursive_find_unextracted_dirs",
    "session_status",
]

NEW = "new"
PARTIAL = "partial"
COMPLETE = "complete"


def normalize_extensions(extensions: str | Iterable[str]) -> tuple[str, ...]:
    """Lower-case, dotted, de-duplicated extensions (``"dat"`` -> ``".dat"``).

    Raises
    ------
    ConfigError
        For an extension no reader understands.
    """
    if isinstance(extensions, str):
        extensions = [extensions]
    out: list[str] = []
    for ext in extensions:
        ext = str(ext).strip().lower()
        if not ext:
            continue
        if not ext.startswith("."):
            ext = "." + ext
        if ext not in DEPTH_EXTENSIONS:
            raise ConfigError(f"extensions: {ext!r} is not a depth-file type (expected one of "
                              f"{', '.join(DEPTH_EXTENSIONS)})")
        if ext not in out:
            out.append(ext)
    if not out:
        raise ConfigError("extensions: at least one extension is needed")
    return tuple(out)


def is_depth_file_name(name: str, extensions: Sequence[str] = (".dat",), *,
                       archive_pattern: str | None = ARCHIVE_PATTERN) -> bool:
    """Whether a file name denotes a depth recording to extract.

    Parameters
    ----------
    name : str
        Base name of the file.
    extensions : sequence of str
        Dotted, lower-case extensions (see :func:`normalize_extensions`).
    archive_pattern : str or None
        Regular expression that archives must match in full (None: archives only by
        extension).
    """
    lower = name.lower()
    if name.startswith(".") or ".partial" in lower:
        return False
    if lower.startswith("ir") or ".ir." in lower or _NOT_DEPTH.match(lower):
        return False
    if archive_pattern is not None and re.fullmatch(archive_pattern, name):
        return True
    return any(lower.endswith(ext) for ext in extensions)


@dataclass(frozen=True)
class FoundSession:
    """One discovered recording.

    Attributes
    ----------
    depth_file : Path
        The depth file or archive.
    kind : str
        ``'dat'``, ``'avi'``, ``'mkv'`` or ``'tar'``.
    name : str
        Session name: the folder name, or the archive name without its suffix.
    output_dir : Path
        Where its results go.
    yaml_path, h5_path : Path
        Status file and results file.
    status : str
        ``'complete'`` (status says complete and the h5 exists), ``'partial'`` (a status
        file exists but the run did not finish) or ``'new'``.
    has_metadata : bool
        ``metadata.json`` (archives: always true, their metadata travels inside).
    conflict : Path or None
        Another depth file found earlier that writes to the same output folder; such a
        session is not extracted.
    """

    depth_file: Path
    kind: str
    name: str
    output_dir: Path
    yaml_path: Path
    h5_path: Path
    status: str
    has_metadata: bool
    conflict: Path | None = None

    @property
    def complete(self) -> bool:
        return self.status == COMPLETE


def kind_counts(sessions: Iterable[FoundSession]) -> dict[str, int]:
    """Sessions per kind of depth file (``{'.dat': 2, '.tar.gz': 1}``), in reader order;
    files that are a second copy of another session (``conflict``) are not counted."""
    labels = {"dat": ".dat", "avi": ".avi", "mkv": ".mkv", "tar": ".tar.gz"}
    counts = {label: 0 for label in labels.values()}
    for s in sessions:
        if s.conflict is None:
            counts[labels.get(s.kind, "." + s.kind)] = counts.get(
                labels.get(s.kind, "." + s.kind), 0) + 1
    return {k: v for k, v in counts.items() if v}


def _kind(path: Path) -> str:
    return "tar" if is_archive(path) else path.name.lower().rsplit(".", 1)[-1]


def session_status(yaml_path: str | os.PathLike, h5_path: str | os.PathLike) -> str:
    """``'complete'``, ``'partial'`` or ``'new'`` for a status yaml and its h5."""
    yaml_path, h5_path = Path(yaml_path), Path(h5_path)
    if is_complete(yaml_path) and h5_path.is_file():
        return COMPLETE
    if yaml_path.exists() or h5_path.exists():
        return PARTIAL
    return NEW


def describe_session(depth_file: str | os.PathLike, *, output_dir: str | os.PathLike | None =
                     "proc", bg_roi_index: int = 0) -> FoundSession:
    """The :class:`FoundSession` of one depth file (its status read from disk).

    Paths are made absolute, so jobs do not depend on the working directory of the
    process that runs them.
    """
    depth_file = Path(os.path.abspath(depth_file))
    out = Path(os.path.abspath(resolve_output_dir(depth_file, output_dir)))
    results = ResultsPaths.of(out, bg_roi_index)
    yaml_path, h5_path = results.yaml, results.h5
    kind = _kind(depth_file)
    archive = archive_stem(depth_file.name)
    if archive is not None:
        name, has_meta = archive, True
    else:
        name = depth_file.parent.name
        has_meta = (depth_file.parent / "metadata.json").is_file()
    return FoundSession(depth_file=depth_file, kind=kind, name=name, output_dir=out,
                        yaml_path=yaml_path, h5_path=h5_path,
                        status=session_status(yaml_path, h5_path), has_metadata=has_meta)


def find_sessions(
    root: str | os.PathLike,
    extensions: str | Iterable[str] = DEFAULT_EXTENSIONS,
    *,
    output_dir: str | os.PathLike | None = "proc",
    bg_roi_index: int = 0,
    archive_pattern: str | None = ARCHIVE_PATTERN,
) -> list[FoundSession]:
    """Every recording under ``root`` (recursively), sorted by path.

    Parameters
    ----------
    root : path-like
        Folder to search (hidden folders are not entered).
    extensions : str or iterable of str
        Depth-file extensions (``.dat``, ``.avi``, ``.mkv``, ``.tar.gz``, ``.tgz``; the dot
        is optional; default ``.dat``, ``.avi``, ``.mkv``).  Archives matching
        ``archive_pattern`` are always included.
    output_dir : path-like, optional
        The extraction's ``output_dir`` option (default ``proc``), resolved per session.
    bg_roi_index : int
        Names the results files (``results_XX``).
    archive_pattern : str or None
        Full-match pattern of archive names.

    Returns
    -------
    list of FoundSession
        Sorted by depth-file path; when two files share an output folder, the one whose
        extension comes first in ``extensions`` (then the first by path) is kept and the
        other carries ``conflict``.

    Raises
    ------
    ConfigError
        If ``root`` is not a folder or an extension is unknown.
    """
    exts = normalize_extensions(extensions)
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: input folder does not exist")
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if is_depth_file_name(name, exts, archive_pattern=archive_pattern):
                files.append(Path(dirpath) / name)

    def rank(path: Path) -> tuple[int, str]:
        lower = path.name.lower()
        for i, ext in enumerate(exts):
            if lower.endswith(ext):
                return (i, str(path))
        return (len(exts), str(path))

    owners: dict[Path, Path] = {}
    found: dict[Path, FoundSession] = {}
    for path in sorted(files, key=rank):
        session = describe_session(path, output_dir=output_dir, bg_roi_index=bg_roi_index)
        key = session.output_dir.resolve()
        if key in owners:
            logger.info("%s: same session as %s (same output folder %s); using %s",
                        path, owners[key], session.output_dir, owners[key].name)
            session = FoundSession(**{**session.__dict__, "conflict": owners[key]})
        else:
            owners[key] = path
        found[path] = session
    return [found[p] for p in sorted(found, key=str)]


def recursive_find_unextracted_dirs(
    root_dir: str | os.PathLike | None = None,
    session_pattern: str = ARCHIVE_PATTERN,
    extension: str = ".dat",
    yaml_path: str = "proc/results_00.yaml",
    metadata_path: str = "metadata.json",
    skip_checks: bool = False,
) -> list[str]:
    """Depth files under ``root_dir`` still to be extracted (the original's signature).

    Parameters
    ----------
    root_dir : path-like, optional
        Folder to search (default: the working directory).
    session_pattern : str
        Full-match pattern of archive names.
    extension : str
        Depth-file extension.
    yaml_path : str
        Status file relative to the session folder (archives: to ``<dir>/<stem>``).
    metadata_path : str
        Metadata file relative to the session folder (archives: ``<dir>/<stem>.json``
        or a member of the archive).
    skip_checks : bool
        Return every depth file, finished or not, with metadata or not.

    Returns
    -------
    list of str
        Sorted paths of depth files (not folders).  A file is included when
        ``skip_checks``, or when it is not complete (status ``complete: true`` and the h5
        beside it) and its metadata exists.
    """
    root = Path(root_dir) if root_dir is not None else Path.cwd()
    exts = normalize_extensions(extension)
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not is_depth_file_name(name, exts, archive_pattern=session_pattern):
                continue
            path = Path(dirpath) / name
            if skip_checks:
                out.append(str(path))
                continue
            stem = archive_stem(name)
            base = Path(dirpath) / stem if stem is not None else Path(dirpath)
            status = base / yaml_path
            h5 = status.with_suffix(".h5")
            done = session_status(status, h5) == COMPLETE
            has_meta = True if stem is not None else (Path(dirpath) / metadata_path).is_file()
            if not done and has_meta:
                out.append(str(path))
    return sorted(out)


def load_found_session_paths(input_dir: str | os.PathLike, exts: str | Iterable[str]
                             ) -> list[str]:
    """Depth files exactly one folder below ``input_dir`` (``<input_dir>/*/*<ext>``), sorted.

    Extensions may be given with or without the dot (``"dat"`` matches ``*dat``).
    """
    if isinstance(exts, str):
        exts = [exts]
    found: set[str] = set()
    for ext in exts:
        for path in glob.glob(os.path.join(glob.escape(str(input_dir)), "*", f"*{ext}")):
            if os.path.isfile(path) and is_depth_file_name(
                    os.path.basename(path), (os.path.splitext(path)[1].lower(),),
                    archive_pattern=None):
                found.add(path)
    return sorted(found)


# ------------------------------------------------------------------------------------------
# finished results
# ------------------------------------------------------------------------------------------
def _has_frames(h5_path: str) -> bool:

    try:
        with h5py.File(h5_path, "r") as h5:
            return "frames" in h5
    except OSError:
        logger.warning("%s: not a readable h5 file; ignored", h5_path)
        return False


def recursive_find_h5s(
    root_dir: str | os.PathLike | None = None, ext: str = ".h5", yaml_string: str = "{}.yaml"
) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """Results files under ``root_dir`` with their status yaml (spec 3.8).

    Parameters
    ----------
    root_dir : path-like, optional
        Folder searched recursively (default: the working directory).
    ext : str
        Results-file extension.
    yaml_string : str
        Name of the status file, ``{}`` standing for the h5 stem.

    Returns
    -------
    (h5s, dicts, yamls)
        Sorted h5 paths that have a sibling status yaml and a top-level ``frames`` dataset,
        the parsed yaml of each, and the yaml paths.  Unreadable yamls are skipped with a
        logged warning.
    """
    root = str(root_dir) if root_dir is not None else os.getcwd()
    pattern = os.path.join(glob.escape(root), "**", f"*{ext}")
    h5s, dicts, yamls = [], [], []
    for h5 in sorted(glob.glob(pattern, recursive=True)):
        stem = os.path.splitext(os.path.basename(h5))[0]
        yml = os.path.join(os.path.dirname(h5), yaml_string.format(stem))
        if not os.path.isfile(yml) or not _has_frames(h5):
            continue
        data = read_status_or_skip(yml)
        if data is None:
            continue
        h5s.append(h5)
        dicts.append(data)
        yamls.append(yml)
    return h5s, dicts, yamls


def h5_metadata(h5_path: str | os.PathLike) -> dict[str, Any]:
    """Acquisition metadata of a results file (``/metadata/acquisition``, else
    ``/metadata/extraction``, else ``{}``)."""


    with h5py.File(h5_path, "r") as h5:
        for path in ("metadata/acquisition", "metadata/extraction"):
            if path in h5 and isinstance(h5[path], h5py.Group):
                return read_group(h5[path])
    return {}
