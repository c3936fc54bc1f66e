"""Per-frame image operations: background subtraction, thresholds and filters.

All functions work on frames restricted to the ROI's bounding box, in uint8 / uint16 /
float32, never on full-frame float64 temporaries.  The per-frame classes
(:class:`HeightSubtractor`, :class:`WindowFilter`) hold what can be computed once per
session and write into buffers the caller owns; the stack functions are loops over them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np


class HeightSubtractor:
    """Height above the floor of single frames, thresholded, outside the ROI zeroed.

    Unlike the original (spec 7.1-1) heights are thresholded *before* the cast to
    ``frame_dtype``, so nothing wraps around.  Heights are whole mm: the background
    rounded to whole mm minus the depth.

    Parameters
    ----------
    background : ndarray, (h, w) float
        Background depth (mm) over the ROI box.
    roi : ndarray, (h, w) bool
        Arena mask over the box.
    min_height, max_height : float
        Heights outside [min_height, max_height] (mm) become 0.
    frame_dtype : {'uint8', 'uint16'}
    """

    def __init__(self, background: np.ndarray, roi: np.ndarray, *, min_height: float,
                 max_height: float, frame_dtype: str = "uint8"):
        roi = np.asarray(roi, bool)
        self.shape = roi.shape
        self.dtype = np.dtype(frame_dtype)
        self.min_height, self.max_height = float(min_height), float(max_height)
        self._bg_rounded = np.rint(background).astype(np.float32)
        self._roi = roi
        self._bg16 = np.where(roi, self._bg_rounded, 0).astype(np.uint16)
        self._lo = int(math.ceil(self.min_height))
        self._hi = int(math.floor(self.max_height))
        inside = self._bg16[roi]
        # Saturating integer path: invalid pixels (0) and pixels outside the ROI come out
        # as the floor depth or 0, both beyond [lo, hi], so the thresholds zero them.
        self.integer = (self.dtype == np.uint8 and self._lo >= 0 and self._hi <= 254
                        and (inside.size == 0 or int(inside.min()) > self._hi))
        self._info = np.iinfo(self.dtype)

    def new_scratch(self) -> np.ndarray:
        """A (h, w) uint16 work buffer for :meth:`__call__` (one per thread)."""
        return np.empty(self.shape, np.uint16)

    def __call__(self, raw: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
        """Write the heights of one frame into ``out``.

        Parameters
        ----------
        raw : ndarray, (h, w) uint16
            Depth (mm) over the ROI box; 0 = invalid.  Row-strided views are fine.
        out : ndarray, (h, w) of ``frame_dtype``
            Destination (may be a view into a larger block).
        scratch : ndarray, (h, w) uint16
            From :meth:`new_scratch`.
        """
        if self.integer and raw.dtype == np.uint16:
            cv2.subtract(self._bg16, raw, dst=scratch)
            # saturate at 255 (> hi), then a truncating cast: a quarter of the time of
            # cv2.convertScaleAbs, which has no vectorised uint16 path
            cv2.min(scratch, 255, dst=scratch)
            np.copyto(out, scratch, casting="unsafe")
            cv2.threshold(out, self._hi, 0, cv2.THRESH_TOZERO_INV, dst=out)
            cv2.threshold(out, self._lo - 1, 0, cv2.THRESH_TOZERO, dst=out)
            return
        height = self._bg_rounded - raw.astype(np.float32)
        keep = ((raw > 0) & self._roi & (height >= self.min_height)
                & (height <= self.max_height))
        height[~keep] = 0
        np.clip(height, 0, self._info.max, out=height)
        out[...] = height.astype(self.dtype)


def subtract_background(
    raw: np.ndarray,
    background: np.ndarray,
    roi: np.ndarray,
    *,
    min_height: float,
    max_height: float,
    frame_dtype: str = "uint8",
) -> np.ndarray:
    """Height above the floor of a stack of frames: :class:`HeightSubtractor` (which
    documents ``background``, ``roi``, the height limits and ``frame_dtype``) frame by frame.

    Parameters
    ----------
    raw : ndarray, (n, h, w) uint16
        Depth (mm) over the ROI box; 0 = invalid.

    Returns
    -------
    ndarray, (n, h, w) of ``frame_dtype``
        Height in whole mm: the background rounded to whole mm minus the depth.
    """
    sub = HeightSubtractor(background, roi, min_height=min_height, max_height=max_height,
                           frame_dtype=frame_dtype)
    out = np.empty(raw.shape, sub.dtype)
    scratch = sub.new_scratch()
    for i in range(len(raw)):
        sub(raw[i], out[i], scratch)
    return out


def nonzero_rect(frame: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding rectangle ``(x, y, w, h)`` of the non-zero pixels of a 2-D image.

    ``(0, 0, 0, 0)`` when every pixel is zero.
    """
    if frame.dtype != np.uint8:
        frame = cv2.compare(frame, 0, cv2.CMP_GT)  # type: ignore[call-overload]
    x, y, w, h = cv2.boundingRect(frame)
    return x, y, w, h


class WindowFilter:
    """Per-frame clean-up restricted to a window around the non-zero pixels.

    Cable erosion, spatial median(s) and the tail opening, in that order.  Beyond ``pad``
    pixels of the non-zero pixels the image is zero before and after every one of these
    filters, so filtering the window gives exactly the full-frame result.

    Parameters
    ----------
    spatial_filter_size : sequence of int
        Median kernels applied in turn; any 0 disables spatial filtering.
    strel_tail : ndarray, optional
        Structuring element of the opening that removes the tail.
    tail_filter_iters : int
        Iterations of that opening (0 = off).
    strel_cable, cable_filter_iters
        Optional erosion that removes thin cables (0 = off).
    dtype : dtype
        Frame dtype (uint16 medians allow kernels 3 and 5 only; others become 5).
    """

    def __init__(self, *, spatial_filter_size=(3,), strel_tail: np.ndarray | None = None,
                 tail_filter_iters: int = 1, strel_cable: np.ndarray | None = None,
                 cable_filter_iters: int = 0, dtype=np.uint8):
        spatial = [int(k) for k in spatial_filter_size if int(k) > 1]
        if any(int(k) <= 0 for k in spatial_filter_size):
            spatial = []
        if np.dtype(dtype) == np.uint16:
            spatial = [k if k in (3, 5) else 5 for k in spatial]
        self.spatial = tuple(spatial)
        self.cable = (strel_cable, int(cable_filter_iters)) if (
            strel_cable is not None and cable_filter_iters > 0) else None
        self.tail = (strel_tail, int(tail_filter_iters)) if (
            strel_tail is not None and tail_filter_iters > 0) else None
        # The medians widen the non-zero pixels by k // 2 each, erosions and openings
        # never.  Near the window's edge an erosion sees OpenCV's neutral border instead
        # of the zeros beyond; wherever it does, the element's central row or column also
        # reaches a zero pixel inside the window (between the widened pixels and the
        # edge), so the result is the same.  An element without a full central row and
        # column gets its whole extent as margin.
        widen = sum(k // 2 for k in self.spatial)
        self.pad = 2 + widen + sum(
            max(s.shape) * max(it, 1) for s, it in ((strel_tail, tail_filter_iters),
                                                     (strel_cable, cable_filter_iters))
            if s is not None and it > 0 and not _has_full_axes(s))

    def window(self, rect: tuple[int, int, int, int], shape: tuple[int, int], *,
               margin: int = 0) -> tuple[int, int, int, int]:
        """``(y0, y1, x0, x1)`` of the padded window around ``rect`` inside ``shape``
        (padded by at least ``margin``, for what else works on the window)."""
        bx, by, bw, bh = rect
        h, w = shape
        pad = max(self.pad, int(margin))
        return (max(0, by - pad), min(h, by + bh + pad), max(0, bx - pad), min(w, bx + bw + pad))

    def __call__(self, frame: np.ndarray, window: tuple[int, int, int, int]) -> np.ndarray:
        """Filter ``frame[y0:y1, x0:x1]`` (a new array; the frame is not modified)."""
        y0, y1, x0, x1 = window
        view = f = frame[y0:y1, x0:x1]
        if self.cable is not None:
            f = cv2.erode(f, self.cable[0], iterations=self.cable[1])
        for k in self.spatial:
            f = cv2.medianBlur(f, k)
        if self.tail is not None:
            f = cv2.morphologyEx(f, cv2.MORPH_OPEN, self.tail[0], iterations=self.tail[1])
        return f.copy() if f is view else f


def _has_full_axes(strel: np.ndarray) -> bool:
    """Whether a structuring element's central row and column are set end to end
    (ellipses, rectangles and crosses)."""
    strel = np.asarray(strel)
    h, w = strel.shape
    return bool(strel[h // 2, :].all() and strel[:, w // 2].all())


def filter_frames(
    frames: np.ndarray,
    *,
    spatial_filter_size: list[int] | tuple[int, ...] = (3,),
    strel_tail: np.ndarray | None = None,
    tail_filter_iters: int = 1,
    strel_cable: np.ndarray | None = None,
    cable_filter_iters: int = 0,
) -> np.ndarray:
    """Per-frame clean-up of a stack (see :class:`WindowFilter`).

    Parameters
    ----------
    frames : ndarray, (n, h, w) uint8 or uint16

    Returns
    -------
    ndarray, same shape and dtype, new array.
    """
    filt = WindowFilter(spatial_filter_size=spatial_filter_size, strel_tail=strel_tail,
                        tail_filter_iters=tail_filter_iters, strel_cable=strel_cable,
                        cable_filter_iters=cable_filter_iters, dtype=frames.dtype)
    out = np.zeros_like(frames)
    shape = frames.shape[1:]
    for i, frame in enumerate(frames):
        rect = nonzero_rect(frame)
        if rect[2] == 0:
            continue
        y0, y1, x0, x1 = win = filt.window(rect, shape)
        out[i, y0:y1, x0:x1] = filt(frame, win)
    return out


def temporal_median(frames: np.ndarray, sizes: list[int] | tuple[int, ...]) -> np.ndarray:
    """Median along time with each window of ``sizes`` in turn (0 or 1 = off).

    Edges repeat the nearest frame; the pipeline supplies neighbouring frames of the
    adjacent chunks so that results do not depend on the chunk size.

    Parameters
    ----------
    frames : ndarray, (n, h, w)
    sizes : sequence of int (odd)
    """
    from scipy import ndimage  # imported here: it adds a third of a second to start-up

    out = frames
    if any(int(k) <= 0 for k in sizes):
        return out
    for k in sizes:
        if int(k) > 1:
            out = ndimage.median_filter(out, size=(int(k), 1, 1), mode="nearest")
    return out
