"""Which blob of a frame is the mouse, and its silhouette.

:func:`find_mouse` applies, in order, what this project knows of the things that are not the
mouse: an intruder's blobs are dropped (:mod:`.intrusion`), pixels without depth enclosed by
the blob count as the mouse (:mod:`.dropouts`), an EM tracker's likelihood restricts the
pixels (:mod:`.em`), and thin structures are cut off the chosen blob (:mod:`.thin`).  The
per-frame :class:`~.quality.Quality` flags say which of these acted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from .features import NO_BLOB, BlobFeatures, largest_blob, ranked_blobs
from .intrusion import drop_touching
from .quality import MISSING_FRACTION, Quality
from .thin import remove_thin

#: Smallest blob (as a fraction of the crop's area) taken for the mouse while an intruder
#: is in view: what is left of a mouse under a hand is not the mouse.
INTRUSION_MIN_AREA = 0.04
#: Smallest second blob (as a fraction of the crop's area, ~ a quarter of a mouse) kept as
#: the alternative to the largest one.
ALTERNATIVE_MIN_AREA = 0.04


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
    alternative : Mouse or None
        The frame's second largest blob, when asked for and mouse-sized.
    """

    blob: BlobFeatures
    mask: np.ndarray
    cable_root: tuple[float, float] | None = None
    alternative: Mouse | None = None


def find_mouse(window: np.ndarray, *, min_height: float, crop_size: int,
               origin: tuple[int, int] = (0, 0), missing: np.ndarray | None = None,
               zone: np.ndarray | None = None, likely: np.ndarray | None = None,
               thin: bool = True, alternative: bool = False
               ) -> tuple[Mouse | None, int]:
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
    alternative : bool
        Also give the second largest blob, when it is mouse-sized (at least
        :data:`ALTERNATIVE_MIN_AREA` of the crop): the mouse may be the smaller one (an
        object larger than the mouse in the arena); the choice between the two is made
        along the track (:class:`~moseq2_extract.pipeline.sequence.SequenceAssembler`).

    Returns
    -------
    (mouse or None, quality flags): the largest blob, with the second in
    ``mouse.alternative`` when asked and present.
    """
    if window.dtype == np.uint8:  # 0/1 straight from OpenCV, a third of numpy's time
        mask = cv2.threshold(window, float(min_height), 1, cv2.THRESH_BINARY)[1]
    else:
        mask = (window > min_height).view(np.uint8)
    if likely is not None:
        mask = mask & likely.view(np.uint8)
    quality = 0
    if zone is not None:
        quality |= Quality.INTRUSION
        if drop_touching(mask, zone):
            quality |= Quality.NOT_LARGEST
    ranked = ranked_blobs(mask, offset=origin, missing=missing, count=2 if alternative else 1,
                          min_area=ALTERNATIVE_MIN_AREA * crop_size ** 2)
    blob, blob_mask = ranked[0] if ranked else (NO_BLOB, None)
    small = (zone is not None and blob_mask is not None
             and blob.area < INTRUSION_MIN_AREA * crop_size ** 2)
    if blob_mask is None or not np.isfinite(blob.x) or small:
        return None, quality | Quality.NOT_FOUND
    mouse, flags = _silhouette(blob, blob_mask, window, origin, missing, thin)
    if len(ranked) > 1 and np.isfinite(ranked[1][0].x):
        other, _ = _silhouette(*ranked[1], window, origin, missing, thin)
        mouse = replace(mouse, alternative=other)
    return mouse, quality | flags


def _silhouette(blob: BlobFeatures, blob_mask: np.ndarray, window: np.ndarray,
                origin: tuple[int, int], missing: np.ndarray | None, thin: bool
                ) -> tuple[Mouse, int]:
    """One blob as a :class:`Mouse`: thin structures cut off, missing pixels counted;
    with its quality flags."""
    quality = 0
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
        lost = cv2.countNonZero(cv2.bitwise_and(
            blob_mask, missing[by:by + bh, bx:bx + bw].view(np.uint8)))
        if lost >= MISSING_FRACTION * blob.area:
            quality |= Quality.PART_MISSING
    return Mouse(blob, blob_mask, cable_root), quality
