"""Mouse features from image moments of the largest blob above the floor."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class BlobFeatures:
    """Moment features of one frame's mouse blob (NaN fields when no blob).

    Coordinates are pixels relative to the image the blob was found in; ``orientation``
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


NO_BLOB = BlobFeatures(np.nan, np.nan, np.nan, np.nan, np.nan, 0.0, (0, 0, 0, 0), 0)


def moment_features(moments: dict, *, offset: tuple[float, float] = (0.0, 0.0)
                    ) -> tuple[float, float, float, float, float]:
    """Centroid, orientation and full axis lengths from ``cv2.moments`` output.

    Returns
    -------
    (x, y, orientation, major, minor); NaNs when the zeroth moment is 0.
    """
    m00 = moments["m00"]
    if m00 <= 0:
        return (np.nan,) * 5
    x = moments["m10"] / m00 + offset[0]
    y = moments["m01"] / m00 + offset[1]
    mu20, mu02, mu11 = moments["mu20"], moments["mu02"], moments["mu11"]
    theta = -0.5 * np.arctan2(2 * mu11, mu20 - mu02)
    root = np.sqrt(4 * mu11**2 + (mu20 - mu02) ** 2)
    major = 2 * np.sqrt(2) * np.sqrt(max(mu20 + mu02 + root, 0.0) / m00)
    minor = 2 * np.sqrt(2) * np.sqrt(max(mu20 + mu02 - root, 0.0) / m00)
    return float(x), float(y), float(theta), float(major), float(minor)


def largest_blob(mask: np.ndarray) -> tuple[BlobFeatures, np.ndarray | None]:
    """Features of the largest 8-connected blob of ``mask``.

    Parameters
    ----------
    mask : ndarray, (h, w) uint8 (0/1)

    Returns
    -------
    (features, labels) where ``labels`` is the (h, w) int32 label image (None if empty).
    """
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if n <= 1:
        return NO_BLOB, None
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    bx, by, bw, bh, area = (int(v) for v in stats[k])
    sub = (labels[by:by + bh, bx:bx + bw] == k).astype(np.uint8)
    x, y, theta, major, minor = moment_features(cv2.moments(sub, binaryImage=True),
                                                offset=(bx, by))
    return BlobFeatures(x, y, theta, major, minor, float(area), (bx, by, bw, bh), k), labels
