"""What a QC report reads from one extraction: ``results_XX.h5`` and ``results_XX.yaml``.

:func:`load_session_data` reads everything the pages show except the crops (the h5's
``frames`` are read block by block by :mod:`.rasters`, never whole).  Files written without
the optional datasets (``timestamps``, ``metadata/extraction/heading_confidence``,
``metadata/extraction/quality``, ``flips``) load with those fields set to None.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import InputFileError
from ..extract.quality import QUALITY_DATASET
from ..extract.results import SCALAR_NAMES
from ..io.timestamps import looks_like_seconds
from ..output.h5layout import PARAMETERS_GROUP, ROWS_WRITTEN_ATTR, read_group
from ..output.h5read import open_results, read_array
from ..output.status import read_status_or_skip
from ..stats import median

_RESULTS_RE = re.compile(r"^results_(\d+)\.h5$")


@dataclass
class SessionData:
    """One extraction, as the report sees it.

    Attributes
    ----------
    h5_path : Path
        The results file.
    index : int
        Its ``XX`` (the ``bg_roi_index``).
    n_frames : int
        Rows of ``frames`` that hold data.
    crop_shape : (int, int)
        Rows and columns of one crop.
    scalars : dict of str to ndarray, (n,) float64
        The 17 scalars (``SCALAR_NAMES``), NaN where the mouse was not found.
    time_s : ndarray, (n,) float64
        Time of each frame in seconds from the first one (from ``timestamps`` when present,
        else frame index / ``fps``).
    timestamps : ndarray or None, (n,) float64
        The stored timestamps in their source units (milliseconds for Kinect sessions).
    fps : float
        Frame rate: measured from the timestamps when present, else the ``fps`` parameter.
    heading_confidence, quality, flips : ndarray or None, (n,)
        float32 posterior of the chosen heading, uint8 quality flags, bool flips; None
        when the file does not have the dataset.
    roi : ndarray, (H, W) bool
    background : ndarray, (H, W) float64, mm
    box : (int, int)
        (x0, y0): full-frame position of the ROI's bounding box, the origin of the
        ``*_px`` centroids.
    true_depth : float
    first_frame_idx : int
    uuid, version : str
    metadata : dict
        Acquisition metadata (``metadata.json``).
    parameters : dict
        Extraction parameters.
    status : dict or None
        The status yaml, when readable.
    input_file : Path or None
        The depth recording, when it can be found next to the output folder.
    """

    h5_path: Path
    index: int
    n_frames: int
    crop_shape: tuple[int, int]
    scalars: dict[str, np.ndarray]
    time_s: np.ndarray
    timestamps: np.ndarray | None
    fps: float
    heading_confidence: np.ndarray | None
    quality: np.ndarray | None
    flips: np.ndarray | None
    roi: np.ndarray
    background: np.ndarray
    box: tuple[int, int]
    true_depth: float
    first_frame_idx: int
    uuid: str
    version: str
    metadata: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] | None = None
    input_file: Path | None = None

    @property
    def name(self) -> str:
        """A short label: ``SessionName`` of the metadata, else the session folder's name."""
        name = self.metadata.get("SessionName") or ""
        return str(name) if name else self.h5_path.parent.parent.name

    @property
    def subject(self) -> str:
        return str(self.metadata.get("SubjectName") or "")


def results_index(h5_path: str | os.PathLike) -> int:
    """``XX`` of ``results_XX.h5`` (0 for any other name)."""
    m = _RESULTS_RE.match(Path(h5_path).name)
    return int(m.group(1)) if m else 0


def timestamps_to_seconds(timestamps: np.ndarray) -> np.ndarray:
    """Timestamps (milliseconds, or seconds when they look like seconds) as seconds from
    the first frame, float64."""
    ts = np.asarray(timestamps, np.float64)
    if ts.size == 0:
        return ts
    scale = 1.0 if looks_like_seconds(ts) else 1e-3
    return (ts - ts[0]) * scale


def _optional(f: h5py.File, path: str, n: int) -> np.ndarray | None:
    if path not in f:
        return None
    data = f[path]
    if not isinstance(data, h5py.Dataset) or data.ndim != 1 or data.shape[0] < n:
        return None
    return read_array(data)[:n]


def _str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return _str(value[()])
    return str(value)


def find_input_file(proc_dir: Path, status: dict[str, Any] | None) -> Path | None:
    """The depth recording an output folder came from: the ``input_file`` of the status
    yaml if it names one, else ``depth.dat`` / ``depth.avi`` / a single ``.mkv`` /
    ``.tar.gz`` in the folder above."""
    if status:
        named = status.get("input_file") or (status.get("parameters") or {}).get("input_file")
        if named and Path(str(named)).is_file():
            return Path(str(named))
    parent = proc_dir.parent
    for name in ("depth.dat", "depth.avi"):
        if (parent / name).is_file():
            return parent / name
    for pattern in ("*.mkv", "*.tar.gz", "*.tgz"):
        found = sorted(p for p in parent.glob(pattern) if not p.name.startswith("."))
        if len(found) == 1:
            return found[0]
    return None


def load_session_data(h5_path: str | os.PathLike) -> SessionData:
    """Read one results file (and its status yaml) for the report.

    Raises
    ------
    InputFileError
        If the file is missing, not HDF5 or lacks the datasets every results file has.
    """
    path = Path(h5_path)
    yaml_path = path.with_suffix(".yaml")
    status = read_status_or_skip(yaml_path) if yaml_path.is_file() else None
    # the run's parameters as its yaml holds them (the same as the h5's, and a tenth of
    # the time of reading a hundred small datasets); from the h5 without a yaml
    saved = status.get("parameters") if status else None
    with open_results(path) as f:
        try:
            frames = f["frames"]
            n = int(frames.shape[0])
            ext = f["metadata/extraction"]
            rows = ext.attrs.get(ROWS_WRITTEN_ATTR)
            if rows is not None:
                n = min(n, int(rows))
            group = f["scalars"]
            stored = set(group)
            scalars = {name: read_array(group[name])[:n].astype(np.float64)
                       for name in SCALAR_NAMES if name in stored}
            if "centroid_x_mm" not in scalars:
                raise KeyError("scalars/centroid_x_mm")
            roi = read_array(ext["roi"]) > 0
            background = read_array(ext["background"]).astype(np.float64)
            true_depth = float(read_array(ext["true_depth"]))
            first_idx = int(read_array(ext["first_frame_idx"]).ravel()[0])
            version = _str(ext["extract_version"][()]) if "extract_version" in ext else ""
            uuid = _str(f["metadata/uuid"][()]) if "metadata/uuid" in f else ""
            metadata = read_group(f["metadata/acquisition"]) \
                if "metadata/acquisition" in f else {}
            if isinstance(saved, dict) and saved:
                parameters = dict(saved)
            else:
                parameters = read_group(f[PARAMETERS_GROUP]) if PARAMETERS_GROUP in f else {}
            timestamps = _optional(f, "timestamps", n)
            heading = _optional(f, "metadata/extraction/heading_confidence", n)
            quality = _optional(f, QUALITY_DATASET, n)
            flips = _optional(f, "metadata/extraction/flips", n)
            crop_shape = (int(frames.shape[1]), int(frames.shape[2]))
        except KeyError as err:
            raise InputFileError(f"{path}: not a results file (missing {err})") from None
    ys, xs = np.nonzero(roi)
    box = (int(xs.min()), int(ys.min())) if xs.size else (0, 0)
    fps_param = float(parameters.get("fps") or 30.0)
    if timestamps is not None and n > 1:
        time_s = timestamps_to_seconds(timestamps)
        steps = np.diff(time_s)
        steps = steps[np.isfinite(steps) & (steps > 0)]
        fps = 1.0 / median(steps) if steps.size else fps_param
    else:
        time_s = np.arange(n, dtype=np.float64) / fps_param
        fps = fps_param
    if status and not metadata:
        metadata = dict(status.get("metadata") or {})
    return SessionData(
        h5_path=path, index=results_index(path), n_frames=n, crop_shape=crop_shape,
        scalars=scalars, time_s=time_s, timestamps=timestamps, fps=fps,
        heading_confidence=heading,
        quality=None if quality is None else quality.astype(np.uint8),
        flips=None if flips is None else flips.astype(bool),
        roi=roi, background=background, box=box,
        true_depth=true_depth, first_frame_idx=first_idx, uuid=uuid, version=version,
        metadata=metadata, parameters=parameters, status=status,
        input_file=find_input_file(path.parent, status),
    )
