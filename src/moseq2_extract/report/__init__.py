"""The QC report: self-contained HTML pages of one extraction and of a batch.

It reads the outputs (``results_XX.h5`` and ``.yaml``) and nothing else, so it sits above
:mod:`moseq2_extract.output`; the CLI writes it after ``extract`` and ``batch-extract``.
"""

from .build import (
    ReportOutcome,
    find_results,
    session_report_path,
    write_report,
    write_session_report,
)
from .data import SessionData, load_session_data
from .metrics import SessionSummary, dropped_frames, mark_outliers, summarize

__all__ = [
    "ReportOutcome",
    "SessionData",
    "SessionSummary",
    "dropped_frames",
    "find_results",
    "load_session_data",
    "mark_outliers",
    "session_report_path",
    "summarize",
    "write_report",
    "write_session_report",
]
