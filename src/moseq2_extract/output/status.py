"""The status file ``results_XX.yaml`` (spec 5.2).

Written with ``complete: false`` when an extraction starts and rewritten with
``complete: true`` when it ends.  Every write goes to a temporary file in the same folder
that is renamed over the target, so a reader never sees a half-written yaml.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import IMPLEMENTATION, __version__
from ..errors import InputFileError
from ..paths import read_yaml, write_yaml_atomic

log = logging.getLogger(__name__)

#: First line of every status file, a YAML comment (no key is added to the original's).
WRITTEN_BY = f"written by {IMPLEMENTATION} (extract_version {__version__})"

__all__ = ["input_record", "is_complete", "read_status", "status_dict", "write_status",
           "write_yaml_atomic"]


def status_dict(*, complete: bool, metadata: Mapping[str, Any] | None,
                parameters: Mapping[str, Any] | None, uuid: str, skip: bool = False,
                extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The content of a status file (keys ``complete``, ``metadata``, ``parameters``,
    ``skip``, ``uuid`` plus ``extra``)."""
    data: dict[str, Any] = {
        "complete": bool(complete),
        "metadata": dict(metadata or {}),
        "parameters": dict(parameters or {}),
        "skip": bool(skip),
        "uuid": str(uuid),
    }
    if extra:
        data.update(extra)
    return data


def write_status(path: str | os.PathLike, *, complete: bool, metadata: Mapping[str, Any] | None,
                 parameters: Mapping[str, Any] | None, uuid: str, skip: bool = False,
                 extra: Mapping[str, Any] | None = None, durable: bool = True) -> Path:
    """Write ``results_XX.yaml`` atomically.

    Parameters
    ----------
    path : path-like
        Target yaml.
    complete : bool
        Whether the extraction finished.
    metadata : dict
        Acquisition metadata (``metadata.json``).
    parameters : dict
        Parameter snapshot (plus ``true_depth`` at completion).
    uuid : str
        Session uuid (same as ``/metadata/uuid`` in the h5).
    skip : bool
        Exclude from aggregation.
    extra : dict, optional
        Further top-level keys (e.g. ``feedback_timestamps``).
    durable : bool
        fsync before the rename.  A status that says ``complete: false`` need not be: lost
        in a power cut, the session still counts as not extracted.

    Returns
    -------
    Path
        ``path``.
    """
    data = status_dict(complete=complete, metadata=metadata, parameters=parameters, uuid=uuid,
                       skip=skip, extra=extra)
    return write_yaml_atomic(path, data, durable=durable, comment=WRITTEN_BY)


def input_record(session: Any) -> dict[str, Any]:
    """What the status file records about an input that needed work-arounds (nothing for
    a clean one): where the timestamps came from and the problems (``warnings``,
    one line each: made-up timestamps, unreadable timestamp lines, a metadata file that
    was not an object, a truncated video ...).

    Parameters
    ----------
    session : moseq2_extract.io.session.Session
    """
    if not session.warnings:  # a clean input: exactly the original's keys
        return {}
    return {"timestamp_source": str(session.timestamp_source),
            "warnings": [str(w) for w in session.warnings]}


def read_status(path: str | os.PathLike) -> dict[str, Any]:
    """Read a status yaml into a dict.

    Raises
    ------
    InputFileError
        If the file is missing, not YAML, or not a mapping.
    """
    path = Path(path)
    data = read_yaml(path, what="status file")
    if not isinstance(data, dict):
        raise InputFileError(f"{path}: status file is not a mapping")
    return data


def read_status_or_skip(path: str | os.PathLike) -> dict[str, Any] | None:
    """:func:`read_status`, or None (with a logged warning) for an unreadable file."""
    try:
        return read_status(path)
    except InputFileError as err:
        log.warning("%s; ignored", err)
        return None


def is_complete(path: str | os.PathLike) -> bool:
    """True only if ``path`` is a readable status yaml with ``complete: true``."""
    try:
        return read_status(path).get("complete") is True
    except InputFileError:
        return False
