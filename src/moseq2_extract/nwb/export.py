"""``export_nwb``: one extraction (``results_XX.h5``) as an NWB 2 file, with pynwb.

Layout (names follow ``ndx-depth-moseq`` and the DANDI conversions of MoSeq data, built
from pynwb's core types only -- see the module :mod:`moseq2_extract.nwb` for why):

``processing/behavior`` (a ProcessingModule)
    ``processed_depth_video`` ImageSeries: the crops, (n, c0, c1), unit mm, with the
    timestamps; ``processed_depth_video_mask`` ImageMaskSeries (bool mask as uint8, or the
    tracking model's float32 log-likelihoods as an ImageSeries when there is no bool mask);
    ``images`` Images: ``background`` (mm), ``roi`` (0/1), ``first_frame`` (mm);
    ``position`` Position / ``centroid`` SpatialSeries (n, 2) mm;
    ``heading`` CompassDirection / ``heading`` SpatialSeries (n,) radians;
    ``scalars`` BehavioralTimeSeries: each of the 17 h5 scalars as a TimeSeries of the same
    name (speeds, height, length, width, area...), units from the h5 descriptions;
    ``extraction`` BehavioralTimeSeries: ``flips``, ``heading_confidence`` and ``quality``
    when the results file has them;
    ``extraction_parameters`` DynamicTable: one row per parameter (columns parameter,
    value as JSON text, help), plus ``extract_version``, ``true_depth`` and the uuid.

Subject and session come from the acquisition metadata (``metadata.json``); timestamps are
seconds from the first extracted frame.  The file is written to a temporary name and
renamed when complete.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .. import IMPLEMENTATION, __version__
from ..errors import InputFileError
from ..extract.quality import QUALITY_DATASET, Quality
from ..extract.results import SCALAR_NAMES
from ..output.h5layout import PARAMETERS_GROUP, SCALAR_DESCRIPTIONS, read_group
from ..output.h5read import open_results
from ..paths import atomic_path

#: Frames per chunk streamed into the NWB file (memory stays bounded for long sessions).
STREAM_BLOCK = 1024
#: Species written when metadata.json names none (MoSeq records mice).
DEFAULT_SPECIES = "Mus musculus"


def _unit(name: str) -> str:
    if name == "angle" or name == "velocity_theta":
        return "radians"
    desc = SCALAR_DESCRIPTIONS.get(name, "")
    if "(" in desc and ")" in desc:
        return desc[desc.index("(") + 1:desc.index(")")]
    return "n.a."


def _start_time(metadata: dict[str, Any], fallback: Path) -> _dt.datetime:
    """``StartTime`` of metadata.json as an aware datetime (7-digit fractions allowed),
    else the results file's modification time."""
    text = str(metadata.get("StartTime") or "")
    if text:
        cleaned = text.replace("Z", "+00:00")
        if "." in cleaned:
            head, rest = cleaned.split(".", 1)
            digits = "".join(c for c in rest if c.isdigit())
            tz = rest[len(digits):]
            cleaned = f"{head}.{digits[:6].ljust(6, '0')}{tz}"
        try:
            value = _dt.datetime.fromisoformat(cleaned)
        except ValueError:
            value = None
        if value is not None:
            return value if value.tzinfo else value.astimezone()
    return _dt.datetime.fromtimestamp(fallback.stat().st_mtime).astimezone()


def timestamps_seconds(f: h5py.File, n: int, fps: float) -> np.ndarray:
    """Seconds from the first extracted frame: the h5 timestamps (milliseconds, or seconds
    when they look like seconds) or ``arange(n) / fps`` without them."""
    from ..report.data import timestamps_to_seconds

    if "timestamps" in f and f["timestamps"].shape[0] >= n:
        return timestamps_to_seconds(f["timestamps"][:n])
    return np.arange(n, dtype=np.float64) / fps


def _blocks(dataset: h5py.Dataset, n: int, dtype: Any = None) -> Iterator[np.ndarray]:
    for a in range(0, n, STREAM_BLOCK):
        block = dataset[a:min(n, a + STREAM_BLOCK)]
        yield block if dtype is None else block.astype(dtype)


def _streamed(dataset: h5py.Dataset, n: int, dtype: Any = None):
    """A chunk iterator over the first ``n`` rows, read :data:`STREAM_BLOCK` at a time and
    gzip-compressed in the NWB file."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO
    from hdmf.data_utils import AbstractDataChunkIterator, DataChunk

    shape = (n, *dataset.shape[1:])
    out_dtype = np.dtype(dtype or dataset.dtype)

    class _Rows(AbstractDataChunkIterator):
        def __init__(self) -> None:
            self._it = _blocks(dataset, n, dtype)
            self._pos = 0

        def __iter__(self):
            return self

        def __next__(self) -> DataChunk:
            block = next(self._it)
            sel = (slice(self._pos, self._pos + block.shape[0]),
                   *(slice(0, d) for d in shape[1:]))
            self._pos += block.shape[0]
            return DataChunk(data=block, selection=sel)

        def recommended_chunk_shape(self):
            return (min(max(n, 1), 32), *shape[1:])

        def recommended_data_shape(self):
            return shape

        @property
        def dtype(self):
            return out_dtype

        @property
        def maxshape(self):
            return shape

    return H5DataIO(_Rows(), compression="gzip", compression_opts=4)


def _gz(data: Any):
    """``data`` (an array) gzip-compressed in the NWB file."""
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    return H5DataIO(np.asarray(data), compression="gzip", compression_opts=4)


def _json(value: Any) -> str:
    return json.dumps(value, default=str, sort_keys=True)


def default_nwb_path(h5_path: str | os.PathLike) -> Path:
    """``results_XX.nwb`` next to ``results_XX.h5``."""
    return Path(h5_path).with_suffix(".nwb")


def _first(metadata: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        if metadata.get(key):
            return str(metadata[key])
    return None


def export_nwb(h5_path: str | os.PathLike, output: str | os.PathLike | None = None, *,
               species: str | None = None, sex: str | None = None,
               age: str | None = None) -> Path:
    """Write the NWB file of one extraction.

    Parameters
    ----------
    h5_path : path-like
        ``results_XX.h5``.
    output : path-like, optional
        The NWB file (default: :func:`default_nwb_path`).
    species : str, optional
        Subject species (default: metadata.json's ``Species``, else
        :data:`DEFAULT_SPECIES`).
    sex : str, optional
        ``M``, ``F``, ``U`` or ``O`` (default: metadata.json's ``Sex`` / ``SubjectSex``,
        else ``U``, unknown).
    age : str, optional
        ISO 8601 duration, e.g. ``P90D`` (default: metadata.json's ``Age`` /
        ``SubjectAge``, else ``P0D/``: unknown, any age).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InputFileError
        If ``h5_path`` is not a readable results file.
    """
    from hdmf.common import DynamicTable
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.base import Images
    from pynwb.behavior import BehavioralTimeSeries, CompassDirection, Position, SpatialSeries
    from pynwb.file import Subject
    from pynwb.image import GrayscaleImage, ImageSeries

    h5_path = Path(h5_path)
    out = Path(output) if output is not None else default_nwb_path(h5_path)
    with open_results(h5_path) as f:
        if "frames" not in f or "metadata/extraction" not in f:
            raise InputFileError(f"{h5_path}: not a results file (no frames / metadata)")
        ext = f["metadata/extraction"]
        n = int(f["frames"].shape[0])
        metadata = read_group(f["metadata/acquisition"]) if "metadata/acquisition" in f \
            else {}
        parameters = read_group(f[PARAMETERS_GROUP]) if PARAMETERS_GROUP in f else {}
        fps = float(parameters.get("fps") or 30.0)
        t = timestamps_seconds(f, n, fps)
        uuid = f["metadata/uuid"].asstr()[()] if "metadata/uuid" in f else h5_path.stem
        version = ext["extract_version"][()].decode() if "extract_version" in ext else ""

        subject_id = str(metadata.get("SubjectName") or "unknown")
        session_name = str(metadata.get("SessionName") or h5_path.parent.parent.name)
        nwb = NWBFile(
            session_description=f"MoSeq depth extraction of session {session_name}",
            identifier=str(uuid),
            session_start_time=_start_time(metadata, h5_path),
            session_id=session_name,
            keywords=["MoSeq", "depth video", "behavior"],
            experiment_description=_first(metadata, "ExperimentDescription") or
            "Depth recording of a freely moving mouse, extracted for MoSeq",
            experimenter=_first(metadata, "Experimenter"),
            institution=_first(metadata, "Institution"),
            source_script=f"moseq2-extract {__version__} ({IMPLEMENTATION}; extract_version "
                          f"{version})",
            source_script_file_name=str(h5_path.name),
            subject=Subject(subject_id=subject_id,
                            species=species or _first(metadata, "Species") or DEFAULT_SPECIES,
                            sex=sex or _first(metadata, "Sex", "SubjectSex") or "U",
                            age=age or _first(metadata, "Age", "SubjectAge") or "P0D/",
                            description="Subject of the depth recording (metadata.json)"),
        )
        behavior = nwb.create_processing_module(
            "behavior", "MoSeq extraction: depth crops and per-frame scalars")
        timestamps = _gz(t)
        video = ImageSeries(
            name="processed_depth_video", data=_streamed(f["frames"], n), unit="mm",
            format="raw", timestamps=timestamps,
            description=str(f["frames"].attrs.get("description", "")) or
            "Egocentric depth crops, heights above the floor in mm",
        )
        behavior.add(video)
        if "frames_mask" in f:
            # an ImageSeries: pynwb deprecates ImageMaskSeries (it refuses to create one)
            mask = f["frames_mask"]
            is_bool = mask.dtype == bool
            behavior.add(ImageSeries(
                name="processed_depth_video_mask",
                data=_streamed(mask, n, np.uint8 if is_bool else None), unit="n.a.",
                format="raw", timestamps=video,
                description="Mouse mask of each crop, 1 = mouse" if is_bool else
                "Log-likelihood of the tracking model per crop pixel"))
        images = [
            GrayscaleImage(name="background", data=_gz(ext["background"][()]),
                           description="Computed background (depth of the empty arena, mm)"),
            GrayscaleImage(name="roi", data=_gz(np.asarray(ext["roi"][()]).astype(np.uint8)),
                           description="ROI mask (1 = inside the arena floor)"),
            GrayscaleImage(name="first_frame", data=_gz(ext["first_frame"][()]),
                           description="First frame of the depth recording (mm)"),
        ]
        behavior.add(Images(name="images", images=images,
                            description="Background, ROI and first frame"))
        scalars = {name: np.asarray(f[f"scalars/{name}"][:n]) for name in SCALAR_NAMES
                   if f"scalars/{name}" in f}
        if "centroid_x_mm" in scalars and "centroid_y_mm" in scalars:
            centroid = SpatialSeries(
                name="centroid", data=_gz(np.stack([scalars["centroid_x_mm"],
                                                    scalars["centroid_y_mm"]], axis=1)),
                unit="millimeters", timestamps=video, reference_frame="(0, 0) is the camera's "
                "optical axis on the floor plane; x to the right, y down the image",
                description="Centroid of the mouse (mm)")
            behavior.add(Position(name="position", spatial_series=centroid))
        if "angle" in scalars:
            heading = SpatialSeries(
                name="heading", data=_gz(scalars["angle"]), unit="radians", timestamps=video,
                reference_frame="0 = facing right (east) in the image, counter-clockwise "
                "positive, unwrapped", description=SCALAR_DESCRIPTIONS["angle"])
            behavior.add(CompassDirection(name="heading", spatial_series=heading))
        behavior.add(BehavioralTimeSeries(name="scalars", time_series=[
            TimeSeries(name=name, data=_gz(values), unit=_unit(name), timestamps=video,
                       description=SCALAR_DESCRIPTIONS.get(name, name))
            for name, values in scalars.items()]))
        extra = []
        if "flips" in ext and ext["flips"].shape[0] >= n:
            extra.append(TimeSeries(name="flips", data=ext["flips"][:n].astype(np.uint8),
                                    unit="n.a.", timestamps=video,
                                    description="1 = the heading was flipped by 180 degrees"))
        if "heading_confidence" in ext and ext["heading_confidence"].shape[0] >= n:
            extra.append(TimeSeries(name="heading_confidence",
                                    data=ext["heading_confidence"][:n], unit="n.a.",
                                    timestamps=video,
                                    description=str(ext["heading_confidence"].attrs.get(
                                        "description", "Posterior of the chosen heading"))))
        if QUALITY_DATASET in f and f[QUALITY_DATASET].shape[0] >= n:
            flags = ", ".join(f"{int(q)} = {q.name.lower()}" for q in Quality if q.name)
            extra.append(TimeSeries(name="quality", data=f[QUALITY_DATASET][:n],
                                    unit="n.a.", timestamps=video,
                                    description=f"Per-frame quality bit flags ({flags}); "
                                                "0 = nothing unusual"))
        if extra:
            behavior.add(BehavioralTimeSeries(name="extraction", time_series=extra))
        table = DynamicTable(name="extraction_parameters",
                             description="moseq2-extract parameters (values as JSON text)")
        table.add_column("parameter", "Parameter name")
        table.add_column("value", "Value as JSON text")
        table.add_column("help", "Help text of the parameter")
        rows = [("extract_version", _json(version), "Version of moseq2-extract"),
                ("implementation_version", _json(IMPLEMENTATION), "Implementation and version "
                 "of this exporter"),
                ("true_depth", _json(float(np.asarray(ext["true_depth"][()]))),
                 "Detected depth of the arena floor (mm)"),
                ("uuid", _json(str(uuid)), "uuid of the extraction")]
        params = f.get(PARAMETERS_GROUP, {})
        for key, value in sorted(parameters.items()):
            desc = str(params[key].attrs.get("description", "")) if key in params else ""
            rows.append((key, _json(value), desc))
        for name, value, desc in rows:
            table.add_row(parameter=name, value=value, help=desc)
        behavior.add(table)
        with atomic_path(out, keep_suffix=True) as tmp, NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwb)
    return out
