"""Output layer: results_XX.h5 (layout, writer), results_XX.yaml (status), preview movie.

Every file is written under a temporary name and renamed when complete, so an interrupted
extraction never leaves a file that looks finished.

The names below are loaded on first use: importing the status helpers does not import h5py
and PyAV (a fifth of a second that the pipeline spends while it finds the ROI instead).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "LAYOUT": ".h5layout",
    "SCALAR_DESCRIPTIONS": ".h5layout",
    "DatasetSpec": ".h5layout",
    "scalar_attributes": ".h5layout",
    "ResultsWriter": ".h5writer",
    "create_extract_h5": ".h5writer",
    "partial_path": ".h5writer",
    "read_results": ".h5read",
    "open_results": ".h5read",
    "PreviewWriter": ".movie",
    "select_codec": ".movie",
    "is_complete": ".status",
    "read_status": ".status",
    "write_status": ".status",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
