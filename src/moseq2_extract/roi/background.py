"""Arena background: per-pixel median depth over frames sampled across the recording."""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputFileError


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
    frames: np.ndarray, *, med_scale: int = 5, floor_tolerance: float = 6.0
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

    Returns
    -------
    ndarray, (H, W) float32
        Background depth in mm; 0 where no sample was valid.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3 or len(frames) == 0:
        raise ValueError(f"expected a (k, H, W) stack of frames, got shape {frames.shape}")
    if med_scale and med_scale > 1:
        ksize = med_scale if med_scale in (3, 5) else 5
        frames = np.stack([cv2.medianBlur(np.ascontiguousarray(f, dtype=np.uint16), ksize)
                           for f in frames])
    valid = frames > 0
    n_valid = valid.sum(axis=0)
    ordered = np.sort(np.where(valid, frames.astype(np.float32), -np.inf), axis=0)
    k = len(frames)
    top_idx = np.where(n_valid >= 3, k - 2, k - 1)
    top = np.take_along_axis(ordered, top_idx[None], axis=0)[0]
    # the kept samples are the sorted run [k - n_keep, k): take its median directly
    n_keep = (ordered >= (top - floor_tolerance)[None]).sum(axis=0)
    first = k - n_keep
    lower = np.take_along_axis(ordered, (first + (n_keep - 1) // 2)[None], axis=0)[0]
    upper = np.take_along_axis(ordered, (first + n_keep // 2)[None], axis=0)[0]
    out = np.where(n_valid > 0, 0.5 * (lower + upper), 0).astype(np.float32)
    return out


def compute_background(
    reader, *, frame_stride: int = 500, med_scale: int = 5, nframes: int | None = None
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

    Returns
    -------
    ndarray, (H, W) float32, mm.
    """
    n = reader.info.nframes if nframes is None else nframes
    idx = background_sample_indices(n, frame_stride=frame_stride)
    if len(idx) == 0:
        raise InputFileError(f"{reader.info.path}: no frames to compute a background from")
    frames = reader.read_frames(idx)
    return median_background(frames, med_scale=med_scale)


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
