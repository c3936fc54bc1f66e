"""The extraction of one session: ``extract_session`` and what it schedules.

``plan`` (decisions made once) -> ``workers`` (where blocks run) -> ``blocks`` (one block
from the file) -> ``schedule`` (the block loop) -> ``sequence`` (linking blocks in time)
-> ``outputs`` (the h5 file and the movie); ``session`` ties them together.
"""

from .plan import frame_range
from .session import ExtractionOutcome, extract_session, resolve_output_dir

__all__ = ["ExtractionOutcome", "extract_session", "frame_range", "resolve_output_dir"]
