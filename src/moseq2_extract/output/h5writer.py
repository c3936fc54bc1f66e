"""Writing ``results_XX.h5`` from the layout of :mod:`.h5layout`.

:class:`ResultsWriter` creates the whole file skeleton under a temporary name
(``<dir>/.<name>.partial``), writes chunk results row by row, and renames the file to its
final name only in :meth:`ResultsWriter.finalize`, after it has been flushed, closed and
synced.  A process killed at any moment therefore never leaves a file at the final path
that looks complete (spec 7.1 item 36); a partial file can be resumed with
:meth:`ResultsWriter.resume`, which trusts only the rows counted in the
``/metadata/extraction`` attribute ``rows_written`` (updated after each flushed write).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
import time
import zlib
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import InputFileError
from ..extract.crop import spine_profile
from ..extract.results import SCALAR_NAMES, ChunkResult
from ..paths import commit_partial, partial_path
from .h5layout import (
    EXTRACT_VERSION,
    EXTRACTION_GROUP,
    LATE_DATASETS,
    PARAMETERS_GROUP,
    ROWS_WRITTEN_ATTR,
    write_parameters,
)
from .h5skeleton import LATE_SPECS, create_dataset, create_extract_h5, create_layout, write_rows

log = logging.getLogger(__name__)

__all__ = ["ResultsWriter", "create_extract_h5", "create_layout", "partial_path",
           "write_rows"]


_H5_ERRNO = re.compile(r"errno = (\d+)")


def _named_io_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Re-raise HDF5's write failures (a full disk, a file-size limit: ``RuntimeError`` or
    ``OSError`` naming neither the file nor, for the RuntimeError, the errno in its
    attributes) as an ``OSError`` with the errno and this writer's file."""

    @functools.wraps(method)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (OSError, RuntimeError) as err:
            text = str(err)
            match = _H5_ERRNO.search(text)
            if isinstance(err, OSError) and err.filename is not None:
                raise
            if not isinstance(err, OSError) and match is None:
                raise
            code = int(match.group(1)) if match else err.errno  # type: ignore[union-attr]
            raise OSError(code, os.strerror(code) if code else text.splitlines()[0],
                          str(getattr(self, "partial_path", ""))) from err

    return wrapped


class ResultsWriter:
    """Write one ``results_XX.h5`` atomically, chunk by chunk.

    The file is created complete (every dataset sized ``n_frames``) under
    :func:`partial_path` and renamed to ``path`` by :meth:`finalize`.  Used as a context
    manager, an exception inside the ``with`` block aborts (the temporary file is deleted);
    a clean exit finalizes.

    Parameters
    ----------
    path : path-like
        Final path of the results file.
    n_frames : int
        Number of extracted frames ``n``.
    crop_size : (int, int)
        Crop shape in pixels.
    frame_dtype : {"uint8", "uint16"}
        dtype of ``/frames``.
    acquisition_metadata : dict
        Parsed ``metadata.json``.
    parameters : dict
        Parameter snapshot for ``/metadata/extraction/parameters``.
    uuid : str
        Session uuid.
    roi : ndarray, (H, W) bool
        Full-frame ROI mask.
    background : ndarray, (H, W) float
        Background (mm).
    first_frame : ndarray, (H, W) uint16
        Raw frame 0.
    first_frame_idx, last_frame_idx : int
        Extracted video frame range (``last`` exclusive).
    true_depth : float
        Floor depth (mm).
    timestamps : ndarray, (n,) float64 or None
        Timestamps of the extracted frames.
    with_flips : bool
        Record ``ChunkResult.flips`` in ``/metadata/extraction/flips``.
    with_spine : bool
        Record the crops' spine profiles (:func:`~moseq2_extract.extract.crop.spine_profile`)
        in ``/metadata/extraction/spine``, for the QC report's depth raster.
    extract_version : str
        Version string stored in the file.
    mask_dtype : {"bool", "float32"}
        ``float32`` for EM tracking-model log-likelihood masks.
    flush_interval : float
        Seconds between flushes of the data and of the ``rows_written`` attribute that
        vouches for it (0: after every write).  Each flush compresses the partly filled
        chunks of the per-frame scalars again, so a streaming writer flushes now and then.
    """

    @_named_io_errors
    def __init__(
        self,
        path: str | os.PathLike,
        *,
        n_frames: int,
        crop_size: tuple[int, int],
        frame_dtype: str,
        acquisition_metadata: Mapping[str, Any] | None,
        parameters: Mapping[str, Any] | None,
        uuid: str,
        roi: np.ndarray,
        background: np.ndarray,
        first_frame: np.ndarray,
        first_frame_idx: int,
        last_frame_idx: int,
        true_depth: float,
        timestamps: np.ndarray | None,
        with_flips: bool,
        with_spine: bool = True,
        extract_version: str = EXTRACT_VERSION,
        mask_dtype: str = "bool",
        flush_interval: float = 0.0,
    ):
        self.path = Path(path)
        self.partial_path = partial_path(self.path)
        self.partial_path.parent.mkdir(parents=True, exist_ok=True)
        self.partial_path.unlink(missing_ok=True)
        h5 = h5py.File(self.partial_path, "w")
        try:
            create_layout(
                h5, n_frames=n_frames, crop_size=crop_size, frame_dtype=frame_dtype,
                mask_dtype=mask_dtype, acquisition_metadata=acquisition_metadata,
                parameters=parameters, uuid=uuid, roi=roi, background=background,
                first_frame=first_frame, first_frame_idx=first_frame_idx,
                last_frame_idx=last_frame_idx, true_depth=true_depth, timestamps=timestamps,
                with_flips=with_flips, with_spine=with_spine,
                extract_version=extract_version)
            h5[EXTRACTION_GROUP].attrs[ROWS_WRITTEN_ATTR] = np.int64(0)
            h5.flush()
        except BaseException:
            with contextlib.suppress(Exception):  # closing flushes: it fails on a full disk
                h5.close()
            self.partial_path.unlink(missing_ok=True)
            raise
        self._attach(h5)
        self.flush_interval = float(flush_interval)

    # -- construction helpers --------------------------------------------------------

    def _attach(self, h5: h5py.File) -> None:
        self._h5: h5py.File | None = h5
        self._frames = h5["frames"]
        self._masks = h5["frames_mask"]
        self._scalars = {name: h5[f"scalars/{name}"] for name in SCALAR_NAMES}
        ext = h5[EXTRACTION_GROUP]
        self._flips = ext.get("flips")
        self._spine = ext.get("spine")
        self._late = {cond: ext.get(spec.path.rsplit("/", 1)[1])
                      for cond, spec in LATE_SPECS.items()}
        self.n_frames = int(self._frames.shape[0])
        self.crop_size = (int(self._frames.shape[1]), int(self._frames.shape[2]))
        self.frame_dtype = str(self._frames.dtype)
        self.with_flips = self._flips is not None
        self.uuid = h5["metadata/uuid"].asstr()[()]
        self._rows_written = int(ext.attrs.get(ROWS_WRITTEN_ATTR, 0))
        self._pending: list[tuple[int, int]] = []  # written ranges beyond the prefix
        self._finalized = False
        self._pool: ThreadPoolExecutor | None = None
        self.flush_interval = 0.0
        self._last_flush = time.monotonic()
        # crc32 of each per-frame dataset's rows [0, _crc_rows), as written (None once a
        # write does not continue them)
        self._crc: dict[str, int] | None = {} if self._rows_written == 0 else None
        self._crc_rows = 0

    @classmethod
    def resume(cls, path: str | os.PathLike, *, rows: int | None = None,
               checksums: Mapping[str, int] | None = None,
               parameters: Mapping[str, Any] | None = None,
               flush_interval: float = 0.0) -> tuple[ResultsWriter, int]:
        """Reopen the partial file of ``path`` to continue writing it.

        Parameters
        ----------
        rows : int, optional
            Continue after this many rows (at most the flushed ``rows_written``); rows
            from here on are written again.
        checksums : mapping, optional
            :attr:`checksums` of the first ``rows`` rows as they were written: the rows
            are read back and compared (a file damaged by a lost machine is not resumed).
        parameters : mapping, optional
            Replace the ``parameters`` group (the snapshot of the run that continues).
        flush_interval : float
            As for the constructor.

        Returns
        -------
        writer : ResultsWriter
        rows_done : int
            Number of leading rows known to be written and flushed; rows from here on
            must be written again.

        Raises
        ------
        InputFileError
            If there is no partial file, or it cannot be opened or lacks the layout (e.g.
            the process was killed in the middle of a metadata update); start afresh then.
        """
        final = Path(path)
        tmp = partial_path(final)
        if not tmp.is_file():
            raise InputFileError(f"{tmp}: no partial results file to resume")
        try:
            h5 = h5py.File(tmp, "r+")
        except OSError as err:
            raise InputFileError(f"{tmp}: partial results file is unreadable ({err})") from None
        self = cls.__new__(cls)
        self.path = final
        self.partial_path = tmp
        try:
            if ROWS_WRITTEN_ATTR not in h5[EXTRACTION_GROUP].attrs:
                # the attribute is set only once the whole skeleton exists
                raise KeyError("the file skeleton was never completed")
            self._attach(h5)
            if rows is not None:
                self._continue_from(int(rows), checksums)
            if parameters is not None:
                del h5[PARAMETERS_GROUP]
                write_parameters(h5.require_group(PARAMETERS_GROUP),
                                 {k: v for k, v in parameters.items() if k != "true_depth"})
                h5.flush()
        except (KeyError, OSError, ValueError, RuntimeError) as err:
            h5.close()
            raise InputFileError(f"{tmp}: partial results file is incomplete ({err})") from None
        self.flush_interval = float(flush_interval)
        return self, self._rows_written

    def _continue_from(self, rows: int, checksums: Mapping[str, int] | None) -> None:
        if not 0 <= rows <= self._rows_written:
            raise ValueError(f"{rows} rows asked, {self._rows_written} vouched for")
        self._rows_written, self._pending = rows, []
        found = self._read_checksums(rows)
        if checksums is not None and found != dict(checksums):
            bad = sorted(k for k in set(found) | set(checksums)
                         if found.get(k) != checksums.get(k))
            raise ValueError(f"the first {rows} rows differ from what was written "
                             f"({', '.join(bad)})")
        self._crc, self._crc_rows = found, rows

    def _per_frame(self) -> dict[str, h5py.Dataset]:
        out = {"frames": self._frames, "frames_mask": self._masks}
        out.update({f"scalars/{k}": v for k, v in self._scalars.items()})
        if self._flips is not None:
            out["flips"] = self._flips
        if self._spine is not None:
            out["spine"] = self._spine
        out.update({k: v for k, v in self._late.items() if v is not None})
        return out

    def _read_checksums(self, rows: int, step: int = 4096) -> dict[str, int]:
        out = {}
        for name, dset in self._per_frame().items():
            crc = 0
            for a in range(0, rows, step):
                crc = zlib.crc32(np.ascontiguousarray(dset[a:min(rows, a + step)]).data, crc)
            out[name] = crc
        return out

    @property
    def checksums(self) -> dict[str, int] | None:
        """crc32 of each per-frame dataset's first :attr:`rows_written` rows as written
        (None if the rows were not written in order from the first)."""
        if self._crc is None or self._crc_rows != self._rows_written:
            return None
        return dict(self._crc)

    def _update_checksums(self, row: int, arrays: Mapping[str, np.ndarray]) -> None:
        if self._crc is None or row != self._crc_rows:
            self._crc = None
            return
        for name, arr in arrays.items():
            self._crc[name] = zlib.crc32(np.ascontiguousarray(arr).data,
                                         self._crc.get(name, 0))
        self._crc_rows = row + len(next(iter(arrays.values())))

    # -- state -----------------------------------------------------------------------

    @property
    def rows_written(self) -> int:
        """Number of leading rows written (the file vouches for them once flushed, at most
        ``flush_interval`` seconds later)."""
        return self._rows_written

    @property
    def h5(self) -> h5py.File:
        """The open partial file (for adding extra datasets before :meth:`finalize`)."""
        if self._h5 is None:
            raise ValueError(f"{self.partial_path}: results writer is closed")
        return self._h5

    def _record(self, start: int, stop: int) -> None:
        self._pending.append((start, stop))
        self._pending.sort()
        done = self._rows_written
        rest = []
        for a, b in self._pending:
            if a <= done:
                done = max(done, b)
            else:
                rest.append((a, b))
        self._pending = rest
        self._rows_written = done

    # -- writing ---------------------------------------------------------------------

    @_named_io_errors
    def write(self, result: ChunkResult, row: int) -> None:
        """Write ``result`` at rows ``[row, row + len(result))`` (and flush, when
        ``flush_interval`` seconds have passed since the last flush).

        Parameters
        ----------
        result : ChunkResult
            ``frames`` (k, c0, c1), ``masks`` (k, c0, c1), the 17 ``scalars`` (k,), and
            ``flips`` (k,) when the file records flips; ``heading_confidence`` (k,) is
            stored when not None.
        row : int
            First row (0 = ``first_frame_idx``).
        """
        h5 = self.h5
        k = len(result)
        row = int(row)
        if row < 0 or row + k > self.n_frames:
            raise ValueError(f"{self.partial_path}: rows {row}..{row + k} outside "
                             f"0..{self.n_frames}")
        shape = (k, *self.crop_size)
        for name, arr in (("frames", result.frames), ("masks", result.masks)):
            if np.shape(arr) != shape:
                raise ValueError(f"{self.partial_path}: {name} shape {np.shape(arr)}, "
                                 f"expected {shape}")
        missing = [s for s in SCALAR_NAMES if s not in result.scalars]
        if missing:
            raise ValueError(f"{self.partial_path}: scalars missing {missing}")
        if self._flips is not None and result.flips is None:
            raise ValueError(f"{self.partial_path}: this file records flips but the chunk "
                             "has none")
        if k == 0:
            return
        sl = slice(row, row + k)
        pool = self._get_pool()
        rows = {"frames": np.asarray(result.frames, dtype=self._frames.dtype),
                "frames_mask": np.asarray(result.masks, dtype=self._masks.dtype)}
        write_rows(self._frames, row, rows["frames"], pool)
        write_rows(self._masks, row, rows["frames_mask"], pool)
        if self._spine is not None:
            rows["spine"] = spine_profile(rows["frames"])
            write_rows(self._spine, row, rows["spine"], pool)
        for name, dset in self._scalars.items():
            rows[f"scalars/{name}"] = values = np.asarray(
                result.scalars[name], dtype=np.float32).reshape(k)
            dset[sl] = values
        if self._flips is not None:
            rows["flips"] = values = np.asarray(result.flips, dtype=bool).reshape(k)
            self._flips[sl] = values
        for cond, attr in LATE_DATASETS.items():
            late = getattr(result, attr)
            if late is None:
                continue
            spec = LATE_SPECS[cond]
            dset = self._late[cond]
            if dset is None:
                if row:  # the rows before this one hold the fill value
                    self._crc = None
                dset = self._late[cond] = create_dataset(h5, spec, (self.n_frames,),
                                                          np.dtype(spec.dtype))
            rows[cond] = values = np.asarray(late, dtype=spec.dtype).reshape(k)
            dset[sl] = values
        self._update_checksums(row, rows)
        self._record(row, row + k)
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self._flush_progress()

    @_named_io_errors
    def flush(self, *, durable: bool = False) -> None:
        """Flush the data and ``rows_written`` now (and sync them to the disk if
        ``durable``)."""
        self._flush_progress()
        if durable:
            os.fsync(self.h5.id.get_vfd_handle())

    @_named_io_errors
    def _flush_progress(self) -> None:
        h5 = self.h5
        h5.flush()  # the data first ...
        h5[EXTRACTION_GROUP].attrs[ROWS_WRITTEN_ATTR] = np.int64(self._rows_written)
        h5.flush()  # ... then the progress that vouches for it
        self._last_flush = time.monotonic()

    def _get_pool(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1),
                                            thread_name_prefix="h5-gzip")
        return self._pool

    def _shutdown_pool(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    # -- ending ----------------------------------------------------------------------

    @_named_io_errors
    def finalize(self, *, require_complete: bool = True) -> Path:
        """Flush, close, sync and atomically rename the file to its final path.

        Parameters
        ----------
        require_complete : bool
            Raise ``ValueError`` (leaving the partial file open) unless every row has
            been written.

        Returns
        -------
        Path
            The final path.
        """
        h5 = self.h5
        if require_complete and self._rows_written != self.n_frames:
            raise ValueError(f"{self.partial_path}: only {self._rows_written} of "
                             f"{self.n_frames} rows written")
        h5[EXTRACTION_GROUP].attrs[ROWS_WRITTEN_ATTR] = np.int64(self._rows_written)
        h5.flush()
        h5.close()
        self._h5 = None
        self._shutdown_pool()
        commit_partial(self.partial_path, self.path)
        self._finalized = True
        log.debug("wrote %s", self.path)
        return self.path

    def close(self) -> None:
        """Close the partial file and keep it (it can be resumed)."""
        self._shutdown_pool()
        if self._h5 is not None:
            with contextlib.suppress(Exception):
                self._h5.flush()
            self._h5.close()
            self._h5 = None

    def abort(self) -> None:
        """Close and delete the partial file (the final path is not touched)."""
        self._shutdown_pool()
        if self._h5 is not None:
            with contextlib.suppress(Exception):
                self._h5.close()
            self._h5 = None
        if not self._finalized:
            self.partial_path.unlink(missing_ok=True)

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
            return
        if self._h5 is not None:
            try:
                self.finalize()
            except BaseException:
                self.close()
                raise
