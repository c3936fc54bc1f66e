"""A movie of height frames coloured with ``jet``: ``io.video.write_frames_preview``'s
encoder (moseq2-app's flip tool writes its ``*_flipped.mp4`` with it)."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

from ..paths import commit_partial, partial_path
from .movie import EncoderSettings, select_codec
from .preview_picture import colorize_heights

__all__ = ["FramesPreview"]


class FramesPreview:
    """H.264 ``.mp4`` of height frames, written to a temporary name and renamed by
    :meth:`communicate` (the name of the original's ffmpeg-process method).

    Parameters
    ----------
    path : path-like
    fps : float
    depth_min, depth_max : float
        Heights (mm) given the first and last colour of ``jet``.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float = 30, depth_min: float = 0,
                 depth_max: float = 80):
        self.path = Path(path)
        self.fps = float(fps)
        self.depth_min, self.depth_max = float(depth_min), float(depth_max)
        self.frames_written = 0
        self._tmp = partial_path(self.path, keep_suffix=True)
        self._container: Any = None
        self._stream: Any = None

    def _open(self, height: int, width: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        settings = EncoderSettings(select_codec(), width, height,
                                   Fraction(self.fps).limit_denominator(1001))
        self._stream = self._container.add_stream(settings.codec, rate=settings.rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        if settings.codec == "libx264":
            self._stream.options = {"preset": settings.preset, "qp": str(settings.qp)}

    def write(self, frames: np.ndarray, frame_range: Any = None) -> None:
        """Append ``frames`` ((n, h, w) heights in mm); ``frame_range`` numbers are drawn
        on them (bottom left, white)."""
        frames = np.asarray(frames)
        if frames.size == 0:
            return
        if frames.ndim == 2:
            frames = frames[None]
        n, h, w = frames.shape
        height, width = h + h % 2, w + w % 2
        if self._container is None:
            self._open(height, width)
        elif (height, width) != (self._stream.height, self._stream.width):
            raise ValueError(f"{self.path}: frames of {w}x{h} do not match the movie's "
                             f"{self._stream.width}x{self._stream.height}")
        numbers = None if frame_range is None else list(frame_range)
        rgb = colorize_heights(frames, min_height=self.depth_min, max_height=self.depth_max)
        canvas = np.zeros((height, width, 3), np.uint8)
        for i in range(n):
            canvas[:h, :w] = rgb[i]
            if numbers is not None and i < len(numbers):
                cv2.putText(canvas, str(int(numbers[i])), (5, max(20, height - 10)),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
            frame = av.VideoFrame.from_ndarray(canvas, format="rgb24")
            frame.pts = self.frames_written
            self.frames_written += 1
            for packet in self._stream.encode(frame):
                self._container.mux(packet)

    def communicate(self) -> tuple[None, None]:
        """Finish the movie and give it its name; returns ``(None, None)`` like
        ``subprocess.Popen.communicate``."""
        if self._container is not None:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
            self._container = None
            commit_partial(self._tmp, self.path, durable=False)
        return None, None

    def close(self) -> None:
        """Same as :meth:`communicate`."""
        self.communicate()
