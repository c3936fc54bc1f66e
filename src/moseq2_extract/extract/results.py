"""Typed results of per-chunk extraction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .frames import nonzero_rect

# Names of the per-frame scalars, in the order the h5 datasets are created (spec 5.1).
SCALAR_NAMES: tuple[str, ...] = (
    "centroid_x_px",
    "centroid_y_px",
    "velocity_2d_px",
    "velocity_3d_px",
    "width_px",
    "length_px",
    "area_px",
    "centroid_x_mm",
    "centroid_y_mm",
    "velocity_2d_mm",
    "velocity_3d_mm",
    "width_mm",
    "length_mm",
    "area_mm",
    "height_ave_mm",
    "angle",
    "velocity_theta",
)


class BoxWindows:
    """Heights over the ROI box of ``n`` frames, kept as each frame's rectangle of non-zero
    pixels (the mouse, a few kB) instead of the whole box (~130 kB a frame).

    Parameters
    ----------
    shape : (h, w)
        Size of the ROI box.
    rects : ndarray, (n, 4) int
        ``(x, y, w, h)`` of each frame's rectangle in the box (``w == 0``: all zero).
    windows : list of ndarray
        ``windows[i]`` is ``(rects[i, 3], rects[i, 2])``, the heights inside the rectangle;
        everything outside is zero.
    """

    def __init__(self, shape: tuple[int, int], rects: np.ndarray, windows: list[np.ndarray]):
        self.shape = (int(shape[0]), int(shape[1]))
        self.rects = np.asarray(rects, dtype=np.int32).reshape(-1, 4)
        self.windows = list(windows)
        if len(self.windows) != len(self.rects):
            raise ValueError(f"{len(self.rects)} rectangles but {len(self.windows)} windows")

    @classmethod
    def empty(cls, n: int, shape: tuple[int, int], dtype=np.uint8) -> BoxWindows:
        """``n`` all-zero frames (to be filled with :meth:`set`)."""
        blank = np.zeros((0, 0), dtype)
        return cls(shape, np.zeros((n, 4), np.int32), [blank] * n)

    @classmethod
    def from_dense(cls, box: np.ndarray) -> BoxWindows:
        """Compact form of an ``(n, h, w)`` stack."""
        box = np.asarray(box)
        rects, windows = [], []
        for frame in box:
            x, y, w, h = nonzero_rect(frame)
            rects.append((x, y, w, h))
            windows.append(frame[y:y + h, x:x + w].copy())
        return cls(box.shape[1:], np.array(rects, np.int32).reshape(-1, 4), windows)

    def set(self, i: int, rect: tuple[int, int, int, int], window: np.ndarray) -> None:
        """Store frame ``i`` (``window`` is kept, not copied)."""
        self.rects[i] = rect
        self.windows[i] = window

    def __len__(self) -> int:
        return len(self.rects)

    @property
    def dtype(self) -> np.dtype:
        return self.windows[0].dtype if self.windows else np.dtype(np.uint8)

    def __getitem__(self, index: slice) -> BoxWindows:
        if not isinstance(index, slice):
            raise TypeError("BoxWindows supports slices only; use frame(i) for one frame")
        return BoxWindows(self.shape, self.rects[index], self.windows[index])

    def frame(self, i: int) -> np.ndarray:
        """Dense ``(h, w)`` heights of frame ``i``."""
        out = np.zeros(self.shape, self.dtype)
        x, y, w, h = (int(v) for v in self.rects[i])
        out[y:y + h, x:x + w] = self.windows[i]
        return out

    def dense(self) -> np.ndarray:
        """Dense ``(n, h, w)`` heights."""
        out = np.zeros((len(self), *self.shape), self.dtype)
        for i, ((x, y, w, h), win) in enumerate(zip(self.rects.tolist(), self.windows)):
            out[i, y:y + h, x:x + w] = win
        return out

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = self.dense()
        return out if dtype is None else out.astype(dtype)


@dataclass
class ChunkResult:
    """Everything extracted from one chunk of ``n`` frames.

    Attributes
    ----------
    frame_index : ndarray, (n,) int64
        Absolute video frame index of each row.
    frames : ndarray, (n, c, c) uint8 or uint16
        Egocentric height crops (mm above floor, unfiltered), mouse's axis horizontal.
    masks : ndarray, (n, c, c) bool, or float32 with the EM tracker
        Mouse mask in the same crop frame (the tracker's clipped log-likelihood crops when
        it is on, as the original stores them).
    scalars : dict of str to ndarray, (n,) float32
        The 17 scalars of :data:`SCALAR_NAMES`.
    flips : ndarray, (n,) bool or None
        True where the crop was rotated by 180 degrees by the heading decision.
    heading_confidence : ndarray, (n,) float32 or None
        Posterior probability of the chosen heading.
    quality : ndarray, (n,) uint8 or None
        :class:`~.quality.Quality` flags of each frame.
    box : ndarray, (n, h, w) uint8 or uint16, or BoxWindows
        Thresholded heights over the ROI bounding box (for the preview movie);
        ``np.asarray(box)`` gives the dense stack either way.
    """

    frame_index: np.ndarray
    frames: np.ndarray
    masks: np.ndarray
    scalars: dict[str, np.ndarray]
    box: np.ndarray | BoxWindows
    flips: np.ndarray | None = None
    heading_confidence: np.ndarray | None = None
    quality: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.frame_index)
