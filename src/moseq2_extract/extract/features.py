"""Mouse features from image moments of the largest blob above the floor."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class BlobFeatures:
    """Moment features of one frame's mouse blob (NaN fields when no blob).

    ``x`` and ``y`` are pixels relative to the image the blob was found in plus the
    ``offset`` given to :func:`largest_blob`; ``bbox`` is relative to that image; ``orientation``
    follows the original's convention: radians in [-pi/2, pi/2], counter-clockwise
    positive as displayed with row 0 on top, defined modulo pi.
    """

    x: float
    y: float
    orientation: float
    major: float
    minor: float
    area: float
    bbox: tuple[int, int, int, int]  # x, y, w, h of the blob
    label: int


_TWO_SQRT2 = 2 * math.sqrt(2)
NO_BLOB = BlobFeatures(np.nan, np.nan, np.nan, np.nan, np.nan, 0.0, (0, 0, 0, 0), 0)


def moment_features(moments: dict, *, offset: tuple[float, float] = (0.0, 0.0)
                    ) -> tuple[float, float, float, float, float]:
    """Centroid, orientation and full axis lengths from ``cv2.moments`` output.

    Returns
    -------
    (x, y, orientation, major, minor); NaNs when the zeroth moment is 0.
    """
    m00 = float(moments["m00"])
    if m00 <= 0:
        return (math.nan,) * 5
    x = moments["m10"] / m00 + offset[0]
    y = moments["m01"] / m00 + offset[1]
    mu20, mu02, mu11 = (float(moments[k]) for k in ("mu20", "mu02", "mu11"))
    theta = -0.5 * math.atan2(2 * mu11, mu20 - mu02)
    root = math.sqrt(4 * mu11**2 + (mu20 - mu02) ** 2)
    major = _TWO_SQRT2 * math.sqrt(max(mu20 + mu02 + root, 0.0) / m00)
    minor = _TWO_SQRT2 * math.sqrt(max(mu20 + mu02 - root, 0.0) / m00)
    return float(x), float(y), theta, major, minor


def largest_blob(mask: np.ndarray, *, offset: tuple[int, int] = (0, 0),
                 missing: np.ndarray | None = None
                 ) -> tuple[BlobFeatures, np.ndarray | None]:
    """Features of the blob of ``mask`` with the largest outer contour.

    The blob's pixels are those inside its outer contour that are set in ``mask``; its
    moments are pixel (area) moments, so the centroid is the silhouette's area centroid.

    Parameters
    ----------
    mask : ndarray, (h, w) uint8 (0/1)
    offset : (int, int)
        ``(x, y)`` position of ``mask`` in a larger image: added to the centroid (in
        integers first, so a window gives exactly the full image's centroid).
    missing : ndarray, (h, w) bool, optional
        Pixels without a reading: those enclosed by the blob's outer contour count as part
        of it (a hole of missing depth is not a hole in the mouse).

    Returns
    -------
    (features, window) where ``window`` is the blob's pixels (uint8 0/1) inside its
    bounding box ``features.bbox``, or None when there is no blob of non-zero area.
    """
    ranked = ranked_blobs(mask, offset=offset, missing=missing, count=1)
    return ranked[0] if ranked else (NO_BLOB, None)


def ranked_blobs(mask: np.ndarray, *, offset: tuple[int, int] = (0, 0),
                 missing: np.ndarray | None = None, count: int = 2,
                 min_area: float = 0.0) -> list[tuple[BlobFeatures, np.ndarray]]:
    """The ``count`` blobs of ``mask`` with the largest outer contours, largest first.

    Each as :func:`largest_blob` gives it (the same arguments); blobs after the first
    whose contour's area is below ``min_area`` (px) are left out, as are blobs of zero
    area.
    """
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return []
    areas = [cv2.contourArea(c) for c in contours]
    # largest first; the first of equal maxima first
    order = sorted(range(len(areas)), key=lambda k: (-areas[k], k))[:max(1, int(count))]
    out = []
    for rank, k in enumerate(order):
        if areas[k] <= 0 or (rank and areas[k] < min_area):
            break
        out.append(_blob(mask, contours[k], offset, missing))
    return out


def _blob(mask: np.ndarray, contour: np.ndarray, offset: tuple[int, int],
          missing: np.ndarray | None) -> tuple[BlobFeatures, np.ndarray]:
    """Features and pixels (in its bounding box) of the blob inside ``contour``."""
    bx, by, bw, bh = cv2.boundingRect(contour)
    window = np.zeros((bh, bw), np.uint8)
    cv2.drawContours(window, [contour], -1, 1, thickness=-1, offset=(-bx, -by))
    inside = mask[by:by + bh, bx:bx + bw]
    if missing is not None:
        inside = cv2.bitwise_or(inside, missing[by:by + bh, bx:bx + bw].view(np.uint8))
    cv2.bitwise_and(window, inside, dst=window)
    moments = cv2.moments(window, binaryImage=True)
    x, y, theta, major, minor = moment_features(
        moments, offset=(bx + int(offset[0]), by + int(offset[1])))
    return BlobFeatures(x, y, theta, major, minor, float(moments["m00"]), (bx, by, bw, bh),
                        1), window
