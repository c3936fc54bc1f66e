"""Where a session's files live, and how every output file is written.

Two concerns every layer shares, kept in one place:

* **Names.** The archive rule (``.tar.gz`` / ``.tgz``, any case), a session's stem, the
  ``results_XX`` names of one extraction and the spec 1.2 ``--output-dir`` rule.
* **Atomic writes.** Every output file is written under a temporary name next to it,
  ``<dir>/.<name>.partial`` (``.<name>.partial<suffix>`` for writers that choose a format
  by extension), and renamed onto its name only when complete.  A crash, a full disk or
  Ctrl-C leaves the previous file (or none) in place, never half a file.  Temporary files
  are created by ``open`` -- never ``mkstemp``, whose files are mode 0600 -- so the result
  has the mode the process's umask gives (``-rw-r--r--`` under umask 022).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")

PathLike = str | os.PathLike


# --- names -------------------------------------------------------------------------------

def archive_stem(path: PathLike) -> str | None:
    """Name of an archive without ``.tar.gz`` / ``.tgz`` (any case); None if not an archive.

    >>> archive_stem("/data/session_1.TAR.GZ")
    'session_1'
    """
    name = Path(path).name
    lower = name.lower()
    for suffix in ARCHIVE_SUFFIXES:
        if lower.endswith(suffix):
            return name[: -len(suffix)]
    return None


def is_archive(path: PathLike) -> bool:
    """Whether ``path`` names a gzip tarball session (``.tar.gz`` / ``.tgz``, any case)."""
    return archive_stem(path) is not None


def session_stem(path: PathLike) -> str:
    """A depth file's name without its extension (both parts of ``.tar.gz``)."""
    stem = archive_stem(path)
    return stem if stem is not None else Path(path).stem


def results_stem(index: int) -> str:
    """``results_XX``: the name of one extraction's files for ROI index ``index``."""
    return f"results_{int(index):02d}"


@dataclass(frozen=True)
class ResultsPaths:
    """The files one extraction writes in its output folder.

    Attributes
    ----------
    output_dir : Path
    h5, yaml, movie : Path
        ``results_XX.h5``, ``results_XX.yaml`` and ``results_XX.mp4``.
    """

    output_dir: Path
    h5: Path
    yaml: Path
    movie: Path

    @classmethod
    def of(cls, output_dir: PathLike, index: int) -> ResultsPaths:
        """The ``results_XX`` files of ROI ``index`` in ``output_dir``."""
        out = Path(output_dir)
        stem = results_stem(index)
        return cls(out, out / f"{stem}.h5", out / f"{stem}.yaml", out / f"{stem}.mp4")


def resolve_output_dir(input_file: PathLike, output_dir: PathLike | None) -> Path:
    """Output folder of a session (spec 1.2 ``--output-dir`` rule).

    ``None`` means ``proc`` next to the input.  A path that exists (relative to the working
    directory) or is absolute is used as is; otherwise it is taken relative to the input
    file's folder.  Archives get ``<archive dir>/<archive stem>/proc`` so that discovery
    can find their results.
    """
    input_file = Path(input_file)
    base = input_file.parent
    stem = archive_stem(input_file)
    if stem is not None:
        base = base / stem
    out = Path(output_dir) if output_dir not in (None, "") else Path("proc")
    if out.is_absolute() or (out.exists() and len(out.parts) > 1):
        return out
    return base / out


# --- atomic writes -----------------------------------------------------------------------

def partial_path(path: PathLike, *, keep_suffix: bool = False) -> Path:
    """Temporary name of ``path`` while it is written, in the same folder.

    ``<dir>/.<name>.partial``; with ``keep_suffix``, ``<dir>/.<name>.partial<suffix>`` for
    writers that pick the format from the extension (OpenCV, numpy's ``savez``).  Names
    that start with a dot and contain ``.partial`` are never taken for inputs or results.
    """
    path = Path(path)
    tail = path.suffix if keep_suffix else ""
    return path.with_name(f".{path.name}.partial{tail}")


def fsync_file(path: PathLike) -> None:
    """Flush a closed file's data to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: PathLike) -> None:
    """Flush a folder's entries (a rename in it) to the disk, where the OS allows it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory descriptors
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def commit_partial(tmp: PathLike, path: PathLike, *, durable: bool = True) -> Path:
    """Rename a complete temporary file onto ``path`` (after an fsync when ``durable``)."""
    path = Path(path)
    if durable:
        fsync_file(tmp)
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)
    return path


@contextlib.contextmanager
def atomic_path(path: PathLike, *, keep_suffix: bool = False,
                durable: bool = True) -> Iterator[Path]:
    """Context giving the temporary path to write ``path`` through.

    The folder is created if needed.  When the block ends normally the temporary file is
    renamed onto ``path``; when it raises (Ctrl-C included) the temporary file is removed
    and ``path`` is left as it was.

    Parameters
    ----------
    path : path
        The final file.
    keep_suffix : bool
        Keep ``path``'s extension at the end of the temporary name (see :func:`partial_path`).
    durable : bool
        fsync the file and its folder around the rename (False for files whose loss in a
        power cut does no harm).

    Examples
    --------
    >>> with atomic_path(out / "bground.png", keep_suffix=True) as tmp:  # doctest: +SKIP
    ...     cv2.imwrite(str(tmp), image)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = partial_path(path, keep_suffix=keep_suffix)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"{tmp}: nothing was written for {path.name}")
        commit_partial(tmp, path, durable=durable)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if type(err) is OSError and err.filename is None and err.errno is None:
            # a bare OSError (numpy's short write, "N requested and M written"): name the
            # file; errors of a more precise type keep their type and message
            raise OSError(err.errno, err.strerror or str(err) or type(err).__name__,
                          str(path)) from err
        raise


def write_bytes_atomic(path: PathLike, data: bytes | Sequence[bytes], *,
                       durable: bool = True) -> Path:
    """Write ``data`` (bytes, or chunks written one after the other) to ``path``
    atomically (see :func:`atomic_path`)."""
    with atomic_path(path, durable=durable) as tmp:
        if isinstance(data, (bytes, bytearray, memoryview)):
            tmp.write_bytes(data)
        else:
            with open(tmp, "wb") as f:
                for chunk in data:
                    f.write(chunk)
    return Path(path)


def write_text_atomic(path: PathLike, text: str, *, durable: bool = True) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    return write_bytes_atomic(path, text.encode("utf-8"), durable=durable)


def write_yaml_atomic(path: PathLike, data: Mapping[str, Any], *,
                      durable: bool = True, comment: str | None = None) -> Path:
    """Dump ``data`` as the original writes its yaml files (sorted keys, flow-style lists)
    to ``path`` atomically; ``comment`` (one line) goes first as a YAML comment, which no
    reader sees as data."""
    from .config import dump_yaml  # config imports camera, which imports this module

    head = f"# {comment}\n" if comment else ""
    return write_text_atomic(path, head + (dump_yaml(data) or ""), durable=durable)


def read_yaml(path: PathLike, *, what: str = "file") -> Any:
    """Parse a YAML file; a missing, unreadable or invalid one raises
    :class:`~moseq2_extract.errors.InputFileError` naming it and ``what`` it is."""
    import yaml

    from .errors import InputFileError

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise InputFileError(f"{path}: cannot read {what} ({err.strerror or err})") from None
    try:
        # libyaml's safe loader where PyYAML has it: the same documents, ten times faster
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        raise InputFileError(f"{path}: {what} is not valid YAML") from None


def copy_atomic(src: PathLike, dst: PathLike, *, durable: bool = True) -> Path:
    """Copy a file's content to ``dst`` atomically.

    The copy is a new file: its permissions come from the umask, not from the source (a
    read-only raw file gives a copy the user can write, as any other output).
    """
    with atomic_path(dst, durable=durable) as tmp:
        shutil.copyfile(src, tmp)
    return Path(dst)
