"""``moseq2_extract.extract.roi``: the floor-plane fit at the original's module path (spec
6.5), over :mod:`moseq2_extract.roi.plane`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import RoiError
from ..roi.plane import fit_plane_ransac, plane_from_points

__all__ = ["plane_fit3", "plane_ransac"]


def plane_fit3(points: np.ndarray) -> np.ndarray:
    """The plane through three points ``(3, 3)`` (x, y, z): ``(a, b, c, d)`` with unit
    normal, ``a x + b y + c z + d = 0``; NaNs for collinear points."""
    return plane_from_points(np.asarray(points, dtype=np.float64).reshape(3, 3))


def plane_ransac(depth_image: np.ndarray, bg_roi_depth_range: Sequence[float] = (650, 750),
                 iters: int = 1000, noise_tolerance: float = 30, in_ratio: float = 0.1,
                 progress_bar: bool = False, mask: np.ndarray | None = None,
                 **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
    """Fit the floor plane to the pixels with ``lo < depth < hi`` (RANSAC, seeded by the
    ``seed`` keyword, default 0, then refined by least squares on the inliers).

    Points are (x = column, y = row, z = depth in mm).

    Returns
    -------
    (plane, dist)
        ``plane`` (4,) (a, b, c, d); ``dist`` (H * W,) distance of every pixel from it
        (inf where depth is invalid or outside ``mask``).

    Raises
    ------
    RoiError (a ValueError)
        With the reason, when no plane is found (too few pixels in the range, or none with
        enough inliers; the original failed with an unbound variable, spec 7.1-15).
    """
    lo, hi = (float(v) for v in bg_roi_depth_range)
    fit = fit_plane_ransac(np.asarray(depth_image), depth_range=(lo, hi),
                           noise_tolerance=float(noise_tolerance), iters=int(iters),
                           in_ratio=float(in_ratio),
                           mask=None if mask is None else np.asarray(mask, bool),
                           rng=kwargs.get("seed", 0))
    if not fit.ok:
        raise RoiError(f"no floor plane found: {fit.reason}")
    return fit.plane, fit.distance.ravel()
