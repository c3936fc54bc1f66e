"""Arena background: per-pixel median depth over frames sampled across the recording."""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputFileError
from .parallel import bands, map_in_threads


def background_sample_indices(
    nframes: int, *, frame_stride: int = 500, min_samples: int = 25
) -> np.ndarray:
    """Frame indices sampled for the background.

    Every ``frame_stride``-th frame as in the original, but never fewer than ``min_samples``
    frames (or all frames of a short recording), so that a mouse that rests for a while
    does not end up in the median.

    Returns
    -------
    ndarray, (k,) int64, sorted and unique.
    """
    if nframes <= 0:
        return np.zeros(0, dtype=np.int64)
    stride = max(1, min(frame_stride, nframes // max(min_samples, 1)))
    return np.arange(0, nframes, stride, dtype=np.int64)


def median_background(
    frames: np.ndarray, *, med_scale: int = 5, floor_tolerance: float = 6.0, threads: int = 1
) -> np.ndarray:
    """Per-pixel median of the floor samples of ``frames``, ignoring invalid zeros.

    The floor is the farthest surface a pixel sees, and the mouse is always closer to the
    camera.  So only samples within ``floor_tolerance`` mm of the pixel's farthest value
    (its second farthest, with three or more samples, to resist outliers) enter the median.
    A mouse that rests in one place for more than half of the samples therefore does not
    end up in the background, as it does with a plain median.

    Parameters
    ----------
    frames : ndarray, (k, H, W) uint16
        Depth frames in mm; 0 marks invalid pixels.
    med_scale : int
        Kernel of the spatial median blur applied to each frame first (0 or 1 = none;
        uint16 frames allow 3 or 5).
    floor_tolerance : float
        mm; samples closer to the camera than this below the farthest are ignored.
    threads : int
        Threads to share the work (frames blurred apart, pixels' medians in row bands):
        the same values as with one.

    Returns
    -------
    ndarray, (H, W) float32
        Background depth in mm; 0 where no sample was valid.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3 or len(frames) == 0:
        raise ValueError(f"expected a (k, H, W) stack of frames, got shape {frames.shape}")
    own = False  # whether ``frames`` is a stack made here (then sorted in place)
    if med_scale and med_scale > 1:
        ksize = med_scale if med_scale in (3, 5) else 5
        blurred = np.empty(frames.shape, np.uint16)

        def blur(i: int) -> None:  # into its place in the stack (no copy, no new pages)
            cv2.medianBlur(np.ascontiguousarray(frames[i], dtype=np.uint16), ksize,
                           dst=blurred[i])

        map_in_threads(blur, range(len(frames)), threads=threads)
        frames, own = blurred, True
    if frames.dtype.kind == "u":
        # each pixel's median is its own: row bands on threads, put back in order
        parts = map_in_threads(
            lambda rows: _unsigned_median(frames[:, rows[0]:rows[1]], floor_tolerance,
                                          in_place=own),
            bands(frames.shape[1], threads), threads=threads)
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
    valid = frames > 0
    n_valid = valid.sum(axis=0)
    ordered = np.sort(np.where(valid, frames.astype(np.float32), -np.inf), axis=0)
    return _floor_median(ordered, n_valid, floor_tolerance)


def _floor_median(ordered: np.ndarray, n_valid: np.ndarray, floor_tolerance: float,
                  n_keep_limit: np.ndarray | None = None) -> np.ndarray:
    """The median of the samples near each pixel's farthest one, from the samples sorted
    along axis 0 (``n_keep_limit``: at most this many samples, the valid ones, are kept)."""
    k = len(ordered)
    top = (np.where(n_valid >= 3, ordered[k - 2], ordered[k - 1]) if k >= 2
           else ordered[k - 1]).astype(np.float32)
    # the kept samples are the sorted run [k - n_keep, k): take its median directly
    low = top - floor_tolerance
    if ordered.dtype.kind == "u":
        # an integer is >= low exactly when it is >= ceil(low): compare integers
        limit = np.iinfo(ordered.dtype).max
        low = np.clip(np.ceil(low), 0, limit).astype(ordered.dtype)
    n_keep = _count_along_first(ordered, np.greater_equal, low)
    if n_keep_limit is not None:
        n_keep = np.minimum(n_keep, n_keep_limit)
    first = k - n_keep
    lower = np.take_along_axis(ordered, (first + (n_keep - 1) // 2)[None], axis=0)[0]
    upper = np.take_along_axis(ordered, (first + n_keep // 2)[None], axis=0)[0]
    lower, upper = lower.astype(np.float32), upper.astype(np.float32)
    return np.where(n_valid > 0, 0.5 * (lower + upper), 0).astype(np.float32)


def _unsigned_median(frames: np.ndarray, floor_tolerance: float, *,
                     in_place: bool = False) -> np.ndarray:
    """:func:`median_background` of unsigned integer frames, the same values faster.

    Invalid zeros already sort below every valid depth, so the frames are sorted as they
    are (by a sorting network of elementwise minima and maxima over whole frames: a few
    milliseconds, against a tenth of a second for ``np.sort`` along the first axis), and
    a zero is never kept (the kept run is limited to the valid samples).  ``in_place``
    sorts ``frames`` itself (a stack the caller made for this) instead of a copy.
    """
    ordered = frames if in_place else np.array(frames, copy=True)
    sort_network(ordered)
    n_valid = _count_along_first(ordered, np.greater, 0)
    # (a pixel without any valid sample keeps one, and gets 0 below)
    return _floor_median(ordered, n_valid, floor_tolerance,
                         n_keep_limit=np.maximum(n_valid, 1))


def _count_along_first(stack: np.ndarray, compare: np.ufunc, value) -> np.ndarray:
    """``compare(stack, value).sum(axis=0)`` (int64), one slice at a time: a few
    elementwise passes instead of a reduction along the slow axis."""
    # counted in the narrowest integers that hold len(stack) (bytes: a fraction of the
    # memory traffic of int64)
    count = np.zeros(stack.shape[1:], np.uint8 if len(stack) < 256 else np.int64)
    hit = np.empty(stack.shape[1:], bool)
    for plane in stack:
        np.add(count, compare(plane, value, out=hit), out=count, casting="unsafe")
    return count.astype(np.int64)


def _batcher_pairs(n: int) -> list[tuple[int, int]]:
    """Comparators ``(i, j)``, ``i < j``, of Batcher's odd-even merge sort of ``n`` items.

    Built for the next power of two; comparators that reach past ``n`` are left out (the
    items there count as larger than all others, and would never move).
    """
    pairs = []
    size = 1
    while size < n:
        size *= 2
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    a, b = i + j, i + j + k
                    if (a // (2 * p)) == (b // (2 * p)) and b < n:
                        pairs.append((a, b))
            k //= 2
        p *= 2
    return pairs


def sort_network(stack: np.ndarray) -> None:
    """Sort ``stack`` along its first axis, in place (ascending).

    Parameters
    ----------
    stack : ndarray, (k, ...)
        Any dtype without NaN.  The same result as ``np.sort(stack, axis=0)``, computed
        with ``O(k log^2 k)`` elementwise minima and maxima of whole slices: fast when
        ``k`` is small and the slices are large (e.g. 25 sampled depth frames).
    """
    if len(stack) < 2:
        return
    low = np.empty_like(stack[0])
    for i, j in _batcher_pairs(len(stack)):
        a, b = stack[i], stack[j]
        np.minimum(a, b, out=low)
        np.maximum(a, b, out=b)
        a[...] = low


def compute_background(
    reader, *, frame_stride: int = 500, med_scale: int = 5, nframes: int | None = None,
    threads: int = 1,
) -> np.ndarray:
    """Median background of a recording, reading only the sampled frames.

    Parameters
    ----------
    reader : DepthReader
        Open depth video (see :mod:`moseq2_extract.io.video`).
    frame_stride, med_scale : int
        As in the config keys of the same name.
    nframes : int, optional
        Usable frame count (defaults to the reader's).
    threads : int
        Threads for the median (:func:`median_background`).

    Returns
    -------
    ndarray, (H, W) float32, mm.
    """
    n = reader.info.nframes if nframes is None else nframes
    idx = background_sample_indices(n, frame_stride=frame_stride)
    if len(idx) == 0:
        raise InputFileError(f"{reader.info.path}: no frames to compute a background from")
    frames = reader.read_frames(idx)
    return median_background(frames, med_scale=med_scale, threads=threads)


def plane_background(plane: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Depth of the fitted floor plane at every pixel.

    Parameters
    ----------
    plane : ndarray, (4,)
        (a, b, c, d) with a*x + b*y + c*z + d = 0, x = column, y = row, z = depth (mm).
    shape : (H, W)

    Returns
    -------
    ndarray, (H, W) float32, mm.
    """
    a, b, c, d = (float(v) for v in plane)
    yy, xx = np.mgrid[: shape[0], : shape[1]].astype(np.float64)
    return (-(a * xx + b * yy + d) / c).astype(np.float32)
