"""Floor plane: automatic depth range and a seedable, vectorised RANSAC fit."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..stats import median
from .parallel import map_in_threads


@dataclass(frozen=True)
class PlaneFit:
    """Result of :func:`fit_plane_ransac`.

    Attributes
    ----------
    ok : bool
        Whether a plane was found; when False, ``reason`` says why and the other fields
        hold NaN / empty values.
    plane : ndarray, (4,) float64
        (a, b, c, d), unit normal (a, b, c), for points (x = column, y = row, z = mm).
    distance : ndarray, (H, W) float32
        Distance of every background pixel from the plane (inf where depth is invalid).
    inlier_fraction : float
        Fraction of candidate pixels within ``noise_tolerance``.
    reason : str
    """

    ok: bool
    plane: np.ndarray
    distance: np.ndarray
    inlier_fraction: float
    reason: str = ""


def auto_depth_range(background: np.ndarray, *, half_width: float = 50.0) -> tuple[float, float]:
    """Depth window around the dominant flat surface in the centre of the image.

    The original reads a single background pixel at the centroid of all valid pixels,
    which fails when that pixel is invalid or lies on an object.  Here the mode of the
    depth histogram over the central half of the image is used instead.

    Parameters
    ----------
    background : ndarray, (H, W)
        Background depth (mm), 0 = invalid.
    half_width : float
        Half width of the returned window (mm).

    Returns
    -------
    (lo, hi) : tuple of float, mm.
    """
    h, w = background.shape
    centre = background[h // 4: h - h // 4, w // 4: w - w // 4]
    values = centre[centre > 0]
    if values.size < 10:
        values = background[background > 0]
    if values.size == 0:
        return (0.0, 0.0)
    bins = np.arange(np.floor(values.min()), np.ceil(values.max()) + 6, 5.0)
    counts, edges = np.histogram(values, bins=bins)
    smooth = np.convolve(counts, np.ones(5), mode="same")
    k = int(np.argmax(smooth))
    mode = 0.5 * (edges[k] + edges[k + 1])
    near = values[np.abs(values - mode) <= 25]
    d = median(near) if near.size else float(mode)
    return (float(int(d - half_width)), float(int(d + half_width)))


def plane_from_points(points: np.ndarray) -> np.ndarray:
    """Planes through triples of points.

    Parameters
    ----------
    points : ndarray, (..., 3, 3)
        Triples of (x, y, z) points.

    Returns
    -------
    ndarray, (..., 4) float64
        (a, b, c, d) with unit normal; NaN for degenerate (collinear) triples.
    """
    p = np.asarray(points, dtype=np.float64)
    normal = np.cross(p[..., 1, :] - p[..., 0, :], p[..., 2, :] - p[..., 0, :])
    norm = np.linalg.norm(normal, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        normal = np.where(norm > np.finfo(float).eps, normal / norm, np.nan)
    d = -np.sum(normal * p[..., 0, :], axis=-1, keepdims=True)
    return np.concatenate([normal, d], axis=-1)


def score_planes(points: np.ndarray, planes: np.ndarray, tolerance: float, *,
                 chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Inlier counts and mean distances of points to each of a few planes.

    Exactly ``count_nonzero(dist < tolerance, axis=0)`` and ``dist.mean(axis=0)`` of the
    full ``(P, B)`` distance matrix, computed ``chunk`` points at a time so that the work
    stays in the cache (about twice as fast): numpy sums a 2-D array over its first axis row
    after row, so carrying the running sum in as the first row of each chunk gives the same
    bits as one pass over all rows.

    Parameters
    ----------
    points : ndarray, (P, 3) float64
    planes : ndarray, (B, 4) float64
        ``(a, b, c, d)`` with unit normals.
    tolerance : float

    Returns
    -------
    counts : ndarray, (B,) int
    means : ndarray, (B,) float64
    """
    n_planes = len(planes)
    normals_t = planes[:, :3].T
    offsets = planes[:, 3]
    counts = np.zeros(n_planes, np.int64)
    total = np.zeros(n_planes)
    buf = np.empty((min(chunk, len(points)) + 1, n_planes))
    inside = np.empty((len(buf) - 1, n_planes), dtype=bool)
    # inlier counts of a chunk summed as bytes (a third of count_nonzero's time)
    tally = np.uint16 if len(inside) < 2**16 else np.int64
    for p0 in range(0, len(points), chunk):
        part = points[p0:p0 + chunk]
        dist = buf[1:len(part) + 1]
        np.matmul(part, normals_t, out=dist)
        dist += offsets
        np.abs(dist, out=dist)
        hits = np.less(dist, tolerance, out=inside[:len(part)])
        counts += np.add.reduce(hits.view(np.uint8), axis=0, dtype=tally)
        buf[0] = total
        total = np.add.reduce(buf[:len(part) + 1], axis=0)
    return counts, total / max(len(points), 1)


def fit_plane_ransac(
    background: np.ndarray,
    *,
    depth_range: tuple[float, float],
    noise_tolerance: float = 30,
    iters: int = 1000,
    in_ratio: float = 0.1,
    mask: np.ndarray | None = None,
    rng: np.random.Generator | int | None = 0,
    max_points: int = 20000,
    threads: int = 1,
) -> PlaneFit:
    """Fit the floor plane to background pixels inside ``depth_range``.

    Hypotheses from random point triples are scored all at once (vectorised); the best
    (most inliers, then lowest mean distance) is refined by least squares on its inliers.

    Parameters
    ----------
    background : ndarray, (H, W)
        Background depth in mm.
    depth_range : (lo, hi)
        Candidate pixels satisfy lo < depth < hi (mm).
    noise_tolerance : float
        Inlier distance (mm, along the unit normal in (px, px, mm) space).
    iters : int
        Number of hypotheses.
    in_ratio : float
        Minimum inlier fraction of a usable plane.
    mask : ndarray, (H, W) bool, optional
        Extra restriction of candidate pixels (e.g. the wall-gradient filter).
    rng : Generator or int
        Randomness (seeded by default, so results are reproducible).
    max_points : int
        Candidates are subsampled to this many points for scoring.
    threads : int
        Threads scoring blocks of hypotheses (the same scores, and plane, as with one).

    Returns
    -------
    PlaneFit
        ``ok`` is False (with a reason) instead of raising when no plane is found.
    """
    rng = np.random.default_rng(rng)
    bg = np.asarray(background, dtype=np.float64)
    lo, hi = depth_range
    cand = (bg > lo) & (bg < hi)
    n_range = int(cand.sum())
    if mask is not None:
        cand &= mask
    h, w = bg.shape
    nan_plane = np.full(4, np.nan)
    inf_dist = np.full((h, w), np.inf, dtype=np.float32)
    if n_range <= 10 or cand.sum() <= 10:
        return PlaneFit(False, nan_plane, inf_dist, 0.0,
                        f"only {int(cand.sum())} background pixels lie within the floor depth "
                        f"range {lo:g}-{hi:g} mm")
    ys, xs = np.nonzero(cand)
    pts = np.column_stack([xs, ys, bg[ys, xs]]).astype(np.float64)
    score_pts = pts if len(pts) <= max_points else pts[rng.choice(len(pts), max_points,
                                                                 replace=False)]
    triples = pts[rng.integers(0, len(pts), size=(iters, 3))]
    planes = plane_from_points(triples)
    planes = planes[np.all(np.isfinite(planes), axis=1)]
    if len(planes) == 0:
        return PlaneFit(False, nan_plane, inf_dist, 0.0, "all sampled point triples were "
                        "degenerate")
    best_count, best_mean, best = -1, np.inf, None
    blocks = [planes[start:start + 128] for start in range(0, len(planes), 128)]
    scores = map_in_threads(lambda block: score_planes(score_pts, block, noise_tolerance),
                            blocks, threads=threads)
    for block, (counts, means) in zip(blocks, scores, strict=True):
        for j in np.argsort(-counts, kind="stable")[:4]:
            if counts[j] > best_count or (counts[j] == best_count and means[j] < best_mean):
                best_count, best_mean, best = int(counts[j]), float(means[j]), block[j]
    frac = best_count / len(score_pts)
    if best is None or frac <= in_ratio:
        return PlaneFit(False, nan_plane, inf_dist, frac,
                        f"no plane fits more than {in_ratio:.0%} of the floor candidates")
    # least-squares refinement on the inliers: z = p0*x + p1*y + p2
    inl = np.abs(pts @ best[:3] + best[3]) < noise_tolerance
    if inl.sum() >= 3:
        a_mat = np.column_stack([pts[inl, 0], pts[inl, 1], np.ones(inl.sum())])
        coef, *_ = np.linalg.lstsq(a_mat, pts[inl, 2], rcond=None)
        normal = np.array([coef[0], coef[1], -1.0])
        norm = np.linalg.norm(normal)
        refined = np.append(normal / norm, coef[2] / norm)
        if np.sum(np.abs(pts @ refined[:3] + refined[3]) < noise_tolerance) >= inl.sum():
            best = refined
    yy, xx = np.mgrid[:h, :w]
    dist_img = np.abs(best[0] * xx + best[1] * yy + best[2] * bg + best[3]).astype(np.float32)
    dist_img[bg <= 0] = np.inf
    if mask is not None:
        dist_img[~mask] = np.inf
    if best[2] > 0:  # orient the normal towards the camera (c < 0) for a stable sign
        best = -best
    return PlaneFit(True, np.asarray(best, dtype=np.float64), dist_img, float(frac))
