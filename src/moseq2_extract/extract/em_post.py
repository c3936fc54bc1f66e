"""What follows the EM tracker: the model smoother of the features (spec 4.13) and the
clipping of the stored log-likelihood crops (spec 4.17)."""

from __future__ import annotations

import numpy as np

__all__ = ["clip_ll_crops", "fill_nan_nearest", "likelihood_weights", "smooth_by_likelihood"]


def likelihood_weights(mean_ll: np.ndarray, clips: tuple[float, float]) -> np.ndarray | None:
    """Per-frame trust in the tracker: ``clip((mean_ll - c0) / (c1 - c0), 0, 1)``.

    Parameters
    ----------
    mean_ll : ndarray, (n,) float
        Mean log-likelihood of each frame's image (:attr:`~.em_tracker.EMFrame.mean_ll`).
    clips : (c0, c1)
        ``model_smoothing_clips``; the smoother is off unless ``c0 < c1``.

    Returns
    -------
    ndarray, (n,) float64 in [0, 1], or None when the smoother is off.
    """
    c0, c1 = (float(c) for c in clips)
    if not c0 < c1:
        return None
    return np.clip((np.asarray(mean_ll, dtype=np.float64) - c0) / (c1 - c0), 0.0, 1.0)


def fill_nan_nearest(values: np.ndarray) -> np.ndarray:
    """NaNs of each column replaced by the nearest finite sample in time.

    A NaN half-way between two samples takes the earlier one (as ``scipy``'s ``interp1d``
    with ``kind='nearest'``); before the first and after the last sample the edge sample
    is repeated.  A column without any finite value is left as it is.

    Parameters
    ----------
    values : ndarray, (n,) or (n, k) float

    Returns
    -------
    ndarray, same shape, float64, new array.
    """
    out = np.array(values, dtype=np.float64)
    flat = out.reshape(len(out), -1)
    n = len(flat)
    index = np.arange(n)
    for j in range(flat.shape[1]):
        col = flat[:, j]
        bad = np.isnan(col)
        if not bad.any() or bad.all():
            continue
        good = np.flatnonzero(~bad)
        # last good sample at or before each index, first good at or after
        before = np.maximum.accumulate(np.where(~bad, index, -1))
        after = np.minimum.accumulate(np.where(~bad, index, n)[::-1])[::-1]
        left = np.where(before >= 0, before, good[0])
        right = np.where(after < n, after, good[-1])
        take_left = (index - left) <= (right - index)
        take_left |= before < 0  # nothing before: only the right one exists (left = right)
        src = np.where(take_left, left, right)
        col[bad] = col[src[bad]]
    return out


def smooth_by_likelihood(values: np.ndarray, weights: np.ndarray, *, first: int = 1
                         ) -> np.ndarray:
    """The EM model smoother: frames the tracker is unsure of lean on their neighbours.

    NaNs are first filled by :func:`fill_nan_nearest`; then a forward pass
    ``f[i] = (1 - s[i]) f[i-1] + s[i] f[i]`` for ``i = first .. n-1`` and a backward pass
    ``f[i] = (1 - s[i]) f[i+1] + s[i] f[i]`` for ``i = n-2 .. 0``.

    Parameters
    ----------
    values : ndarray, (n,) or (n, k) float
        Per-frame features (centroid, orientation, axis lengths...).
    weights : ndarray, (n,) float in [0, 1]
        :func:`likelihood_weights`.
    first : int
        First frame of the forward pass.  The original starts at 2 (spec 7.1 item 11), so
        its frame 1 never leans on frame 0; 1 (the default) smooths every frame.

    Returns
    -------
    ndarray, same shape as ``values``, float64, new array.
    """
    out = fill_nan_nearest(values)
    s = np.asarray(weights, dtype=np.float64)
    if len(s) != len(out):
        raise ValueError(f"weights has {len(s)} frames, values {len(out)}")
    flat = out.reshape(len(out), -1)
    for i in range(max(int(first), 1), len(flat)):
        flat[i] = (1.0 - s[i]) * flat[i - 1] + s[i] * flat[i]
    for i in range(len(flat) - 2, -1, -1):
        flat[i] = (1.0 - s[i]) * flat[i + 1] + s[i] * flat[i]
    return out


def clip_ll_crops(ll_crops: np.ndarray, depth_crops: np.ndarray, *, min_height: float,
                  ll_clip: float) -> np.ndarray:
    """The stored log-likelihood masks of the EM tracker (spec 4.17).

    Pixels whose depth crop is below ``min_height`` are set to ``ll_clip``, and every
    value below ``ll_clip`` is raised to it.

    Parameters
    ----------
    ll_crops : ndarray, (n, c, c) float
        Log-likelihood crops.
    depth_crops : ndarray, (n, c, c)
        Height crops (mm) of the same frames.
    min_height, ll_clip : float

    Returns
    -------
    ndarray, (n, c, c) float32, new array.
    """
    out = np.array(ll_crops, dtype=np.float32)
    clip = np.float32(ll_clip)
    out[np.asarray(depth_crops) < min_height] = clip
    np.maximum(out, clip, out=out)
    return out
