"""Exception hierarchy.

Every error the library raises on bad input is an :class:`ExtractionError`; the subclasses
also inherit the matching built-in exception so callers that catch ``ValueError`` or
``OSError`` keep working.  Messages are one line and name the offending file or parameter.
"""

from __future__ import annotations


class ExtractionError(Exception):
    """Base class of every error raised deliberately by moseq2_extract."""


class ConfigError(ExtractionError, ValueError):
    """An option or config-file value is invalid."""


class InputFileError(ExtractionError, OSError):
    """An input file is missing, empty, truncated or unreadable."""


class RoiError(ExtractionError, ValueError):
    """No arena floor / ROI could be found in the background."""


class FlipClassifierError(ExtractionError, ValueError):
    """A flip classifier file cannot be used."""


class WorkerProcessError(ExtractionError, RuntimeError):
    """A worker process died (crashed or was killed) while extracting."""
