"""``aggregate-results``: finished extractions copied into one flat folder (spec 5.5).

Steps: find ``*.h5`` results with a same-named status yaml (:func:`recursive_find_h5s`),
keep the complete, non-skipped ones whose mouse is visible (:func:`mouse_threshold_filter`),
name each copy from its acquisition metadata (:func:`build_path`), copy the h5 / mp4 /
yaml (:func:`copy_manifest_results`) and index the folder.

Each copy is written under a temporary name and renamed, the yaml last, so an interrupted
aggregation never leaves a half-copied file under a final name; running it again completes
the missing copies and leaves finished ones alone.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ..errors import InputFileError
from ..output.status import read_status
from ..paths import atomic_path, copy_atomic, write_yaml_atomic
from .discovery import h5_metadata, recursive_find_h5s
from .index import index_beside, write_index_for_dir

logger = logging.getLogger(__name__)

DEFAULT_FORMAT = "{start_time}_{session_name}_{subject_name}"
"""Default ``--format`` of aggregate-results."""

REALTIME_FILES = {
    "feedback_ts.txt": ("realtime_feedback", np.bool_),
    "predictions.txt": ("realtime_predictions", np.int64),
    "pc_scores.txt": ("realtime_pc_scores", np.float32),
}
"""Optional real-time files of a session folder -> (``/metadata/misc`` group, dtype)."""

__all__ = [
    "DEFAULT_FORMAT",
    "aggregate_results",
    "build_manifest",
    "build_path",
    "camel_to_snake",
    "clean_file_str",
    "copy_manifest_results",
    "h5_metadata",
    "load_extraction_meta_from_h5s",
    "load_textdata",
    "mouse_threshold_filter",
    "recursive_find_h5s",
    "time_str_for_filename",
]


# ------------------------------------------------------------------------------------------
# finding results
# ------------------------------------------------------------------------------------------
def mouse_threshold_filter(h5file: str | os.PathLike, thresh: float = 0.0) -> bool:
    """Whether the mean height of the first (up to) 1000 frames exceeds ``thresh`` (mm).

    Zero pixels count in the mean, so this measures how much mouse the crops hold.
    """
    with h5py.File(h5file, "r") as h5:
        frames = h5["frames"]
        n = min(1000, frames.shape[0])
        if n == 0:
            return False
        value = float(np.nanmean(frames[:n].astype(np.float32)))
    return value > thresh


# ------------------------------------------------------------------------------------------
# naming
# ------------------------------------------------------------------------------------------
_CAMEL_1 = re.compile(r"(.)([A-Z][a-z]+)")
_CAMEL_2 = re.compile(r"([a-z0-9])([A-Z])")
_BAD_CHARS = re.compile(r"[ <>:\"/\\|?*']")


def camel_to_snake(name: str) -> str:
    """``SessionName`` -> ``session_name``, ``sessA`` -> ``sess_a`` (always lower case)."""
    return _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", str(name))).lower()


def clean_file_str(file_str: str, replace_with: str = "-") -> str:
    """Replace characters unsafe in file names (space ``<>:"/\\|?*'``) and collapse
    doubled replacements: ``'d<a:t\\\\t"a'`` -> ``'d-a-t-t-a'``."""
    out = _BAD_CHARS.sub(replace_with, str(file_str))
    double = replace_with * 2
    while replace_with and double in out:
        out = out.replace(double, replace_with)
    return out


def time_str_for_filename(time_str: str) -> str:
    """``2019-03-20T14:29:23.078-04:00`` -> ``2019-03-20_14-29-23`` (fraction and zone
    dropped, ``:`` -> ``-``, ``T`` -> ``_``)."""
    out = str(time_str).split(".")[0]
    return out.replace(":", "-").replace("T", "_")


def build_path(keys: Mapping[str, Any], format_string: str, snake_case: bool = True) -> str:
    """Fill ``format_string`` from metadata ``keys`` into a file-name-safe string.

    ``start_time`` goes through :func:`time_str_for_filename`; with ``snake_case`` every
    value is converted with :func:`camel_to_snake`; the result through
    :func:`clean_file_str`.

    Raises
    ------
    KeyError
        When the format names a key the metadata lacks.
    """
    values = {}
    for key, value in keys.items():
        value = str(value)
        if key == "start_time":
            value = time_str_for_filename(value)
        if snake_case:
            value = camel_to_snake(value)
        values[key] = value
    return clean_file_str(format_string.format(**values))


def _naming_metadata(meta: Mapping[str, Any], snake_case: bool) -> dict[str, str]:
    out = {}
    for key, value in meta.items():
        if isinstance(value, (dict, np.ndarray)):
            continue
        out[camel_to_snake(key) if snake_case else key] = str(value)
    return out


def load_textdata(data_file: str | os.PathLike, dtype: Any = np.float32
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Read a real-time text file, one ``"<timestamp> v1,v2,..."`` line per event.

    Returns
    -------
    (data, timestamps)
        ``data`` (n, k) of ``dtype`` squeezed to (n,) when k == 1; ``timestamps`` (n,)
        float64.
    """
    rows, stamps = [], []
    with open(data_file) as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            head, _, rest = line.partition(" ")
            stamps.append(float(head))
            tokens = [t for t in rest.replace(" ", "").split(",") if t]
            values = [float(t) if t.lower() not in ("true", "false") else t.lower() == "true"
                      for t in tokens]
            rows.append(np.asarray(values, dtype=np.float64))
    if not rows:
        return np.zeros((0,), dtype=dtype), np.zeros((0,), dtype=np.float64)
    width = max(len(r) for r in rows)
    data = np.full((len(rows), width), np.nan)
    for i, r in enumerate(rows):
        data[i, :len(r)] = r
    data = np.squeeze(data, axis=1) if width == 1 else data
    return data.astype(dtype), np.asarray(stamps, dtype=np.float64)


# ------------------------------------------------------------------------------------------
# manifest
# ------------------------------------------------------------------------------------------
def load_extraction_meta_from_h5s(to_load: Iterable[tuple[dict, str]], snake_case: bool = True
                                  ) -> list[tuple[dict, str]]:
    """Attach naming metadata to each (yaml dict, h5 path) pair.

    Adds ``extraction_metadata`` (acquisition metadata, values ``str``, keys snake_case
    when asked) and, when ``<session>/feedback_ts.txt`` exists (the folder above the h5's),
    ``feedback_timestamps`` ([[timestamp, status], ...]).  The dicts are copied, not
    modified.
    """
    out = []
    for yaml_dict, h5 in to_load:
        entry = dict(yaml_dict)
        try:
            meta = h5_metadata(h5)
        except OSError as err:
            logger.warning("%s: cannot read metadata (%s)", h5, err)
            meta = {}
        entry["extraction_metadata"] = _naming_metadata(meta, snake_case)
        feedback = Path(h5).parent.parent / "feedback_ts.txt"
        if feedback.is_file():
            data, stamps = load_textdata(feedback, dtype=np.bool_)
            entry["feedback_timestamps"] = [[float(t), bool(v)] for t, v in
                                            zip(stamps, np.atleast_1d(data).reshape(len(stamps),
                                                                                    -1)[:, 0])]
        out.append((entry, str(h5)))
    return out


def build_manifest(loaded: Iterable[tuple[dict, str]], format: str = DEFAULT_FORMAT,
                   snake_case: bool = True) -> dict[str, dict[str, Any]]:
    """Copy plan of the aggregation: h5 path -> ``copy_path``, ``yaml_dict`` and
    ``additional_metadata`` (real-time files of the session folder).

    ``copy_path`` is :func:`build_path` of the naming metadata with ``format`` followed by
    ``_<h5 stem>``; sessions without metadata, or whose metadata lacks a key of
    ``format``, are named ``session_000``, ``session_001``, ...  Two sessions may get the
    same name here; :func:`copy_manifest_results` gives the later one a free name.
    """
    manifest: dict[str, dict[str, Any]] = {}
    fallback = 0
    for entry, h5 in loaded:
        meta = entry.get("extraction_metadata") or {}
        stem = Path(h5).stem
        name = None
        if meta:
            try:
                name = build_path(meta, f"{format}_{stem}", snake_case=snake_case)
            except (KeyError, IndexError, ValueError) as err:
                logger.warning("%s: cannot name from metadata (%s); using session_%03d", h5,
                               err, fallback)
        if not name:
            name = f"session_{fallback:03d}"
            fallback += 1
        yaml_dict = {k2: v for k2, v in entry.items() if k2 != "extraction_metadata"}
        extra: dict[str, dict[str, np.ndarray]] = {}
        session_dir = Path(h5).parent.parent
        for fname, (group, dtype) in REALTIME_FILES.items():
            path = session_dir / fname
            if path.is_file():
                data, stamps = load_textdata(path, dtype=dtype)
                extra[group] = {"data": data, "timestamps": stamps}
        manifest[str(h5)] = {"copy_path": name, "yaml_dict": yaml_dict,
                             "additional_metadata": extra}
    return manifest


def _copy_uuid(yaml_path: Path) -> str | None:
    try:
        return read_status(yaml_path).get("uuid")
    except InputFileError:
        return None


def _h5_uuid(h5_path: Path) -> str | None:
    try:
        with h5py.File(h5_path, "r") as h5:
            return h5["metadata/uuid"].asstr()[()] if "metadata/uuid" in h5 else None
    except (OSError, TypeError):
        return None


def _existing_copies(out_dir: Path) -> dict[str, tuple[str, bool]]:
    """uuid -> (stem, finished) of the copies already in ``out_dir``; a copy interrupted
    before its yaml was written is found through the uuid inside its h5."""
    found: dict[str, tuple[str, bool]] = {}
    for yml in sorted(out_dir.glob("*.yaml")):
        uid = _copy_uuid(yml)
        if uid is not None and not yml.name.startswith(".") and uid not in found:
            found[uid] = (yml.stem, yml.with_suffix(".h5").exists())
    for h5 in sorted(out_dir.glob("*.h5")):
        if h5.name.startswith(".") or h5.with_suffix(".yaml").exists():
            continue
        uid = _h5_uuid(h5)
        if uid is not None and uid not in found:
            found[uid] = (h5.stem, False)
    return found


def _free_name(out_dir: Path, base: str) -> str:
    name, k = base, 2
    while any((out_dir / f"{name}{ext}").exists() for ext in (".h5", ".yaml", ".mp4")):
        name, k = f"{base}_{k}", k + 1
    return name


def copy_manifest_results(manifest: Mapping[str, Mapping[str, Any]],
                          output_dir: str | os.PathLike) -> list[Path]:
    """Copy each manifest entry to ``<output_dir>/<copy_path>.{h5,mp4,yaml}``.

    Real-time data go to ``/metadata/misc/<name>/{data,timestamps}`` of the copied h5.
    A session already copied (same uuid) is left alone, or completed when its copy was
    interrupted; a name taken by another session becomes ``<name>_2``, ``<name>_3``, ...
    (the original silently skipped the second session).

    Returns
    -------
    list of Path
        The yaml files written in this call.
    """
    out_dir = Path(output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    copies = _existing_copies(out_dir)
    takers: dict[str, Path] = {}  # name -> the session copied under it in this call
    for h5, entry in manifest.items():
        src = Path(h5)
        uid = entry["yaml_dict"].get("uuid")
        if uid is not None and uid in copies:
            name, done = copies[uid]
        else:
            name, done = _free_name(out_dir, entry["copy_path"]), False
            if name != entry["copy_path"]:
                other = takers.get(entry["copy_path"])
                logger.warning("%s: its name %s is taken by %s; copied as %s (check "
                               "their metadata.json: same session and subject names?)",
                               src, entry["copy_path"],
                               other if other is not None else "a session aggregated "
                               "earlier", name)
            takers.setdefault(name, src)
        if uid is not None:
            copies[uid] = (name, True)
        dst_h5, dst_yaml = out_dir / f"{name}.h5", out_dir / f"{name}.yaml"
        if done:
            logger.info("%s: already aggregated as %s", src, dst_h5)
            continue
        with atomic_path(dst_h5) as tmp:
            shutil.copyfile(src, tmp)
            extra = entry.get("additional_metadata") or {}
            if extra:
                with h5py.File(tmp, "r+") as f:
                    for group, arrays in extra.items():
                        path = f"metadata/misc/{group}"
                        if path in f:
                            del f[path]
                        g = f.require_group(path)
                        for key, value in arrays.items():
                            g.create_dataset(key, data=np.asarray(value))
        mp4 = src.with_suffix(".mp4")
        if mp4.is_file():
            copy_atomic(mp4, out_dir / f"{name}.mp4")
        write_yaml_atomic(dst_yaml, entry["yaml_dict"])
        written.append(dst_yaml)
    return written


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def aggregate_results(
    input_dir: str | os.PathLike,
    format: str = DEFAULT_FORMAT,
    output_dir: str | os.PathLike | None = None,
    mouse_threshold: float = 0.0,
    *,
    index_file: str | os.PathLike | None = None,
) -> Path:
    """Aggregate every finished extraction under ``input_dir`` and write the index.

    Parameters
    ----------
    input_dir : path-like
        Folder searched recursively for ``results_XX.h5`` / ``.yaml`` pairs.
    format : str
        Naming format over snake_cased metadata keys.
    output_dir : path-like, optional
        Destination (default ``<input_dir>/aggregate_results``).
    mouse_threshold : float
        Minimum mean height of the first 1000 frames (mm).
    index_file : path-like, optional
        Index to write (default: beside the aggregate folder,
        :func:`~moseq2_extract.batch.index.index_beside`; the original wrote it into
        ``input_dir``).

    Returns
    -------
    Path
        The index file, listing the aggregated copies.
    """
    input_dir = Path(input_dir)
    out_dir = Path(output_dir) if output_dir is not None else input_dir / "aggregate_results"
    h5s, dicts, _ = recursive_find_h5s(input_dir)
    to_load = []
    for h5, data in zip(h5s, dicts):
        path = Path(h5)
        if data.get("complete") is not True or data.get("skip") or "sample" in data:
            continue
        if _inside(path, out_dir) or (out_dir / path.name).exists():
            continue
        if not mouse_threshold_filter(path, mouse_threshold):
            logger.info("%s: mean height below %g mm; not aggregated", path, mouse_threshold)
            continue
        to_load.append((data, h5))
    loaded = load_extraction_meta_from_h5s(to_load)
    manifest = build_manifest(loaded, format=format)
    copy_manifest_results(manifest, out_dir)
    index = Path(index_file) if index_file is not None else index_beside(out_dir)
    write_index_for_dir(out_dir, index)
    return index
