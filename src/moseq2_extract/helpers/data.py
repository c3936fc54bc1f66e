"""``moseq2_extract.helpers.data``: status files, indexes, aggregation manifests and session
metadata (spec 6.1)."""

from __future__ import annotations

import logging
import os
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..batch.aggregate import build_manifest, copy_manifest_results, load_extraction_meta_from_h5s
from ..batch.index import build_index_dict
from ..config import EXTRA_KEYS, PARAM_BY_KEY, Config, make_config
from ..errors import InputFileError
from ..output.h5writer import create_extract_h5
from ..output.status import read_status

logger = logging.getLogger(__name__)

__all__ = [
    "build_index_dict",
    "build_manifest",
    "check_completion_status",
    "config_from_dict",
    "copy_manifest_results",
    "create_extract_h5",
    "handle_extract_metadata",
    "load_extraction_meta_from_h5s",
]

# keys a config dict may carry that are not parameters (run-time values, later stages)
_RUNTIME_KEYS = frozenset({"finfo", "timestamps", "tar", "true_depth", "output_dir",
                           "input_dir", "output_file"})


def config_from_dict(config_data: Mapping[str, Any] | Config | None, **changes: Any) -> Config:
    """A validated :class:`~moseq2_extract.config.Config` from a notebook-style dict.

    Keys that are neither parameters nor honoured extras (e.g. the later MoSeq stages'
    keys sharing ``config.yaml``) are ignored; a list-valued ``bg_roi_index`` (as
    moseq2-app writes it) uses its first element; ``None`` values take the defaults.
    """
    if isinstance(config_data, Config):
        values = config_data.to_dict()
    else:
        values = {}
        for key, value in (config_data or {}).items():
            if key in _RUNTIME_KEYS and key != "output_dir":
                continue
            if key not in PARAM_BY_KEY and key not in EXTRA_KEYS:
                continue
            if value is None and key in PARAM_BY_KEY and PARAM_BY_KEY[key].default is not None:
                continue
            values[key] = value
    index = values.get("bg_roi_index")
    if isinstance(index, (list, tuple)):
        values["bg_roi_index"] = int(index[0]) if len(index) else 0
    values.update(changes)
    return make_config(values)


def check_completion_status(status_filename: str | os.PathLike) -> bool:
    """``complete`` of a status yaml; False when the file is missing or unreadable."""
    path = Path(status_filename)
    if not path.exists():
        return False
    try:
        return read_status(path).get("complete") is True
    except InputFileError:
        return False


def handle_extract_metadata(input_file: str | os.PathLike, dirname: str | os.PathLike
                            ) -> tuple[dict[str, Any], np.ndarray | None,
                                       tarfile.TarFile | None]:
    """Acquisition metadata, timestamps and (for archives) the open tarball of a session.

    Parameters
    ----------
    input_file : path-like
        Depth file or ``.tar.gz`` archive.
    dirname : path-like
        Folder of the session (the input's folder; kept for the original's signature).

    Returns
    -------
    (metadata, timestamps, tar)
        ``metadata`` dict (``metadata.json`` is created with defaults when missing),
        ``timestamps`` (n,) float64 in milliseconds or None, and an open
        ``tarfile.TarFile`` for archives (the caller closes it), else None.  Unlike the
        original, ``.mkv`` container times are milliseconds too.
    """
    from ..io.session import load_session

    input_file = Path(input_file)
    if Path(dirname).resolve() != input_file.parent.resolve():
        logger.info("handle_extract_metadata: %s is read from its own folder, not %s",
                    input_file, dirname)
    session = load_session(input_file)
    tar = tarfile.open(input_file, "r:gz") if session.kind == "tar" else None  # noqa: SIM115
    return session.metadata, session.timestamps, tar
