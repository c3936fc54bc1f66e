"""Reading results files back: opening with a one-line error, and the small contents
(for tests, aggregation, reports and exports)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import InputFileError
from .h5layout import (
    ACQUISITION_GROUP,
    EXTRACTION_GROUP,
    PARAMETERS_GROUP,
    ROWS_WRITTEN_ATTR,
    read_group,
)

__all__ = ["open_results", "read_array", "read_results"]


def open_results(path: str | os.PathLike) -> h5py.File:
    """Open a results file for reading; one line naming it when it cannot be.

    Raises
    ------
    InputFileError
        Missing, unreadable or not HDF5.
    """
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise InputFileError(f"{path}: cannot read results file ({err})") from None


def read_array(dataset: h5py.Dataset) -> np.ndarray:
    """All of a numeric dataset, read by h5py's low-level call: the same array as
    ``dataset[()]`` in a third of the time for the small datasets of a results file (no
    selection to build)."""
    out = np.empty(dataset.shape, dataset.dtype)
    if out.size:
        dataset.id.read(h5py.h5s.ALL, h5py.h5s.ALL, out)
    return out


def read_results(path: str | os.PathLike, *, frames: bool = False) -> dict[str, Any]:
    """Load a results file's small contents (for tests, aggregation and reports).

    Returns
    -------
    dict
        ``uuid`` (str), ``n_frames``, ``crop_size``, ``frame_dtype``, ``scalars`` (name ->
        (n,) float32), ``timestamps`` ((n,) float64 or None), ``flips`` ((n,) bool or
        None), ``heading_confidence`` and ``quality`` or None, ``first_frame_idx``,
        ``last_frame_idx``, ``true_depth``, ``extract_version`` (str), ``acquisition`` and
        ``parameters`` (decoded dicts), ``rows_written``; with ``frames=True`` also ``frames`` and
        ``frames_mask`` arrays.
    """
    path = Path(path)
    with open_results(path) as h5:
        ext = h5[EXTRACTION_GROUP]
        out: dict[str, Any] = {
            "uuid": h5["metadata/uuid"].asstr()[()],
            "n_frames": int(h5["frames"].shape[0]),
            "crop_size": tuple(int(v) for v in h5["frames"].shape[1:]),
            "frame_dtype": str(h5["frames"].dtype),
            "scalars": {k: h5["scalars"][k][()] for k in h5["scalars"]},
            "timestamps": h5["timestamps"][()] if "timestamps" in h5 else None,
            "flips": ext["flips"][()] if "flips" in ext else None,
            "heading_confidence": (ext["heading_confidence"][()]
                                   if "heading_confidence" in ext else None),
            "quality": ext["quality"][()] if "quality" in ext else None,
            "first_frame_idx": int(ext["first_frame_idx"][0]),
            "last_frame_idx": int(ext["last_frame_idx"][0]),
            "true_depth": ext["true_depth"][()].item(),
            "extract_version": ext["extract_version"][()].decode("ascii"),
            "acquisition": read_group(h5[ACQUISITION_GROUP]) if ACQUISITION_GROUP in h5
            else {},
            "parameters": read_group(h5[PARAMETERS_GROUP]) if PARAMETERS_GROUP in h5 else {},
            "rows_written": int(ext.attrs.get(ROWS_WRITTEN_ATTR, -1)),
        }
        if frames:
            out["frames"] = h5["frames"][()]
            out["frames_mask"] = h5["frames_mask"][()]
    return out
