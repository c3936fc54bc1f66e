"""The skeleton of ``results_XX.h5`` and its row writes: datasets created from the layout of
:mod:`.h5layout` (:func:`create_layout`, :func:`create_extract_h5`), chunk rows deflated
on a thread pool and written directly (:func:`write_rows`).  :class:`~.h5writer.ResultsWriter`
builds a session's file from these.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import h5py
import numpy as np

from .. import IMPLEMENTATION
from .h5layout import (
    ACQUISITION_GROUP,
    EXTRACT_VERSION,
    EXTRACTION_GROUP,
    FLIPS,
    IMPLEMENTATION_ATTR,
    LATE_DATASETS,
    LAYOUT,
    MASK_BOOL,
    MASK_EM,
    PARAMETERS_GROUP,
    SPINE,
    TIMESTAMPS,
    DatasetSpec,
    chunk_shape,
    layout_for,
    resolve_dtype,
    resolve_shape,
    write_acquisition_metadata,
    write_parameters,
)

LATE_SPECS: dict[str, DatasetSpec] = {s.condition: s for s in LAYOUT
                                       if s.condition in LATE_DATASETS}

__all__ = ["create_extract_h5", "create_layout", "read_rows", "write_rows"]


_deflate: Any
try:  # zlib-ng: deflate at the same level, readable by any zlib, 2-3 times faster
    from zlib_ng import zlib_ng as _deflate
except ImportError:  # pragma: no cover - the standard library's zlib
    import zlib as _deflate

_GZIP_LEVEL = 4  # h5py's default, what the original wrote


def _compress(buf: memoryview) -> bytes:
    return _deflate.compress(buf, _GZIP_LEVEL)


def _plain_gzip_rows(dset: h5py.Dataset) -> bool:
    """Whether ``dset`` is chunked by whole rows with gzip as its only filter: its chunks
    are plain deflate streams, read and written here without HDF5's filter pipeline."""
    chunks = dset.chunks
    return (chunks is not None and dset.compression == "gzip" and not dset.shuffle
            and not dset.fletcher32 and dset.scaleoffset is None
            and tuple(chunks[1:]) == tuple(dset.shape[1:]))


def read_rows(dset: h5py.Dataset, rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` (sorted, unique) of a dataset chunked along its first axis, each chunk
    read and inflated once, up to its last row wanted (:func:`write_rows`' chunks raw, by
    zlib-ng where installed; any other dataset through h5py)."""
    rows = np.asarray(rows, np.int64)
    out = np.empty((rows.size, *dset.shape[1:]), dset.dtype)
    if rows.size == 0:
        return out
    per = dset.chunks[0] if dset.chunks else dset.shape[0]
    raw = _plain_gzip_rows(dset)
    chunk_rows = rows // per
    tail = (0,) * (dset.ndim - 1)
    row_bytes = dset.dtype.itemsize * int(np.prod(dset.shape[1:], dtype=np.int64))
    for c in sorted(set(chunk_rows.tolist())):  # not np.unique: it imports numpy.ma
        a = c * per
        b = min(dset.shape[0], a + per)
        sel = chunk_rows == c
        block = None
        if raw:
            mask, data = dset.id.read_direct_chunk((a, *tail))
            if mask == 0:  # the deflate filter was applied
                wanted = int(rows[sel].max()) - a + 1
                # the stream is inflated only as far as the last row wanted
                flat = np.frombuffer(_deflate.decompressobj().decompress(
                    data, wanted * row_bytes), dset.dtype)
                block = flat.reshape(-1, *dset.shape[1:])
                if len(block) < wanted:  # pragma: no cover - a chunk shorter than stored
                    block = None
        if block is None:
            block = dset[a:b]
        out[sel] = block[rows[sel] - a]
    return out


def write_rows(dset: h5py.Dataset, row: int, data: np.ndarray,
               pool: ThreadPoolExecutor | None = None) -> None:
    """Write ``data`` into rows ``[row, row + len(data))`` of a chunked dataset.

    Chunks that the rows cover completely are gzip-compressed here, in ``pool`` (zlib
    releases the GIL), and stored with ``write_direct_chunk``: a deflate stream like the
    one HDF5's filter would store (zlib-ng's where installed, which any zlib inflates),
    but neither single-threaded nor holding the GIL.
    Partly covered chunks (and datasets that are not plain gzip) use a normal write.
    """
    k = len(data)
    if k == 0:
        return
    if not _plain_gzip_rows(dset) or dset.compression_opts != _GZIP_LEVEL:
        dset[row:row + k] = data
        return
    per = dset.chunks[0]
    stop = row + k
    first = -(-row // per) * per  # first chunk boundary at or after row
    last = (stop // per) * per  # last chunk boundary at or before stop
    if last >= dset.shape[0] and dset.shape[0] % per:
        last -= per  # the dataset's short edge chunk: leave it to HDF5
    if last <= first:
        dset[row:stop] = data
        return
    if first > row:
        dset[row:first] = data[:first - row]
    data = np.ascontiguousarray(data, dtype=dset.dtype)
    starts = range(first, last, per)
    bufs = [data[s - row:s - row + per].data.cast("B") for s in starts]
    packed = pool.map(_compress, bufs) if pool is not None else map(_compress, bufs)
    tail = (0,) * (len(dset.shape) - 1)
    for start, blob in zip(starts, packed):
        dset.id.write_direct_chunk((start, *tail), blob)
    if stop > last:
        dset[last:stop] = data[last - row:]


def _frame_image(name: str, image: Any) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected an (H, W) image, got shape {arr.shape}")
    return arr


def create_dataset(h5: h5py.File, spec: DatasetSpec, shape: tuple[int, ...],
                    dtype: np.dtype, data: Any = None,
                    description: str | None = None) -> h5py.Dataset:
    kwargs: dict[str, Any] = {}
    if spec.compression is not None:
        kwargs["compression"] = spec.compression
        if spec.per_frame:
            kwargs["chunks"] = chunk_shape(shape, dtype.itemsize)
            if shape and shape[0] == 0:  # a chunk may not exceed a fixed zero length
                kwargs["maxshape"] = (None, *shape[1:])
    if spec.fillvalue is not None:
        kwargs["fillvalue"] = spec.fillvalue
    if data is None:
        dset = h5.create_dataset(spec.path, shape=shape, dtype=dtype, **kwargs)
    else:
        dset = h5.create_dataset(spec.path, data=data, dtype=dtype, **kwargs)
    desc = spec.description if description is None else description
    if desc is not None:
        dset.attrs["description"] = desc
    return dset


def create_layout(
    h5: h5py.File,
    *,
    n_frames: int,
    crop_size: tuple[int, int],
    frame_dtype: str = "uint8",
    mask_dtype: str = "bool",
    acquisition_metadata: Mapping[str, Any] | None,
    parameters: Mapping[str, Any] | None,
    uuid: str,
    roi: np.ndarray,
    background: np.ndarray,
    first_frame: np.ndarray,
    first_frame_idx: int,
    last_frame_idx: int,
    true_depth: float | None,
    timestamps: np.ndarray | None = None,
    with_flips: bool = False,
    with_spine: bool = False,
    extract_version: str = EXTRACT_VERSION,
    scalar_descriptions: Mapping[str, str] | None = None,
    parameter_descriptions: Mapping[str, str] | None = None,
) -> None:
    """Create every dataset of spec 5.1 in ``h5``; per-frame datasets are left unfilled.

    Parameters
    ----------
    h5 : h5py.File
        File open for writing.
    n_frames : int
        Number of rows ``n`` of the per-frame datasets.
    crop_size : (int, int)
        Crop shape ``(c0, c1)`` in pixels.
    frame_dtype : {"uint8", "uint16"}
        dtype of ``/frames``.
    mask_dtype : {"bool", "float32"}
        bool masks, or float32 log-likelihoods of the EM tracking model.
    acquisition_metadata : mapping
        Parsed ``metadata.json`` (encoded by
        :func:`~moseq2_extract.output.h5layout.encode_acquisition_value`).
    parameters : mapping
        Parameter snapshot (encoded by
        :func:`~moseq2_extract.output.h5layout.write_parameters`); a ``true_depth`` key is
        not stored (it lives in ``/metadata/extraction/true_depth`` and the yaml).
    uuid : str
        Session uuid (same as the status yaml).
    roi : ndarray, (H, W) bool or float
        Full-frame ROI mask.
    background : ndarray, (H, W) float
        Background image (mm).
    first_frame : ndarray, (H, W) or (1, H, W) uint16
        Raw frame 0 of the video.
    first_frame_idx, last_frame_idx : int
        Extracted video frame range (``last`` exclusive).
    true_depth : float
        Floor depth in mm (an int is stored as int64).
    timestamps : ndarray, (n,) float64, optional
        Timestamps of the extracted frames, source units; no dataset when None.
    with_flips : bool
        Create ``/metadata/extraction/flips``.
    with_spine : bool
        Create ``/metadata/extraction/spine`` (the writer fills it from the crops).
    extract_version : str
        Value of ``/metadata/extraction/extract_version`` (fixed-length bytes).
    scalar_descriptions : mapping, optional
        Overrides of the scalar ``description`` attributes.
    parameter_descriptions : mapping, optional
        Overrides of the parameter ``description`` attributes.
    """
    n = int(n_frames)
    if n < 0:
        raise ValueError(f"n_frames must be >= 0, got {n_frames}")
    c0, c1 = (int(v) for v in crop_size)
    roi = _frame_image("roi", roi)
    background = _frame_image("background", background)
    first_frame = _frame_image("first_frame", first_frame)
    if not roi.shape == background.shape == first_frame.shape:
        raise ValueError(f"roi {roi.shape}, background {background.shape} and first_frame "
                         f"{first_frame.shape} must have the same shape")
    if true_depth is None:
        raise ValueError("true_depth is required to create a results file")
    if mask_dtype not in ("bool", "float32"):
        raise ValueError(f"mask_dtype must be 'bool' or 'float32', got {mask_dtype!r}")
    conditions = {MASK_BOOL if mask_dtype == "bool" else MASK_EM}
    if timestamps is not None:
        timestamps = np.asarray(timestamps, dtype=np.float64).reshape(-1)
        if len(timestamps) != n:
            raise ValueError(f"timestamps: expected {n} values, got {len(timestamps)}")
        conditions.add(TIMESTAMPS)
    if with_flips:
        conditions.add(FLIPS)
    if with_spine:
        conditions.add(SPINE)
    dims = {"n": n, "c0": c0, "c1": c1, "H": roi.shape[0], "W": roi.shape[1]}
    values: dict[str, Any] = {
        "timestamps": timestamps,
        "uuid": str(uuid),
        "true_depth": true_depth,
        "roi": roi,
        "first_frame": first_frame,
        "first_frame_idx": np.array([first_frame_idx]),
        "last_frame_idx": np.array([last_frame_idx]),
        "background": background,
        "extract_version": np.bytes_(extract_version.encode("ascii")),
    }
    scalar_descriptions = scalar_descriptions or {}
    for spec in layout_for(conditions):
        if spec.condition in LATE_DATASETS:
            continue  # created by the first write that carries it
        shape = resolve_shape(spec, dims)
        dtype = resolve_dtype(spec, frame_dtype=frame_dtype, roi=roi, true_depth=true_depth,
                              extract_version=extract_version)
        desc = None
        if spec.path.startswith("scalars/"):
            desc = scalar_descriptions.get(spec.path.split("/", 1)[1])
        if spec.per_frame:
            create_dataset(h5, spec, shape, dtype, description=desc)
            continue
        assert spec.source is not None  # every dataset that is not per frame has one
        data = np.asarray(values[spec.source])
        if spec.source == "uuid":
            data = np.array(values["uuid"], dtype=dtype)
        elif data.shape != shape:
            raise ValueError(f"{spec.path}: expected shape {shape}, got {data.shape}")
        else:
            data = data.astype(dtype, copy=False)
        create_dataset(h5, spec, shape, dtype, data=data, description=desc)
    acq = h5.require_group(ACQUISITION_GROUP)
    write_acquisition_metadata(acq, acquisition_metadata or {})
    params = {k: v for k, v in (parameters or {}).items() if k != "true_depth"}
    write_parameters(h5.require_group(PARAMETERS_GROUP), params, parameter_descriptions)
    h5[EXTRACTION_GROUP].attrs[IMPLEMENTATION_ATTR] = IMPLEMENTATION


def create_extract_h5(h5_file: h5py.File, acquisition_metadata: Mapping[str, Any] | None,
                      config_data: Mapping[str, Any], status_dict: Mapping[str, Any],
                      scalars_attrs: Mapping[str, str] | None, nframes: int,
                      roi: np.ndarray, bground_im: np.ndarray, first_frame: np.ndarray,
                      first_frame_idx: int, last_frame_idx: int, **kwargs: Any) -> None:
    """Create the datasets of ``results_XX.h5`` in an open file (spec 6.1 API).

    Parameters
    ----------
    h5_file : h5py.File
        File open for writing.
    acquisition_metadata : dict
        Parsed ``metadata.json``.
    config_data : mapping
        Reads ``timestamps`` (full source timestamps, or already the ``nframes``
        extracted ones), ``crop_size``, ``frame_dtype``, ``use_tracking_model``,
        ``flip_classifier`` and ``true_depth``.
    status_dict : mapping
        The status yaml content: ``uuid`` and ``parameters`` are used.
    scalars_attrs : mapping
        Scalar name -> description (as from ``scalar_attributes()``).
    nframes : int
        Number of extracted frames.
    roi, bground_im, first_frame : ndarray, (H, W)
        ROI mask, background (mm), raw frame 0 (``(1, H, W)`` accepted).
    first_frame_idx, last_frame_idx : int
        Extracted frame range (``last`` exclusive).
    **kwargs
        Ignored (accepted for compatibility).
    """
    timestamps = config_data.get("timestamps")
    if timestamps is not None:
        timestamps = np.asarray(timestamps, dtype=np.float64).reshape(-1)
        if len(timestamps) != nframes:
            if len(timestamps) < last_frame_idx:
                raise ValueError(f"timestamps: {len(timestamps)} values cannot cover frames "
                                 f"{first_frame_idx}..{last_frame_idx}")
            timestamps = timestamps[first_frame_idx:last_frame_idx]
    crop_size = config_data.get("crop_size", (80, 80))
    create_layout(
        h5_file,
        n_frames=nframes,
        crop_size=(crop_size[0], crop_size[1]),
        frame_dtype=str(config_data.get("frame_dtype", "uint8")),
        mask_dtype="float32" if config_data.get("use_tracking_model") else "bool",
        acquisition_metadata=acquisition_metadata,
        parameters=status_dict.get("parameters"),
        uuid=str(status_dict["uuid"]),
        roi=roi,
        background=bground_im,
        first_frame=first_frame,
        first_frame_idx=first_frame_idx,
        last_frame_idx=last_frame_idx,
        true_depth=config_data.get("true_depth"),
        timestamps=timestamps,
        with_flips=bool(config_data.get("flip_classifier")),
        scalar_descriptions=scalars_attrs,
    )


