"""Per-chunk image operations: background subtraction, thresholds and filters.

All functions take a stack of frames restricted to the ROI's bounding box and work in
float32 / uint8 / uint16, never on full-frame float64 temporaries.
"""

from __future__ import annotations

import cv2
import numpy as np


def subtract_background(
    raw: np.ndarray,
    background: np.ndarray,
    roi: np.ndarray,
    *,
    min_height: float,
    max_height: float,
    frame_dtype: str = "uint8",
) -> np.ndarray:
    """Height above the floor, thresholded, outside the ROI zeroed.

    Unlike the original (spec 7.1-1) heights are thresholded *before* the cast to
    ``frame_dtype``, so nothing wraps around.

    Parameters
    ----------
    raw : ndarray, (n, h, w) uint16
        Depth (mm) over the ROI box; 0 = invalid.
    background : ndarray, (h, w) float32
        Background depth (mm) over the same box.
    roi : ndarray, (h, w) bool
        Arena mask over the box.
    min_height, max_height : float
        Heights outside [min_height, max_height] (mm) become 0.
    frame_dtype : {'uint8', 'uint16'}

    Returns
    -------
    ndarray, (n, h, w) of ``frame_dtype``
        Height in whole mm: the background rounded to whole mm minus the depth.
    """
    bg16 = np.where(roi, np.rint(background), 0).astype(np.uint16)
    lo, hi = int(np.ceil(min_height)), int(np.floor(max_height))
    inside = bg16[roi]
    if (frame_dtype == "uint8" and lo >= 0 and hi <= 254 and raw.dtype == np.uint16
            and raw.flags.c_contiguous and (inside.size == 0 or int(inside.min()) > hi)):
        # Saturating integer path: invalid pixels (0) and pixels outside the ROI come out
        # as the floor depth or 0, both beyond [lo, hi], so the lookup table zeroes them.
        lut = np.zeros(256, np.uint8)
        lut[lo:hi + 1] = np.arange(lo, hi + 1)
        out = np.empty(raw.shape, np.uint8)
        diff = np.empty(bg16.shape, np.uint16)
        for i in range(len(raw)):
            cv2.subtract(bg16, raw[i], dst=diff)
            cv2.min(diff, hi + 1, dst=diff)
            out[i] = cv2.LUT(diff.astype(np.uint8), lut)
        return out
    height = np.rint(background).astype(np.float32)[None] - raw.astype(np.float32)
    keep = (raw > 0) & roi[None] & (height >= min_height) & (height <= max_height)
    height[~keep] = 0
    info = np.iinfo(np.dtype(frame_dtype))
    np.clip(height, 0, info.max, out=height)
    return height.astype(frame_dtype)


def filter_frames(
    frames: np.ndarray,
    *,
    spatial_filter_size: list[int] | tuple[int, ...] = (3,),
    strel_tail: np.ndarray | None = None,
    tail_filter_iters: int = 1,
    strel_cable: np.ndarray | None = None,
    cable_filter_iters: int = 0,
) -> np.ndarray:
    """Per-frame clean-up: cable erosion, spatial median(s), tail opening.

    Parameters
    ----------
    frames : ndarray, (n, h, w) uint8 or uint16
    spatial_filter_size : sequence of int
        Median kernels applied in turn; any 0 disables spatial filtering.
    strel_tail : ndarray, optional
        Structuring element of the opening that removes the tail.
    tail_filter_iters : int
        Iterations of that opening (0 = off).
    strel_cable, cable_filter_iters
        Optional erosion that removes thin cables (0 = off).

    Returns
    -------
    ndarray, same shape and dtype, new array.
    """
    out = np.empty_like(frames)
    spatial = [int(k) for k in spatial_filter_size if int(k) > 1]
    if any(int(k) <= 0 for k in spatial_filter_size):
        spatial = []
    if frames.dtype == np.uint16:
        spatial = [k if k in (3, 5) else 5 for k in spatial]
    pad = 2 + sum(k // 2 for k in spatial) + sum(
        max(s.shape) * max(it, 1) for s, it in ((strel_tail, tail_filter_iters),
                                                 (strel_cable, cable_filter_iters))
        if s is not None)
    h, w = frames.shape[1:]
    for i, frame in enumerate(frames):
        # Work only around the non-zero pixels: beyond ``pad`` pixels of them the image is
        # zero before and after every filter here, so the result is identical.
        bx, by, bw, bh = cv2.boundingRect(frame)
        out[i] = 0
        if bw == 0:
            continue
        y0, y1 = max(0, by - pad), min(h, by + bh + pad)
        x0, x1 = max(0, bx - pad), min(w, bx + bw + pad)
        f = np.ascontiguousarray(frame[y0:y1, x0:x1])
        if cable_filter_iters > 0 and strel_cable is not None:
            f = cv2.erode(f, strel_cable, iterations=int(cable_filter_iters))
        for k in spatial:
            f = cv2.medianBlur(f, k)
        if tail_filter_iters > 0 and strel_tail is not None:
            f = cv2.morphologyEx(f, cv2.MORPH_OPEN, strel_tail,
                                 iterations=int(tail_filter_iters))
        out[i, y0:y1, x0:x1] = f
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
