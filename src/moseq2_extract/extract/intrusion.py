"""Intrusions: an arm reaching into the arena, far taller than any mouse, a hand at its tip.

The experimenter's arm reads hundreds of mm above the floor, beyond ``max_height``, so the
height thresholds drop it, but the hand at its tip comes down near the floor and is a blob
as large as the mouse or larger.  :class:`IntrusionDetector` finds the arm in each frame
(a wide region above ``max_height``) and returns the zone around it; blobs that touch that
zone are the intruder, not the mouse.

The test runs on a grid of every :data:`STRIDE`-th pixel (a few microseconds a frame); a
frame whose grid holds no wide tall region costs nothing more.  Thin tall structures (a
tether, a patch cord) are opened away on the grid (a region must hold a disk of
:data:`WIDE_CELLS` grid cells), so they are not intrusions.  The zone
is as coarse as the grid: a mouse within a few pixels of the hand is dropped with it (the
frame is then flagged, without a mouse).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Grid step (px) of the test for tall regions.
STRIDE = 4
#: Grid cells of tall region (after an opening) that make an arm (~ 250 px).
MIN_CELLS = 16
#: Grid cells (after the opening: one 3 x 3 square, ~ 140 px) of foreground outside the
#: arena that make an arm when they reach the edge of the surround (a mouse never does).
EDGE_CELLS = 9
#: Diameter (grid cells) of the disk a tall region must hold to count as wide: 5 cells =
#: 20 px, wider than any cable (a sheathed tether is ~ 8-12 px where it rises) and
#: narrower than a forearm (45-60 mm: ~ 30 px and more at arm height).  Outside the arena a
#: 3-cell square is enough (a cable there is far from the mouse and thin), and the arm may
#: show only a few cells deep there (the frame's edge, a narrow margin).
WIDE_CELLS = 5
#: Height (mm) above ``max_height`` from which a pixel counts as tall.
MARGIN_MM = 0.0
#: Height (mm) above the background from which a pixel belongs to a foreground object.
FOREGROUND_MM = 30.0
#: The same outside the arena, where an arm crosses the wall close to its rim (the wall
#: is the background there, and no mouse stands on it).
FOREGROUND_OUTSIDE_MM = 15.0
#: Frame (px) around the ROI box the detector also looks at: an arm leaves the arena where
#: the arena touches the box's edge, and there only this margin shows it outside the arena.
SURROUND_PX = 24


@dataclass(frozen=True)
class Surround:
    """The ROI box and the frame around it (:data:`SURROUND_PX`, clipped to the image).

    Frames handed to a kernel with a surround cover the outer box; everything but the
    intrusion test works on their view of the ROI box (:meth:`inner`).

    Attributes
    ----------
    background : ndarray, (H, W) float32
        Background depth (mm) over the outer box.
    roi : ndarray, (H, W) bool
        Arena mask over the outer box.
    top, left : int
        Offset (px) of the ROI box in the outer box.
    height, width : int
        The ROI box's size (px).
    """

    background: np.ndarray
    roi: np.ndarray
    top: int
    left: int
    height: int
    width: int

    @classmethod
    def around(cls, bbox: tuple[int, int, int, int], background: np.ndarray,
               roi: np.ndarray, *, margin: int = SURROUND_PX) -> Surround:
        """The surround of ``bbox`` = ``(y0, y1, x0, x1)`` in full-frame ``background``
        and ``roi`` (``(H, W)``); :attr:`outer_bbox` gives the region to read."""
        y0, y1, x0, x1 = (int(v) for v in bbox)
        h_img, w_img = np.shape(roi)
        oy0, ox0 = max(0, y0 - margin), max(0, x0 - margin)
        oy1, ox1 = min(h_img, y1 + margin), min(w_img, x1 + margin)
        return cls(np.ascontiguousarray(background[oy0:oy1, ox0:ox1], dtype=np.float32),
                   np.ascontiguousarray(roi[oy0:oy1, ox0:ox1]).astype(bool),
                   y0 - oy0, x0 - ox0, y1 - y0, x1 - x0)

    def outer_bbox(self, bbox: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """Full-frame ``(y0, y1, x0, x1)`` of the outer box of ``bbox``."""
        y0, _, x0, _ = (int(v) for v in bbox)
        h, w = np.shape(self.roi)
        return y0 - self.top, y0 - self.top + h, x0 - self.left, x0 - self.left + w

    def inner(self, frames: np.ndarray) -> np.ndarray:
        """The view of ``frames`` (``(..., H, W)`` over the outer box) on the ROI box."""
        return frames[..., self.top:self.top + self.height, self.left:self.left + self.width]


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
    surround : Surround, optional
        With it, the frames given are over its outer box (``background`` and ``roi`` are
        then unused) and the zone returned is over the ROI box.
    """

    def __init__(self, background: np.ndarray, roi: np.ndarray, *, max_height: float,
                 surround: Surround | None = None):
        self.surround = surround
        if surround is not None:
            background, roi = surround.background, surround.roi
        self._tall_m1 = _limits_m1(background, float(max_height) + MARGIN_MM)
        # the box around the arena (where a mouse never is, but an arm passes)
        self._outside = (~np.asarray(roi, bool)[::STRIDE, ::STRIDE]).view(np.uint8)
        self._fg_m1 = np.where(self._outside.view(bool),
                               _limits_m1(background, FOREGROUND_OUTSIDE_MM),
                               _limits_m1(background, FOREGROUND_MM))
        self._open_tall = cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                    (WIDE_CELLS, WIDE_CELLS))
        self._open_outside = np.ones((3, 3), np.uint8)
        self._zone = cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                               (2 * STRIDE + 1, 2 * STRIDE + 1))
        # the outer box's sides with a surround (>= 3 cells) beyond the ROI box: an object
        # outside the arena that reaches one comes from beyond the box, like an arm
        self._edges = np.zeros(self._outside.shape, np.uint8)
        if surround is not None:
            h, w = np.shape(surround.roi)
            t, left = surround.top, surround.left
            b, r = h - t - surround.height, w - left - surround.width
            for side, (margin, index) in enumerate(((t, 0), (b, -1), (left, 0), (r, -1))):
                if margin >= 3 * STRIDE:
                    if side < 2:
                        self._edges[index, :] = 1
                    else:
                        self._edges[:, index] = 1

    def _seeds(self, g1: np.ndarray, foreground: np.ndarray) -> np.ndarray | None:
        """Grid cells that belong to an arm for sure: a wide tall region, or a wide
        foreground region outside the arena that is large or comes from the outer box's
        edge; None when there are none."""
        seeds: np.ndarray | None = None
        tall = (g1 < self._tall_m1).view(np.uint8)
        if cv2.countNonZero(tall) >= MIN_CELLS:
            wide = cv2.morphologyEx(tall, cv2.MORPH_OPEN, self._open_tall)
            if cv2.countNonZero(wide) >= MIN_CELLS:
                seeds = wide
        outside = cv2.bitwise_and(foreground, self._outside)
        if cv2.countNonZero(outside) >= EDGE_CELLS:
            wide = cv2.morphologyEx(outside, cv2.MORPH_OPEN, self._open_outside)
            n = cv2.countNonZero(wide)
            if n >= MIN_CELLS or (n >= EDGE_CELLS
                                  and cv2.countNonZero(cv2.bitwise_and(wide, self._edges))):
                seeds = wide if seeds is None else cv2.bitwise_or(seeds, wide)
        return seeds

    def __call__(self, raw: np.ndarray) -> np.ndarray | None:
        """The intruder's zone in one frame, or None when nothing intrudes.

        Parameters
        ----------
        raw : ndarray, (h, w) uint16
            Depth (mm) over the ROI box, or over the surround's outer box when the
            detector has one (row-strided views are fine).

        Returns
        -------
        ndarray, (h, w) uint8 (0/1) over the ROI box, or None
            The intruding objects, widened by the grid step.
        """
        g1 = raw[::STRIDE, ::STRIDE] - np.uint16(1)  # 0 (no reading) wraps to 65535
        foreground = (g1 < self._fg_m1).view(np.uint8)
        seeds = self._seeds(g1, foreground)
        if seeds is None:
            return None
        # the seeds grown by a cell: an arm resting on the wall's rim may read a few mm
        # too low on a grid row or two between the seed and the hand
        joined = cv2.bitwise_or(foreground, cv2.dilate(seeds, self._open_outside))
        n, labels = cv2.connectedComponents(joined, connectivity=8)
        counts = np.bincount(labels[seeds.view(bool)], minlength=n)
        arms = np.flatnonzero(counts >= EDGE_CELLS)  # an opened piece holds >= 3 x 3
        arms = arms[arms > 0]
        if len(arms) == 0:
            return None
        arm = np.isin(labels, arms).astype(np.uint8)
        h, w = np.shape(raw)
        full = cv2.resize(arm, (arm.shape[1] * STRIDE, arm.shape[0] * STRIDE),
                          interpolation=cv2.INTER_NEAREST)[:h, :w]
        zone = cv2.dilate(full, self._zone)
        if self.surround is not None:
            zone = self.surround.inner(zone)
            if not zone.any():
                return None
        return np.ascontiguousarray(zone)


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
