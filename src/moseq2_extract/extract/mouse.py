"""Which blob of a frame is the mouse, and its silhouette.

:func:`find_mouse` applies, in order, what this project knows of the things that are not the
mouse: an intruder's blobs are dropped (:mod:`.intrusion`), pixels without depth enclosed by
the blob count as the mouse (:mod:`.dropouts`), an EM tracker's likelihood restricts the
pixels (:mod:`.em`), and thin structures are cut off the chosen blob (:mod:`.thin`).  The
per-frame :class:`~.quality.Quality` flags say which of these acted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .features import BlobFeatures, largest_blob
from .intrusion import drop_touching
from .quality import MISSING_FRACTION, Quality
from .thin import remove_thin

#: Smallest blob (as a fraction of the crop's area) taken for the mouse while an intruder
#: is in view: what is left of a mouse under a hand is not the mouse.
INTRUSION_MIN_AREA = 0.04


@dataclass(frozen=True)
class Mouse:
    """The mouse of one frame.

    Attributes
    ----------
    blob : BlobFeatures
        Moment features (``bbox`` relative to the window searched).
    mask : ndarray, (bh, bw) uint8 (0/1)
        Its pixels inside ``blob.bbox``.
    cable_root : (float, float) or None
        Where a thin structure cut off it was attached (px, the coordinates of
        ``blob.x, blob.y``): the head's end of a tethered mouse.
    """

    blob: BlobFeatures
    mask: np.ndarray
    cable_root: tuple[float, float] | None = None


def find_mouse(window: np.ndarray, *, min_height: float, crop_size: int,
               origin: tuple[int, int] = (0, 0), missing: np.ndarray | None = None,
               zone: np.ndarray | None = None, likely: np.ndarray | None = None,
               thin: bool = True) -> tuple[Mouse | None, int]:
    """Find the mouse among the blobs of one frame's filtered heights.

    Parameters
    ----------
    window : ndarray, (h, w) uint8 or uint16
        Filtered heights (mm) of the part of the ROI box at ``origin`` = ``(x, y)``.
    min_height : float
        Pixels above it (mm) are candidates.
    crop_size : int
        Egocentric crop size (px), the scale of a mouse (see :data:`INTRUSION_MIN_AREA`).
    missing : ndarray, (h, w) bool, optional
        Pixels without a reading (part of the mouse where its outline encloses them).
    zone : ndarray, (h, w) uint8, optional
        An intruder's pixels: blobs touching them are not the mouse.
    likely : ndarray, (h, w) bool, optional
        Pixels an EM tracker finds likely; the others are not the mouse.
    thin : bool
        Cut thin structures off the chosen blob (:func:`~.thin.remove_thin`).

    Returns
    -------
    (mouse or None, quality flags)
    """
    mask = (window > min_height).view(np.uint8)
    if likely is not None:
        mask = mask & likely.view(np.uint8)
    quality = 0
    if zone is not None:
        quality |= Quality.INTRUSION
        if drop_touching(mask, zone):
            quality |= Quality.NOT_LARGEST
    blob, blob_mask = largest_blob(mask, offset=origin, missing=missing)
    small = (zone is not None and blob_mask is not None
             and blob.area < INTRUSION_MIN_AREA * crop_size ** 2)
    if blob_mask is None or not np.isfinite(blob.x) or small:
        return None, quality | Quality.NOT_FOUND
    bx, by, bw, bh = blob.bbox
    cable_root = None
    if thin:
        cut = remove_thin(blob_mask, area=blob.area, heights=window[by:by + bh, bx:bx + bw])
        if cut is not None:
            inner, kept_mask = largest_blob(cut.mask, offset=(origin[0] + bx, origin[1] + by))
            if kept_mask is not None:
                if cut.root is not None:
                    cable_root = (origin[0] + bx + cut.root[0], origin[1] + by + cut.root[1])
                ix, iy, iw, ih = inner.bbox
                blob = replace(inner, bbox=(bx + ix, by + iy, iw, ih))
                blob_mask = kept_mask
                quality |= Quality.THIN_REMOVED
                bx, by, bw, bh = blob.bbox
    if missing is not None:
        lost = np.count_nonzero(blob_mask.view(bool) & missing[by:by + bh, bx:bx + bw])
        if lost >= MISSING_FRACTION * blob.area:
            quality |= Quality.PART_MISSING
    return Mouse(blob, blob_mask, cable_root), quality
