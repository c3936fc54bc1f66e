"""What one extraction will do, decided once before any frame is read.

:func:`plan_session` opens the session's metadata, picks the camera preset, the frame range
and the worker count, and snapshots the parameters; everything after it (the ROI, the
block loop, the outputs) reads its decisions from the :class:`SessionPlan`.
"""

from __future__ import annotations

import logging
import os
import uuid as uuidlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..camera import CameraModel, detect_camera
from ..config import Config, parameter_snapshot
from ..errors import ConfigError
from ..io.session import Session, load_session
from ..paths import ResultsPaths

logger = logging.getLogger(__name__)


def frame_range(nframes: int, config: Config) -> tuple[int, int]:
    """First (inclusive) and last (exclusive) frame to extract after trims and num_frames."""
    start, end_trim = config.frame_trim
    last = nframes
    if config.num_frames is not None:
        if config.num_frames > nframes:
            logger.warning("num_frames %d exceeds the %d frames available; extracting all",
                           config.num_frames, nframes)
        last = min(nframes, config.num_frames)
    first = min(start, last)
    last = max(first, last - end_trim) if end_trim else last
    return first, last


def session_workers(config: Config) -> int:
    """Block workers of one extraction: ``config.workers``, or every available core."""
    return config.workers or available_cores()


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class SessionPlan:
    """One extraction's decisions.

    Attributes
    ----------
    input_file : Path
    config : Config
        The parameters, with the camera preset's decoding values filled in.
    session : Session
        The opened recording's metadata, timestamps and warnings.
    camera : CameraModel
    paths : ResultsPaths
        Where the results go.
    first, last : int
        Frames to extract (``last`` exclusive).
    workers : int
        Worker processes (or threads) for the blocks.
    uuid : str
        Identifier shared by the h5 file and the status yaml.
    parameters : dict
        The snapshot written to both (``true_depth`` is added when it is known).
    """

    input_file: Path
    config: Config
    session: Session
    camera: CameraModel
    paths: ResultsPaths
    first: int
    last: int
    workers: int
    uuid: str
    parameters: dict[str, Any]

    @property
    def n_frames(self) -> int:
        return self.last - self.first

    @property
    def timestamps(self) -> np.ndarray | None:
        """Timestamps of the extracted frames, ``(n_frames,)`` float64 (None if absent)."""
        ts = self.session.timestamps
        return None if ts is None else np.asarray(ts[self.first:self.last], dtype=np.float64)


def plan_session(input_file: Path, config: Config, paths: ResultsPaths) -> SessionPlan:
    """Open ``input_file`` and decide what its extraction does.

    Raises
    ------
    ExtractionError
        When the recording cannot be opened, or the trims leave no frame.
    """
    session = load_session(input_file, mapping=config.mapping, fps=config.fps)
    camera = detect_camera(input_file, config.camera_type,
                           (session.info.width, session.info.height))
    # the camera preset's decoding values are recorded, as the original's presets do
    config = config.replace(pixel_format=camera.pixel_format, movie_dtype=camera.movie_dtype)
    first, last = frame_range(session.nframes, config)
    if last <= first:
        raise ConfigError(f"{input_file}: no frames left to extract (frames {first}-{last})")
    return SessionPlan(input_file, config, session, camera, paths, first, last,
                       workers=session_workers(config),
                       uuid=str(uuidlib.uuid4()), parameters=parameter_snapshot(config))
