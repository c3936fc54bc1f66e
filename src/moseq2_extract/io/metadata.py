"""Session ``metadata.json``: loading, defaults and flattening.

The h5 writer stores metadata values as scalars or lists of scalars, so nested objects are
flattened to ``"Parent.child"`` keys here (the original crashed on them, spec 7.1-24).
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

from ..errors import InputFileError
from ..paths import write_text_atomic

logger = logging.getLogger(__name__)

DEFAULT_METADATA: dict[str, Any] = {
    "SubjectName": "",
    "SessionName": "",
    "NidaqChannels": 0,
    "NidaqSamplingRate": 0.0,
    "DepthResolution": [512, 424],
    "ColorDataType": "Byte[]",
    "StartTime": "",
}
"""Metadata used when a session has no ``metadata.json`` (``SessionName`` is filled with
the session folder name); stored in the outputs, never written beside the recording."""


def default_metadata(session_name: str) -> dict[str, Any]:
    """A fresh copy of :data:`DEFAULT_METADATA` with ``SessionName`` set."""
    meta = copy.deepcopy(DEFAULT_METADATA)
    meta["SessionName"] = session_name
    return meta


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def flatten_metadata(meta: dict[str, Any], *, source: str = "metadata") -> dict[str, Any]:
    """Flatten nested objects to ``"Parent.child"`` keys.

    Lists holding objects or mixed nesting are stored as their JSON text.  A warning is
    logged when anything was changed.

    Parameters
    ----------
    meta : dict
        Parsed JSON object.
    source : str
        Name used in the log message.

    Returns
    -------
    dict
        New flat dict whose values are scalars, lists of scalars (possibly nested lists)
        or None.
    """
    out: dict[str, Any] = {}
    changed: list[str] = []

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            changed.append(prefix)
            if not value:
                out[prefix] = "{}"
            for key, sub in value.items():
                visit(f"{prefix}.{key}", sub)
        elif isinstance(value, list) and not _list_ok(value):
            changed.append(prefix)
            out[prefix] = json.dumps(value)
        else:
            out[prefix] = value

    for key, value in meta.items():
        visit(str(key), value)
    if changed:
        logger.warning("%s: nested values flattened for storage: %s", source,
                       ", ".join(sorted(set(changed))))
    return out


def _list_ok(value: list) -> bool:
    if all(_is_scalar(v) for v in value):
        return True
    return all(isinstance(v, list) and _list_ok(v) and all(_is_scalar(x) for x in v)
               for v in value)


class NotAnObjectError(InputFileError):
    """The metadata file is valid JSON but not an object (e.g. a list)."""


def metadata_from_text(text: str, *, source: str) -> dict[str, Any]:
    """Parse metadata JSON text.

    Parameters
    ----------
    text : str
        JSON text; must be an object.
    source : str
        File (or archive member) name used in messages.

    Returns
    -------
    dict
        Flat metadata (see :func:`flatten_metadata`).

    Raises
    ------
    InputFileError
        Invalid JSON (the message gives line and column) or not a JSON object.
    """
    try:
        meta = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as err:
        raise InputFileError(
            f"{source}: invalid JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from None
    if not isinstance(meta, dict):
        raise NotAnObjectError(
            f"{source}: metadata must be a JSON object, got {type(meta).__name__}"
        )
    return flatten_metadata(meta, source=source)


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and a rename."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n", durable=False)


def load_metadata(path: str | Path, *, session_name: str,
                  warnings: list[str] | None = None) -> dict[str, Any]:
    """Load a session's metadata; defaults when the file is missing or not a JSON object.

    Nothing is written: the raw-data folder is never modified (the original created the
    file there); the defaults reach the outputs (h5 ``/metadata/acquisition``, the status
    yaml) instead.

    Parameters
    ----------
    path : path-like
        ``metadata.json`` (or ``<archive stem>.json`` next to a tarball).
    session_name : str
        ``SessionName`` of the defaults.
    warnings : list of str, optional
        Receives one line when a file that is not a JSON object is replaced by the
        defaults (also logged); a missing file is only logged (INFO).

    Returns
    -------
    dict
        Flat metadata.

    Raises
    ------
    InputFileError
        Unreadable file or invalid JSON.
    """
    path = Path(path)
    if not path.exists():  # common (e.g. Azure recordings): logged, not a warning
        logger.info("%s: missing; default metadata used (SessionName %r)", path,
                    session_name)
        return default_metadata(session_name)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InputFileError(f"{path}: not UTF-8 text") from None
    except OSError as err:
        raise InputFileError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        return metadata_from_text(text, source=str(path))
    except NotAnObjectError as err:
        return _defaults(session_name, f"{err}; treated as missing, default metadata used "
                                       f"(SessionName {session_name!r})", warnings)


def _defaults(session_name: str, message: str, warnings: list[str] | None) -> dict[str, Any]:
    logger.warning("%s", message)
    if warnings is not None:
        warnings.append(message)
    return default_metadata(session_name)


__all__ = [
    "DEFAULT_METADATA",
    "NotAnObjectError",
    "default_metadata",
    "flatten_metadata",
    "load_metadata",
    "metadata_from_text",
    "write_json_atomic",
]
