"""Arena ROI: floor regions of the background, ranked, cleaned up with morphology."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..errors import RoiError
from ..stats import median
from .plane import PlaneFit, fit_plane_ransac


def make_strel(shape: str, size: tuple[int, int]) -> np.ndarray:
    """Structuring element; ``shape`` starting with ``r`` = rectangle, else ellipse.

    Returns
    -------
    ndarray, (size[1], size[0]) uint8
    """
    kind = cv2.MORPH_RECT if str(shape).lower().startswith("r") else cv2.MORPH_ELLIPSE
    return cv2.getStructuringElement(kind, (int(size[0]), int(size[1])))


@dataclass(frozen=True)
class RoiResult:
    """Candidate arena ROIs, best first.

    Attributes
    ----------
    rois : list of ndarray, (H, W) bool
        Cleaned ROI masks in ranked order (only the ones asked for are cleaned).
    plane : PlaneFit
        The floor-plane fit the ROIs come from.
    scores : ndarray, (k,) float
        Ranking score of each kept region (lower is better).
    """

    rois: list[np.ndarray]
    plane: PlaneFit
    scores: np.ndarray


def rank_max(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their largest rank (``scipy.stats.rankdata(method="max")``)."""
    values = np.asarray(values, dtype=np.float64)
    return np.searchsorted(np.sort(values), values, side="right").astype(np.float64)


def fill_holes_of(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of a binary mask (background not connected to the border).

    Parameters
    ----------
    mask : ndarray, (H, W) bool

    Returns
    -------
    ndarray, (H, W) bool
    """
    h, w = mask.shape
    padded = np.zeros((h + 2, w + 2), np.uint8)
    padded[1:-1, 1:-1] = mask
    flood = padded.copy()
    cv2.floodFill(flood, np.zeros((h + 4, w + 4), np.uint8), (0, 0), 1)
    return (padded[1:-1, 1:-1] > 0) | (flood[1:-1, 1:-1] == 0)


def rank_regions(
    labels: np.ndarray, stats: np.ndarray, *, weights: tuple[float, float, float],
    min_area: int
) -> tuple[np.ndarray, np.ndarray]:
    """Order floor regions by weighted ranks of area, extent and distance to the centre.

    Parameters
    ----------
    labels : ndarray, (H, W) int32
        Connected-component labels (0 = background).
    stats : ndarray, (L, 5)
        ``cv2.connectedComponentsWithStats`` statistics.
    weights : (area, extent, distance)
    min_area : int
        Regions smaller than this (px) are ignored (noise specks).

    Returns
    -------
    (label ids best first, their scores)
    """
    ids = np.array([i for i in range(1, len(stats)) if stats[i, cv2.CC_STAT_AREA] >= min_area],
                   dtype=np.int64)
    if len(ids) == 0:
        return ids, np.zeros(0)
    h, w = labels.shape
    area = stats[ids, cv2.CC_STAT_AREA].astype(np.float64)
    extent = area / (stats[ids, cv2.CC_STAT_WIDTH] * stats[ids, cv2.CC_STAT_HEIGHT])
    ys, xs = np.nonzero(labels)
    lab = labels[ys, xs]
    d = np.hypot(ys - h / 2, xs - w / 2)
    maxd = np.zeros(len(stats))
    np.maximum.at(maxd, lab, d)
    dist = maxd[ids]
    ranks = np.stack([rank_max(-area), rank_max(-extent), rank_max(dist)], axis=1)
    score = (ranks * np.asarray(weights, dtype=np.float64)).mean(axis=1)
    order = np.argsort(score, kind="stable")
    return ids[order], score[order]


def find_rois(
    background: np.ndarray,
    *,
    depth_range: tuple[float, float],
    noise_tolerance: float = 30,
    weights: tuple[float, float, float] = (1.0, 0.1, 1.0),
    strel_dilate: np.ndarray | None = None,
    dilate_iterations: int = 1,
    strel_erode: np.ndarray | None = None,
    erode_iterations: int = 0,
    fill_holes: bool = True,
    gradient_filter: bool = False,
    gradient_kernel: int = 7,
    gradient_threshold: float = 3000,
    n_rois: int = 1,
    iters: int = 1000,
    in_ratio: float = 0.1,
    rng: np.random.Generator | int | None = 0,
    threads: int = 1,
) -> RoiResult:
    """Find the arena floor ROI(s) in a background image.

    Parameters
    ----------
    background : ndarray, (H, W)
        Background depth (mm).
    depth_range : (lo, hi)
        Floor depth window for the plane fit (mm).
    n_rois : int
        How many of the best-ranked ROIs to clean up and return.
    other parameters
        As the config keys ``noise_tolerance``, ``bg_roi_weights``, ``bg_roi_dilate`` /
        ``dilate_iterations``, ``bg_roi_erode`` / ``erode_iterations``,
        ``bg_roi_fill_holes``, ``bg_roi_gradient_*``, ``iters``, ``in_ratio``.
    threads : int
        Threads for the plane fit (the same plane with any number).

    Raises
    ------
    RoiError
        When no floor plane or no floor region is found (one-line reason).
    """
    bg = np.asarray(background, dtype=np.float32)
    grad_mask = None
    if gradient_filter:
        gx = cv2.Sobel(bg.astype(np.float64), cv2.CV_64F, 1, 0, ksize=gradient_kernel)
        gy = cv2.Sobel(bg.astype(np.float64), cv2.CV_64F, 0, 1, ksize=gradient_kernel)
        grad_mask = (np.abs(gx) < gradient_threshold) & (np.abs(gy) < gradient_threshold)
    fit = fit_plane_ransac(bg, depth_range=depth_range, noise_tolerance=noise_tolerance,
                           iters=iters, in_ratio=in_ratio, mask=grad_mask, rng=rng,
                           threads=threads)
    if not fit.ok:
        raise RoiError(f"no floor plane found: {fit.reason}")
    floor = (fit.distance < noise_tolerance).astype(np.uint8)
    nlab, labels, stats, _ = cv2.connectedComponentsWithStats(floor, connectivity=8)
    min_area = max(16, int(0.0005 * bg.size))
    ids, scores = rank_regions(labels, stats, weights=weights, min_area=min_area)
    if len(ids) == 0:
        raise RoiError("the floor plane was found but no floor region is large enough")
    rois = []
    for label in ids[:n_rois]:
        region = (labels == label).astype(np.uint8)
        if dilate_iterations > 0 and strel_dilate is not None:
            region = cv2.dilate(region, strel_dilate, iterations=int(dilate_iterations))
        if erode_iterations > 0 and strel_erode is not None:
            region = cv2.erode(region, strel_erode, iterations=int(erode_iterations))
        mask = region > 0
        if fill_holes:
            mask = fill_holes_of(mask)
        rois.append(mask)
    return RoiResult(rois, fit, scores)


def sort_rois_by_position(rois: list[np.ndarray], *, max_rois: int) -> list[np.ndarray]:
    """Keep the ``max_rois`` best ROIs and order them top to bottom by mean row."""
    kept = rois[:max_rois]
    return sorted(kept, key=lambda m: float(np.nonzero(m)[0].mean()) if m.any() else np.inf)


def roi_bbox(roi: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box of a mask as (y0, y1, x0, x1), end-exclusive, covering every pixel.

    Raises
    ------
    RoiError
        If the mask is empty.
    """
    ys = np.flatnonzero(roi.any(axis=1))
    xs = np.flatnonzero(roi.any(axis=0))
    if len(ys) == 0:
        raise RoiError("the ROI is empty")
    return int(ys[0]), int(ys[-1]) + 1, int(xs[0]), int(xs[-1]) + 1


def true_depth_of(background: np.ndarray, roi: np.ndarray) -> float:
    """Median background depth inside the ROI (mm), ignoring invalid pixels."""
    vals = background[roi & (background > 0)]
    if vals.size == 0:
        raise RoiError("no valid background depth inside the ROI")
    return median(vals)
