"""Pixels without depth on the mouse: treated as missing data, not as floor.

Depth cameras return 0 where they cannot measure (dark or glossy fur, steep edges,
interference).  Thresholded, such a pixel reads as floor, so a zeroed blob makes a hole in
the mouse, a zeroed row band cuts it in two and zeroed edge pixels shrink it, and the
centroid, axis and heights move with them.  :func:`fill_missing` gives those pixels the
height a morphological closing of their neighbourhood implies (only where the camera read
nothing), before any filter or moment sees the frame.
"""

from __future__ import annotations

import cv2
import numpy as np

from .frames import nonzero_rect

#: Side (px) of the square closing that fills gaps: a band of up to this many zeroed rows
#: and holes up to this wide are bridged; convex outlines do not grow.  A square (not a
#: disk) because OpenCV filters with it row then column: a third of a disk's time.
FILL_SIZE = 11


def fill_strel(size: int = FILL_SIZE) -> np.ndarray:
    """The square structuring element of :func:`fill_missing` (uint8)."""
    return cv2.getStructuringElement(cv2.MORPH_RECT, (int(size), int(size)))


def fill_missing(heights: np.ndarray, invalid: np.ndarray, strel: np.ndarray, *,
                 rect: tuple[int, int, int, int] | None = None) -> int:
    """Fill pixels without depth from their neighbours, in place.

    Parameters
    ----------
    heights : ndarray, (h, w) uint8 or uint16
        Thresholded heights (mm); 0 = floor or no reading.  Modified in place.
    invalid : ndarray, (h, w) uint8 (0/1) or bool
        Pixels the camera read as 0 (inside the arena).
    strel : ndarray
        Structuring element of the closing (:func:`fill_strel`).
    rect : (x, y, w, h), optional
        :func:`~.frames.nonzero_rect` of ``heights``, when the caller has it already.

    Returns
    -------
    int
        Pixels filled (0 leaves ``heights`` unchanged).

    Notes
    -----
    A closing (dilation then erosion) fills concavities and gaps narrower than ``strel``
    and leaves convex outlines where they are, so a missing pixel gets a height only where
    the mouse surrounds it; pixels that read a depth are never changed.  Holes wider than
    ``strel`` stay empty here; :func:`~.features.largest_blob` counts them as part of the
    silhouette through ``missing``.
    """
    bx, by, bw, bh = nonzero_rect(heights) if rect is None else rect
    if bw == 0:
        return 0
    # the closing is zero outside the non-zero pixels' bounding rectangle: only missing
    # pixels inside it can be filled
    inner = (slice(by, by + bh), slice(bx, bx + bw))
    fill = invalid[inner]
    fill = fill.view(np.uint8) if fill.dtype == bool else fill
    if not cv2.countNonZero(fill):
        return 0
    # inside the rectangle the closing depends only on the heights within the element's
    # radius of it: computed over that margin only (the result is the whole image's)
    r = max(strel.shape) // 2
    h, w = heights.shape
    y0, y1, x0, x1 = max(0, by - r), min(h, by + bh + r), max(0, bx - r), min(w, bx + bw + r)
    closed = cv2.morphologyEx(heights[y0:y1, x0:x1], cv2.MORPH_CLOSE, strel)
    closed = closed[by - y0:by - y0 + bh, bx - x0:bx + bw - x0]
    target = heights[inner]
    # 0/1 & 0/255 masks: missing, not already given a height, and closed over
    fill = cv2.bitwise_and(fill, cv2.compare(target, 0, cv2.CMP_EQ))  # type: ignore[call-overload]
    fill = cv2.bitwise_and(fill, cv2.compare(closed, 0, cv2.CMP_GT))  # type: ignore[call-overload]
    count = cv2.countNonZero(fill)
    if count:
        np.copyto(target, closed, where=fill.view(bool))
    return int(count)
