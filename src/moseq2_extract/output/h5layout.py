"""The layout of ``results_XX.h5`` declared once, as data (spec section 5.1).

Everything that decides what the results file looks like lives here: the dataset table
(:data:`LAYOUT`), the exact ``description`` strings, and the encoding rules of the two
dictionary-valued groups (acquisition metadata and parameters).  :mod:`.h5writer` creates
files from this table; the tests read every entry back with plain h5py.

Shapes are tuples of symbols resolved by :func:`resolve_shape`:

``"n"``
    number of extracted frames (``last_frame_idx - first_frame_idx``);
``"c0"``, ``"c1"``
    crop size (rows, columns);
``"H"``, ``"W"``
    full video frame shape (rows, columns);
an ``int``
    a fixed length.

Dtypes are numpy dtype names or one of the rules in :data:`DTYPE_RULES`, resolved by
:func:`resolve_dtype`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..config import PARAM_BY_KEY
from ..extract.results import SCALAR_NAMES

log = logging.getLogger(__name__)

#: Default version string written to ``/metadata/extraction/extract_version``.
EXTRACT_VERSION = "1.4.0"

#: Attribute of :data:`EXTRACTION_GROUP` (beside its ``extract_version`` dataset, which
#: keeps the version downstream tools expect) naming the implementation that wrote the
#: file and its own version (``"moseq2-extract-fast 0.1.0"``).
IMPLEMENTATION_ATTR = "implementation"

#: Group paths.
ACQUISITION_GROUP = "metadata/acquisition"
EXTRACTION_GROUP = "metadata/extraction"
PARAMETERS_GROUP = "metadata/extraction/parameters"

#: Attribute of :data:`EXTRACTION_GROUP` recording how many leading rows are written.
ROWS_WRITTEN_ATTR = "rows_written"

#: Exact ``description`` of each scalar dataset, in creation order (spec 5.1, 4.16).
SCALAR_DESCRIPTIONS: dict[str, str] = {
    "centroid_x_px": "X centroid (pixels)",
    "centroid_y_px": "Y centroid (pixels)",
    "velocity_2d_px": "2D velocity (pixels / frame), note that missing frames are not "
    "accounted for",
    "velocity_3d_px": "3D velocity (pixels / frame), note that missing frames are not "
    "accounted for, also height is in mm, not pixels for calculation",
    "width_px": "Mouse width (pixels)",
    "length_px": "Mouse length (pixels)",
    "area_px": "Mouse area (pixels)",
    "centroid_x_mm": "X centroid (mm)",
    "centroid_y_mm": "Y centroid (mm)",
    "velocity_2d_mm": "2D velocity (mm / frame), note that missing frames are not "
    "accounted for",
    "velocity_3d_mm": "3D velocity (mm / frame), note that missing frames are not "
    "accounted for",
    "width_mm": "Mouse width (mm)",
    "length_mm": "Mouse length (mm)",
    "area_mm": "Mouse area (mm^2)",
    "height_ave_mm": "Mouse average height (mm)",
    "angle": "Angle (radians, unwrapped)",
    "velocity_theta": "Angular component of velocity (arctan(vel_x, vel_y))",
}
if tuple(SCALAR_DESCRIPTIONS) != SCALAR_NAMES:  # pragma: no cover - guards the table
    raise AssertionError("SCALAR_DESCRIPTIONS must follow SCALAR_NAMES")

# Conditions under which an entry exists.
ALWAYS = "always"
MASK_BOOL = "mask_bool"  # frames_mask is a boolean mask (no EM tracking model)
MASK_EM = "mask_em"  # frames_mask holds tracking-model log-likelihoods
TIMESTAMPS = "timestamps"  # source timestamps are known
FLIPS = "flips"  # a flip decision is recorded
HEADING_CONFIDENCE = "heading_confidence"  # created on the first chunk that carries it
QUALITY = "quality"  # likewise
SPINE = "spine"  # written by this implementation's extraction (the report's depth raster)
#: Per-frame datasets created by the first chunk that carries them: condition -> the
#: :class:`~moseq2_extract.extract.results.ChunkResult` attribute they hold.
LATE_DATASETS = {HEADING_CONFIDENCE: "heading_confidence", QUALITY: "quality"}

#: Rules for dtypes that depend on the run.
DTYPE_RULES = ("frame_dtype", "roi_dtype", "true_depth_dtype", "vlen_str", "version_bytes")


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset of the results file.

    Attributes
    ----------
    path : str
        Path inside the file, without a leading slash.
    dtype : str
        numpy dtype name, or a rule of :data:`DTYPE_RULES`.
    shape : tuple of str or int
        Shape in symbols (see the module docstring).
    compression : str or None
        ``"gzip"`` (h5py's default level 4, no shuffle) or None.
    description : str or None
        Value of the ``description`` attribute (None: no attribute).
    condition : str
        When the dataset exists (``"always"``, ``"mask_bool"``, ``"mask_em"``,
        ``"timestamps"``, ``"flips"``, ``"heading_confidence"``).
    per_frame : bool
        True if the rows are written chunk by chunk (first axis is ``n``); False if the
        dataset is written whole when the file is created.
    source : str or None
        For whole datasets, the name of the value that fills it (see
        :func:`moseq2_extract.output.h5writer.create_layout`).
    fillvalue : float or None
        HDF5 fill value of rows not written yet.
    """

    path: str
    dtype: str
    shape: tuple[str | int, ...]
    compression: str | None
    description: str | None
    condition: str = ALWAYS
    per_frame: bool = False
    source: str | None = None
    fillvalue: float | None = None


_S = DatasetSpec
#: The datasets of ``results_XX.h5`` in creation order.  The ``acquisition`` and
#: ``parameters`` groups are dictionaries encoded by :func:`encode_acquisition_value` and
#: :func:`encode_parameter_value`.
LAYOUT: tuple[DatasetSpec, ...] = (
    _S("frames", "frame_dtype", ("n", "c0", "c1"), "gzip",
       "3D Numpy array of depth frames (nframes x w x h). Depth values are in mm.",
       per_frame=True),
    _S("frames_mask", "bool", ("n", "c0", "c1"), "gzip",
       "Boolean mask, false=not mouse, true=mouse", condition=MASK_BOOL, per_frame=True),
    _S("frames_mask", "float32", ("n", "c0", "c1"), "gzip",
       "Log-likelihood values from the tracking model (nframes x w x h)", condition=MASK_EM,
       per_frame=True),
    *(
        _S(f"scalars/{name}", "float32", ("n",), "gzip", SCALAR_DESCRIPTIONS[name],
           per_frame=True, fillvalue=float("nan"))
        for name in SCALAR_NAMES
    ),
    _S("timestamps", "float64", ("n",), "gzip", "Depth video timestamps",
       condition=TIMESTAMPS, source="timestamps"),
    _S("metadata/uuid", "vlen_str", (), None, None, source="uuid"),
    _S("metadata/extraction/true_depth", "true_depth_dtype", (), None,
       "Detected true depth of arena floor in mm", source="true_depth"),
    _S("metadata/extraction/roi", "roi_dtype", ("H", "W"), "gzip", "ROI mask", source="roi"),
    _S("metadata/extraction/first_frame", "uint16", ("H", "W"), "gzip",
       "First frame of depth dataset", source="first_frame"),
    _S("metadata/extraction/first_frame_idx", "int64", (1,), "gzip",
       "First frame index of this dataset", source="first_frame_idx"),
    _S("metadata/extraction/last_frame_idx", "int64", (1,), "gzip",
       "Last frame index of this dataset", source="last_frame_idx"),
    _S("metadata/extraction/background", "float64", ("H", "W"), "gzip",
       "Computed background image", source="background"),
    _S("metadata/extraction/extract_version", "version_bytes", (), None,
       "Version of moseq2-extract", source="extract_version"),
    _S("metadata/extraction/flips", "bool", ("n",), "gzip",
       "Output from flip classifier, false=no flip, true=flip", condition=FLIPS,
       per_frame=True),
    _S("metadata/extraction/heading_confidence", "float32", ("n",), "gzip",
       "Posterior probability of the chosen heading (0.5 = undecided); added by this "
       "implementation", condition=HEADING_CONFIDENCE, per_frame=True,
       fillvalue=float("nan")),
    _S("metadata/extraction/quality", "uint8", ("n",), "gzip",
       "Per-frame quality flags (bitwise OR): 1 thin structure removed, 2 part of the mouse "
       "without depth, 4 intrusion ignored, 8 mouse not found, 16 tracker re-initialised, "
       "32 not the largest blob; added by this implementation", condition=QUALITY,
       per_frame=True),
    _S("metadata/extraction/spine", "frame_dtype", ("n", "c1"), "gzip",
       "Height (mm) along the crop's centre rows (mean of the middle 5 rows, 6 for an even "
       "crop size, rounded), "
       "per frame: the spine's profile, tail to head, that the QC report draws as its "
       "depth raster; added by this implementation", condition=SPINE, per_frame=True),
)

LAYOUT_BY_PATH: dict[str, tuple[DatasetSpec, ...]] = {}
for _spec in LAYOUT:
    LAYOUT_BY_PATH[_spec.path] = (*LAYOUT_BY_PATH.get(_spec.path, ()), _spec)


def scalar_attributes() -> dict[str, str]:
    """Scalar name -> ``description`` (the original's ``util.scalar_attributes``)."""
    return dict(SCALAR_DESCRIPTIONS)


def layout_for(conditions: set[str] | frozenset[str]) -> tuple[DatasetSpec, ...]:
    """The entries of :data:`LAYOUT` that exist under ``conditions`` (plus ``"always"``)."""
    return tuple(s for s in LAYOUT if s.condition == ALWAYS or s.condition in conditions)


def resolve_shape(spec: DatasetSpec, dims: Mapping[str, int]) -> tuple[int, ...]:
    """Concrete shape of ``spec`` given ``dims`` (keys ``n``, ``c0``, ``c1``, ``H``, ``W``)."""
    return tuple(int(d) if isinstance(d, int) else int(dims[d]) for d in spec.shape)


def resolve_dtype(spec: DatasetSpec, *, frame_dtype: str = "uint8", roi: Any = None,
                  true_depth: Any = None, extract_version: str = EXTRACT_VERSION) -> np.dtype:
    """Concrete dtype of ``spec``.

    Parameters
    ----------
    frame_dtype : str
        dtype of the stored crops (``uint8`` or ``uint16``).
    roi : ndarray, optional
        The ROI mask: bool stays bool, anything else is stored as float64.
    true_depth : int or float, optional
        An integer (user override) is stored as int64, anything else as float64.
    extract_version : str
        Version string; stored as fixed-length bytes of its length.
    """
    rule = spec.dtype
    if rule == "frame_dtype":
        return np.dtype(frame_dtype)
    if rule == "roi_dtype":
        return np.dtype(bool) if np.asarray(roi).dtype == bool else np.dtype("float64")
    if rule == "true_depth_dtype":
        is_int = isinstance(true_depth, (int, np.integer)) and not isinstance(
            true_depth, (bool, np.bool_))
        return np.dtype("int64") if is_int else np.dtype("float64")
    if rule == "vlen_str":
        return h5py.string_dtype("utf-8")
    if rule == "version_bytes":
        return np.dtype(f"S{max(1, len(extract_version.encode('ascii')))}")
    return np.dtype(rule)


def chunk_shape(shape: tuple[int, ...], itemsize: int,
                target_bytes: int = 1 << 18) -> tuple[int, ...] | None:
    """HDF5 chunk shape for a per-frame dataset: whole rows, about ``target_bytes`` each.

    Chunk shapes are not part of the file contract; rows are kept whole because readers
    (moseq2-pca) slice along frames, and their number is a power of two.  Per-frame
    scalars get 16 kB chunks (4096 frames), so that appending a block of frames does not
    recompress a large chunk again and again.
    """
    if not shape:
        return None
    if len(shape) == 1:
        target_bytes = min(target_bytes, 1 << 14)
    row_bytes = max(1, int(np.prod(shape[1:], dtype=np.int64)) * itemsize)
    # a power of two, so that chunks tile the pipeline's blocks (128 frames) and each
    # block's frames are compressed once, whole chunks at a time
    rows = 1 << max(0, (target_bytes // row_bytes).bit_length() - 1)
    rows = max(1, min(max(shape[0], 1), rows))
    return (rows, *[max(1, s) for s in shape[1:]])


# ---------------------------------------------------------------------------------------
# acquisition metadata (metadata.json) encoding
# ---------------------------------------------------------------------------------------

def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
        v, (bool, np.bool_))


def _encode_scalar(value: Any) -> Any:
    """A bool, int, float, str or path as the numpy value h5py stores; None otherwise.

    bool -> numpy bool; int -> int64 (float64 beyond its range); float -> float64;
    str / Path -> variable-length UTF-8 string.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, bool):
        return np.bool_(value)
    if isinstance(value, int):
        return np.int64(value) if -(2**63) <= value < 2**63 else np.float64(value)
    if isinstance(value, float):
        return np.float64(value)
    if isinstance(value, str):
        return np.array(value, dtype=h5py.string_dtype("utf-8"))
    return None


def encode_acquisition_value(value: Any) -> Any:
    """Data for one ``/metadata/acquisition/<key>`` dataset (spec 5.1).

    Rules: str -> variable-length UTF-8 string; int -> int64; float -> float64;
    bool -> bool; list of str -> variable-length ASCII byte strings, shape (k,);
    list of numbers -> int64 or float64 array (bool list -> bool array); None -> empty
    (null-dataspace) float32 dataset.

    Values the original could not store (nested objects, mixed lists, non-ASCII strings
    in a list) do not abort the extraction here: nested objects and mixed lists are stored
    as their JSON text, non-ASCII string lists as UTF-8 strings (spec 7.1 item 24).

    Returns
    -------
    numpy array or ``h5py.Empty``
        Pass it as ``data=`` to ``create_dataset``.
    """
    if value is None:
        return h5py.Empty("f4")
    scalar = _encode_scalar(value)
    if scalar is not None:
        return scalar
    if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
        return value
    if isinstance(value, (list, tuple, np.ndarray)):
        items = list(value)
        if items and all(isinstance(v, str) for v in items):
            if all(v.isascii() for v in items):
                return np.array([v.encode("ascii") for v in items],
                                dtype=h5py.string_dtype("ascii"))
            return np.array(items, dtype=h5py.string_dtype("utf-8"))
        if all(isinstance(v, (bool, np.bool_)) for v in items) and items:
            return np.asarray(items, dtype=bool)
        if all(_is_number(v) for v in items):
            arr = np.asarray(items)
            if arr.dtype.kind in "iu":
                return arr.astype(np.int64)
            if arr.dtype.kind == "f":
                return arr.astype(np.float64)
    text = json.dumps(value, default=str, sort_keys=True)
    log.warning("acquisition metadata value %s cannot be stored natively; stored as JSON text",
                text[:60])
    return np.array(text, dtype=h5py.string_dtype("utf-8"))


def write_acquisition_metadata(group: h5py.Group, metadata: Mapping[str, Any]) -> None:
    """Write ``metadata`` (the parsed metadata.json) as datasets of ``group``, no attributes."""
    for key, value in metadata.items():
        group.create_dataset(str(key), data=encode_acquisition_value(value))


# ---------------------------------------------------------------------------------------
# parameters group (the original's dict_to_h5)
# ---------------------------------------------------------------------------------------

def parameter_description(key: str) -> str:
    """``description`` attribute of a parameter: its help text, "" for non-options."""
    param = PARAM_BY_KEY.get(key)
    return param.full_help if param is not None else ""


def encode_parameter_value(value: Any) -> Any:
    """Data for one ``parameters/<key>`` dataset (spec 5.1, ``dict_to_h5``).

    Rules: str -> variable-length str; list/tuple -> ``np.asarray`` (lists of str become
    variable-length UTF-8 string arrays); bool -> numpy bool; int -> int64;
    float -> float64; None -> empty dataset of variable-length str dtype.  Dicts are
    subgroups (see :func:`write_parameters`).  Anything else (e.g. ragged lists) is stored
    as its JSON text with a logged warning (the original printed an error and skipped it).
    """
    if value is None:
        return h5py.Empty(h5py.string_dtype("utf-8"))
    scalar = _encode_scalar(value)
    if scalar is not None:
        return scalar
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            arr = np.asarray(value)
        except ValueError:
            arr = np.asarray(None, dtype=object)
        if arr.dtype.kind in "US":
            return arr.astype(str).astype(h5py.string_dtype("utf-8"))
        if arr.dtype.kind in "biuf":
            if arr.dtype.kind in "iu":
                return arr.astype(np.int64)
            if arr.dtype.kind == "f":
                return arr.astype(np.float64)
            return arr
    text = json.dumps(value, default=str, sort_keys=True)
    log.warning("parameter value %s cannot be stored natively; stored as JSON text", text[:60])
    return np.array(text, dtype=h5py.string_dtype("utf-8"))


def write_parameters(group: h5py.Group, parameters: Mapping[str, Any],
                     descriptions: Mapping[str, str] | None = None) -> None:
    """Write ``parameters`` into ``group`` (datasets, dicts as subgroups).

    Every dataset and subgroup gets a ``description`` attribute: ``descriptions[key]`` if
    given, else the parameter's help text from :mod:`moseq2_extract.config` ("" for keys
    that are not options).  Nested keys get "" unless ``descriptions`` names them.
    """
    _write_parameters(group, parameters, descriptions, top=True)


def _write_parameters(group: h5py.Group, parameters: Mapping[str, Any],
                      descriptions: Mapping[str, str] | None, *, top: bool) -> None:
    for key, value in parameters.items():
        key = str(key)
        if descriptions is not None and key in descriptions:
            desc = str(descriptions[key])
        else:
            desc = parameter_description(key) if top else ""
        if isinstance(value, Mapping):
            sub = group.create_group(key)
            sub.attrs["description"] = desc
            _write_parameters(sub, value, descriptions=None, top=False)
            continue
        dset = group.create_dataset(key, data=encode_parameter_value(value))
        dset.attrs["description"] = desc


def read_group(group: h5py.Group) -> dict[str, Any]:
    """Decode a group written by :func:`write_parameters` or
    :func:`write_acquisition_metadata` into plain Python values.

    Strings become ``str``, scalars Python numbers/bools, arrays lists, empty datasets
    ``None``, subgroups dicts.
    """
    out: dict[str, Any] = {}
    for key, item in group.items():
        if isinstance(item, h5py.Group):
            out[key] = read_group(item)
            continue
        if item.shape is None:
            out[key] = None
            continue
        if h5py.check_string_dtype(item.dtype) is not None:
            value = item.asstr()[()]
            out[key] = value.tolist() if isinstance(value, np.ndarray) else str(value)
            continue
        value = item[()]
        out[key] = value.tolist() if isinstance(value, (np.ndarray, np.generic)) else value
    return out
