"""``moseq2-index.yaml``: the list of extracted sessions handed to moseq2-pca (spec 5.6).

Shape (keys sorted, ``path`` a flow-style pair)::

    files:
    - group: default
      metadata: {SessionName: ..., SubjectName: ..., ...}
      path: [/abs/results.h5, /abs/results.yaml]
      uuid: ...
    pca_path: ''
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import h5py
import yaml

from ..errors import InputFileError
from ..output.h5layout import read_group
from ..output.status import read_status_or_skip
from ..paths import copy_atomic, write_yaml_atomic
from .discovery import h5_metadata, recursive_find_h5s

logger = logging.getLogger(__name__)

INDEX_NAME = "moseq2-index.yaml"

__all__ = [
    "INDEX_NAME",
    "backup_path",
    "index_beside",
    "build_index_dict",
    "copy_h5_metadata_to_yaml",
    "generate_index",
    "index_from_aggregate",
    "write_index",
    "write_index_for_dir",
]


def build_index_dict(files_to_use: Iterable[tuple[str, str, Mapping[str, Any]]]
                     ) -> dict[str, Any]:
    """The index of ``(h5 path, yaml path, yaml dict)`` triples.

    Each entry gets group ``default``, metadata ``SessionName`` / ``SubjectName``
    ``default_<i>`` overridden by the yaml's ``metadata``, the pair of absolute paths and
    the uuid.  A repeated uuid keeps its first entry; a yaml without ``metadata`` is
    logged.

    Returns
    -------
    dict
        ``{"files": [...], "pca_path": ""}``.
    """
    files = []
    seen: set[str | None] = set()
    for i, (h5, yml, data) in enumerate(files_to_use):
        uid = data.get("uuid")
        if uid in seen:
            logger.info("%s: uuid %s already indexed; skipped", h5, uid)
            continue
        seen.add(uid)
        meta: dict[str, Any] = {"SessionName": f"default_{i}", "SubjectName": f"default_{i}"}
        if isinstance(data.get("metadata"), Mapping):
            meta.update(data["metadata"])
        else:
            logger.warning("%s: no metadata in the status file; default names used", yml)
        files.append({
            "group": "default",
            "metadata": meta,
            "path": (os.path.abspath(h5), os.path.abspath(yml)),
            "uuid": uid,
        })
    _warn_name_collisions(files)
    return {"files": files, "pca_path": ""}


def _warn_name_collisions(files: list[dict[str, Any]]) -> None:
    """Sessions that the later stages would not tell apart (same SessionName and
    SubjectName) get one warning naming their files."""
    by_name: dict[tuple[str, str], list[str]] = {}
    for f in files:
        meta = f["metadata"]
        key = (str(meta.get("SessionName", "")), str(meta.get("SubjectName", "")))
        by_name.setdefault(key, []).append(f["path"][0])
    for (session, subject), paths in by_name.items():
        if len(paths) > 1:
            logger.warning("%d sessions share SessionName %r and SubjectName %r (%s); "
                           "rename them in their metadata.json or the index to tell them "
                           "apart", len(paths), session, subject, ", ".join(paths))


def index_beside(folder: str | os.PathLike) -> Path:
    """The one rule for where an index goes: ``moseq2-index.yaml`` beside the folder of
    results it lists (``./moseq2-index.yaml`` for the default ``./aggregate_results``).
    aggregate-results and agg-to-index follow it; generate-index, which indexes results
    where they are, writes ``./moseq2-index.yaml`` (or ``-o``)."""
    return Path(os.path.abspath(folder)).parent / INDEX_NAME


def _read_existing(path: Path) -> dict[str, Any] | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def backup_path(path: str | os.PathLike) -> Path:
    """A free ``<name>.bak`` (then ``.bak2``, ``.bak3`` ...) beside ``path``."""
    path = Path(path)
    candidate, k = path.with_name(path.name + ".bak"), 2
    while candidate.exists():
        candidate, k = path.with_name(f"{path.name}.bak{k}"), k + 1
    return candidate


def write_index(index: Mapping[str, Any], output_file: str | os.PathLike) -> Path:
    """Write an index dict atomically (sorted keys, flow-style lists).

    An existing index is never silently lost: the ``group`` a user gave a session there
    is kept for the same session (uuid); when it lists sessions the new one does not
    (another project's index, a hand-made one), it is first copied to
    ``moseq2-index.yaml.bak`` (logged as a warning naming both files).
    """
    path = Path(output_file)
    index = dict(index)
    if path.exists():
        old = _read_existing(path) or {}
        old_files = [f for f in old.get("files") or [] if isinstance(f, Mapping)]
        groups = {f.get("uuid"): f.get("group") for f in old_files if f.get("group")}
        files = []
        for entry in index.get("files") or []:
            group = groups.get(entry.get("uuid"))
            files.append(dict(entry, group=group) if group else entry)
        index["files"] = files
        new_uuids = {f.get("uuid") for f in files}
        missing = [f for f in old_files if f.get("uuid") not in new_uuids]
        if missing or (old_files == [] and path.stat().st_size > 0 and not old):
            backup = backup_path(path)
            copy_atomic(path, backup)
            logger.warning("%s lists %d session(s) the new index does not; kept as %s",
                           path, len(missing), backup)
        if old.get("pca_path") and not index.get("pca_path"):
            index["pca_path"] = old["pca_path"]
    return write_yaml_atomic(path, index)


def _complete_triples(input_dir: str | os.PathLike) -> list[tuple[str, str, dict]]:
    h5s, dicts, yamls = recursive_find_h5s(input_dir)
    out = []
    for h5, data, yml in zip(h5s, dicts, yamls):
        if data.get("complete") is not True:
            logger.info("%s: extraction not complete; not indexed", h5)
            continue
        if not isinstance(data.get("metadata"), Mapping) or not data.get("metadata"):
            # spec 7.1 item 30: take the metadata from the results file itself
            try:
                meta = h5_metadata(h5)
            except OSError:
                meta = {}
            if meta:
                data = dict(data, metadata=meta)
        out.append((h5, yml, data))
    return out


def generate_index(input_dir: str | os.PathLike, output_file: str | os.PathLike) -> Path:
    """Index every complete results file under ``input_dir`` into ``output_file``.

    Status files lacking ``metadata`` get the h5's ``/metadata/acquisition`` in their index
    entry (the files themselves are not modified).

    Returns
    -------
    Path
        ``output_file``.
    """
    index = build_index_dict(_complete_triples(input_dir))
    return write_index(index, output_file)


def write_index_for_dir(folder: str | os.PathLike, output_file: str | os.PathLike) -> Path:
    """Index the results in ``folder`` (e.g. the aggregate folder) into ``output_file``."""
    return generate_index(folder, output_file)


def index_from_aggregate(input_dir: str | os.PathLike) -> Path:
    """``agg-to-index``: index every ``*.yaml`` of an aggregate folder.

    The index goes to ``<parent of input_dir>/moseq2-index.yaml`` (a trailing slash on
    ``input_dir`` does not change this, unlike the original, spec 7.1 item 31);
    ``pca_path`` is ``<parent>/_pca/pca_scores.h5`` when that file exists.

    Returns
    -------
    Path
        The index file.
    """
    folder = Path(os.path.abspath(input_dir))
    if not folder.is_dir():
        raise InputFileError(f"{folder}: aggregate folder does not exist")
    triples = []
    for yml in sorted(folder.glob("*.yaml")):
        if yml.name.startswith("."):
            continue
        data = read_status_or_skip(yml)
        if data is None:
            continue
        if "uuid" not in data:
            logger.info("%s: not a status file (no uuid); ignored", yml)
            continue
        triples.append((str(yml)[:-4] + "h5", str(yml), data))
    index = build_index_dict(triples)
    pca = folder.parent / "_pca" / "pca_scores.h5"
    if pca.is_file():
        index["pca_path"] = str(pca)
    return write_index(index, index_beside(folder))


def copy_h5_metadata_to_yaml(input_dir: str | os.PathLike,
                             h5_metadata_path: str = "/metadata/acquisition") -> list[Path]:
    """Copy the h5 group ``h5_metadata_path`` into the ``metadata`` of each status yaml.

    Only complete, non-skipped results under ``input_dir`` are touched; each yaml is
    rewritten atomically in place.

    Returns
    -------
    list of Path
        The updated yaml files.
    """
    h5s, dicts, yamls = recursive_find_h5s(input_dir)
    updated = []
    key = h5_metadata_path.strip("/")
    for h5, data, yml in zip(h5s, dicts, yamls):
        if data.get("complete") is not True or data.get("skip"):
            continue
        with h5py.File(h5, "r") as f:
            if key not in f or not isinstance(f[key], h5py.Group):
                logger.warning("%s: no group %s; yaml left unchanged", h5, h5_metadata_path)
                continue
            meta = read_group(f[key])
        write_yaml_atomic(yml, dict(data, metadata=meta))
        updated.append(Path(yml))
    return updated
