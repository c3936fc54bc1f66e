"""The original's documented Python API (``helpers.data``, ``helpers.extract``,
``helpers.wrappers``; spec section 6), implemented on the streaming core and the batch
layer.  Dicts and file paths at this boundary, typed values inside."""

from __future__ import annotations

__all__ = ["data", "extract", "wrappers"]
