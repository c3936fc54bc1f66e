"""Input and output of depth recordings: readers, writers, timestamps, metadata, TIFFs.

Main entry points:

* :func:`open_depth_video` -- a picklable reader for ``.dat`` / ``.avi`` / ``.mkv`` /
  ``.tar.gz`` depth data (``read``, ``read_frames``).
* :func:`load_session` -- depth file + metadata + timestamps, checked for consistency.
* :class:`DepthVideoWriter` / :func:`write_depth_video` -- lossless FFV1 16-bit video.
* :func:`load_timestamps`, :func:`load_metadata`, :func:`read_image` / :func:`write_image`.
"""

from __future__ import annotations

from .image import read_image, write_image
from .metadata import DEFAULT_METADATA, load_metadata, metadata_from_text
from .session import Session, load_session
from .timestamps import load_timestamps, timestamps_from_text
from .video import (
    DatReader,
    DepthReader,
    PyAVReader,
    TarDepthReader,
    VideoInfo,
    chunk_ranges,
    depth_file_kind,
    open_depth_video,
)
from .writers import DepthVideoWriter, write_azure_mkv, write_depth_video

__all__ = [
    "DEFAULT_METADATA",
    "DatReader",
    "DepthReader",
    "DepthVideoWriter",
    "PyAVReader",
    "Session",
    "TarDepthReader",
    "VideoInfo",
    "chunk_ranges",
    "depth_file_kind",
    "load_metadata",
    "load_session",
    "load_timestamps",
    "metadata_from_text",
    "open_depth_video",
    "read_image",
    "timestamps_from_text",
    "write_azure_mkv",
    "write_depth_video",
    "write_image",
]
