"""Intrusions: an arm reaching into the arena, far taller than any mouse, a hand at its tip.

The experimenter's arm reads hundreds of mm above the floor, beyond ``max_height``, so the
height thresholds drop it, but the hand at its tip comes down near the floor and is a blob
as large as the mouse or larger.  :class:`IntrusionDetector` finds the arm in each frame
(a wide region above ``max_height``) and returns the zone around it; blobs that touch that
zone are the intruder, not the mouse.

The test runs on a grid of every :data:`STRIDE`-th pixel (a few microseconds a frame); a
frame whose grid holds no wide tall region costs nothing more.  Thin tall structures (a
tether, a patch cord) are opened away on the grid, so they are not intrusions.  The zone
is as coarse as the grid: a mouse within a few pixels of the hand is dropped with it (the
frame is then flagged, without a mouse).
"""

from __future__ import annotations

import cv2
import numpy as np

#: Grid step (px) of the test for tall regions.
STRIDE = 4
#: Grid cells of tall region (after an opening) that make an arm (~ 250 px).
MIN_CELLS = 16
#: Height (mm) above ``max_height`` from which a pixel counts as tall.
MARGIN_MM = 0.0
#: Height (mm) above the background from which a pixel belongs to a foreground object.
FOREGROUND_MM = 30.0


def _limits_m1(background: np.ndarray, above: float) -> np.ndarray:
    """``limit - 1`` (uint16) on the grid, where ``0 < raw < limit`` means more than
    ``above`` mm above the background; nothing qualifies where the background is unknown."""
    bg = np.rint(np.asarray(background, np.float64))[::STRIDE, ::STRIDE]
    limit = np.where(bg > 0, bg - float(above), 1.0)
    return (np.clip(limit, 1, 65535) - 1).astype(np.uint16)


class IntrusionDetector:
    """Find an arm (a wide region far above the floor) in frames of one session's ROI box.

    The whole box counts, inside the arena and around it (an arm crosses the arena's edge
    on its way in, where the floor is not), and the intruder is every foreground object
    (:data:`FOREGROUND_MM` above the background) connected to a wide region that is either
    tall or outside the arena (a mouse is neither): the arm, its lower part near the wrist
    and the hand.

    Parameters
    ----------
    background : ndarray, (h, w) float
        Background depth (mm) over the ROI box (0 = unknown).
    roi : ndarray, (h, w) bool
        Arena mask over the box (sets the box's shape).
    max_height : float
        The session's ``max_height`` (mm); a pixel is tall above ``max_height +``
        :data:`MARGIN_MM`.
    """

    def __init__(self, background: np.ndarray, roi: np.ndarray, *, max_height: float):
        self.shape = np.shape(roi)
        self._tall_m1 = _limits_m1(background, float(max_height) + MARGIN_MM)
        self._fg_m1 = _limits_m1(background, FOREGROUND_MM)
        # the box around the arena (where a mouse never is, but an arm passes)
        self._outside = (~np.asarray(roi, bool)[::STRIDE, ::STRIDE]).view(np.uint8)
        self._open = np.ones((3, 3), np.uint8)
        self._zone = cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                               (2 * STRIDE + 1, 2 * STRIDE + 1))

    def __call__(self, raw: np.ndarray) -> np.ndarray | None:
        """The intruder's zone in one frame, or None when nothing intrudes.

        Parameters
        ----------
        raw : ndarray, (h, w) uint16
            Depth (mm) over the ROI box (row-strided views are fine).

        Returns
        -------
        ndarray, (h, w) uint8 (0/1), or None
            The intruding objects, widened by the grid step.
        """
        g1 = raw[::STRIDE, ::STRIDE] - np.uint16(1)  # 0 (no reading) wraps to 65535
        foreground = (g1 < self._fg_m1).view(np.uint8)
        seeds: np.ndarray | None = None
        for part in ((g1 < self._tall_m1).view(np.uint8),  # far above the floor
                     cv2.bitwise_and(foreground, self._outside)):  # outside the arena
            if cv2.countNonZero(part) < MIN_CELLS:
                continue
            wide = cv2.morphologyEx(part, cv2.MORPH_OPEN, self._open)
            if cv2.countNonZero(wide) >= MIN_CELLS:
                seeds = wide if seeds is None else cv2.bitwise_or(seeds, wide)
        if seeds is None:
            return None
        joined = cv2.bitwise_or(foreground, seeds)
        n, labels = cv2.connectedComponents(joined, connectivity=8)
        counts = np.bincount(labels[seeds.view(bool)], minlength=n)
        arms = np.flatnonzero(counts >= MIN_CELLS)
        arms = arms[arms > 0]
        if len(arms) == 0:
            return None
        arm = np.isin(labels, arms).astype(np.uint8)
        h, w = self.shape
        full = cv2.resize(arm, (arm.shape[1] * STRIDE, arm.shape[0] * STRIDE),
                          interpolation=cv2.INTER_NEAREST)[:h, :w]
        return np.ascontiguousarray(cv2.dilate(full, self._zone))


def drop_touching(mask: np.ndarray, zone: np.ndarray) -> bool:
    """Zero, in place, the connected blobs of ``mask`` that touch ``zone``.

    Parameters
    ----------
    mask : ndarray, (h, w) uint8 (0/1)
    zone : ndarray, (h, w) uint8 (0/1), same shape

    Returns
    -------
    bool
        Whether any blob was dropped.
    """
    touching = cv2.bitwise_and(mask, zone)
    if not cv2.countNonZero(touching):
        return False
    _, labels = cv2.connectedComponents(mask, connectivity=8)
    bad = np.unique(labels[touching.view(bool)])
    mask[np.isin(labels, bad[bad > 0])] = 0
    return True
