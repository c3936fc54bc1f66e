"""The extraction of one session: ``extract_session`` and what it schedules."""

from .session import ExtractionOutcome, extract_session, frame_range, resolve_output_dir

__all__ = ["ExtractionOutcome", "extract_session", "frame_range", "resolve_output_dir"]
