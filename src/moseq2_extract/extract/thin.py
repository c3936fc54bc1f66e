"""Thin structures attached to the mouse: a tether or patch cord is not part of the body.

A cable plugged into a head connector rises from the head towards the camera; where it is
below ``max_height`` it is part of the thresholded blob, and where it is wider than the tail
filter (a sheathed tether is often 8-12 px near the head) it survives that filter and pulls
the centroid and the axis towards itself.  :func:`remove_thin` opens the mouse's silhouette
with a disk a fraction of the body's own width (the widest part of the blob), computed from
distance maps: the body survives it, a cable does not.
Only what the opening removes *in one large piece*, reaching away from the body and higher
than its top, is cut off (a cable); the small slivers
it also takes from the outline (the nose, the ears, the base of the tail) are kept, so a
mouse without a cable keeps its silhouette exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..stats import percentile

#: Diameter of the opening as a fraction of the body's width (twice the radius of the
#: largest disk inside the blob), and its bounds (px).
WIDTH_FRACTION = 0.65
MIN_SIZE, MAX_SIZE = 11, 31
#: Smallest piece (fraction of the blob's area) cut off as a thin structure.
MIN_PIECE = 0.03
#: A cut piece must reach at least this many opening diameters away from the body (a
#: cable runs away from the mouse; the slivers of a narrow head or nose stay close).
MIN_REACH = 0.25
#: Pixels of a removed piece within this distance (px) of the rest stay (its root).
ROOT = 1
#: A cut cable counts as plugged in where it leaves the body when its root is at most this
#: much (mm) above the body's top: a connector sits a few mm above the head, a cable that
#: runs back over the body leaves its outline already high.
PLUG_MM = 15.0
#: The body's top: this percentile of its heights (mm).  A cut piece must be higher on
#: average (a cable rises to the camera; a tail, or the head of a rearing mouse, is not
#: above the back's top).
TOP_PERCENTILE = 75


@dataclass(frozen=True)
class ThinCut:
    """A blob with its thin structures cut off.

    Attributes
    ----------
    mask : ndarray, (h, w) uint8 (0/1)
        The blob without them.
    root : (float, float) or None
        ``(x, y)`` (px, the blob's box) of where the cable is plugged into the body:
        where it leaves the outline when it is low there (at most :data:`PLUG_MM` above
        the body's top), else beyond the far end of the ridge it makes running back over
        the body (None: no ridge, or no heights given).  A cable is plugged into the head,
        so this is the head's end.
    """

    mask: np.ndarray
    root: tuple[float, float] | None


def remove_thin(blob: np.ndarray, *, area: float, heights: np.ndarray | None = None
                ) -> ThinCut | None:
    """The blob without the thin structures attached to it, or None when it has none.

    Parameters
    ----------
    blob : ndarray, (h, w) uint8 (0/1)
        One blob's pixels (its bounding box, as :func:`~.features.largest_blob` gives).
    area : float
        The blob's area (px).
    heights : ndarray, (h, w), optional
        Heights (mm) over the same box: a piece is cut only if it is on average higher
        than the body's top (:data:`TOP_PERCENTILE`; a cable rises towards the camera, a
        tail lies low).

    Returns
    -------
    ThinCut or None
        The blob minus every piece the opening removes that is at least
        :data:`MIN_PIECE` of its area and reaches :data:`MIN_REACH` opening diameters
        away from the rest, and where those pieces were rooted (None: no such piece, the
        blob is unchanged).
    """
    if area <= 0:
        return None
    # the opening by a disk of radius r, from distance maps (a 5 x 5 mask, within 2 %
    # of Euclidean): the erosion keeps the pixels farther than r from the background, the
    # dilation adds those within r of what was kept; far cheaper than a morphological
    # opening with an elliptical element; a zero ring makes the box's edge background
    ring = cv2.copyMakeBorder(blob, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    inside = cv2.distanceTransform(ring, cv2.DIST_L2, cv2.DIST_MASK_5)
    width = 2.0 * cv2.minMaxLoc(inside)[1]
    size = min(max(round(WIDTH_FRACTION * width), MIN_SIZE), MAX_SIZE) | 1
    radius = size // 2
    # 255 off the eroded blob, 0 on it
    kept = cv2.compare(inside, radius, cv2.CMP_LE)  # type: ignore[call-overload]
    if cv2.countNonZero(kept) == kept.size:
        return None
    # distance to the eroded blob: the opened blob is within r of it
    reach = cv2.distanceTransform(kept, cv2.DIST_L2, cv2.DIST_MASK_5)[1:-1, 1:-1]
    core = cv2.bitwise_and(blob, cv2.compare(reach, radius, cv2.CMP_LE))  # type: ignore[call-overload]
    removed = cv2.subtract(blob, core)
    if cv2.countNonZero(removed) < MIN_PIECE * area:  # no piece can be large enough
        return None
    top = 0.0
    if heights is not None:
        top = _masked_percentile(heights, core, TOP_PERCENTILE)
        if cv2.minMaxLoc(heights, mask=removed)[1] <= top:  # no piece can be high enough
            return None
    # distance beyond the opened blob (0 on it)
    away = np.maximum(reach - radius, 0)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(removed, connectivity=8)
    big = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] >= MIN_PIECE * area) + 1
    if len(big) == 0:
        return None
    big = np.array([k for k in big.tolist() if _reach(away, labels, stats[k], k)
                    >= MIN_REACH * size], dtype=np.int64)
    if heights is not None and len(big):
        big = np.array([k for k in big.tolist()
                        if cv2.mean(heights, mask=(labels == k).view(np.uint8))[0] > top],
                       dtype=np.int64)
    if len(big) == 0:
        return None
    keep = blob.copy()
    root = cv2.dilate(core, np.ones((2 * ROOT + 1, 2 * ROOT + 1), np.uint8))
    pieces = np.isin(labels, big)
    cut = pieces & (root == 0)
    keep[cut] = 0
    if heights is None:
        return ThinCut(keep, None)
    base = pieces & (root != 0)
    if not base.any():  # rooted further than the ring reaches: its nearest pixels instead
        base = pieces & (away <= away[pieces].min())
    ry, rx = np.nonzero(base)
    plug: tuple[float, float] | None = (float(rx.mean()), float(ry.mean()))
    if float(heights[base].mean()) > top + PLUG_MM:
        plug = _plug_over_body(core, heights, base, (float(rx.mean()), float(ry.mean())),
                               top + PLUG_MM)
    return ThinCut(keep, plug)


def _masked_percentile(image: np.ndarray, mask: np.ndarray, q: float) -> float:
    """:func:`_percentile` of ``image``'s pixels where ``mask`` (uint8) is set; for uint8
    images from a histogram (half the time of gathering and partitioning them)."""
    if image.dtype != np.uint8:
        return _percentile(image[mask.view(bool)], q)
    cum = np.cumsum(cv2.calcHist([image], [0], mask, [256], [0, 256]).ravel())
    n = int(cum[-1])
    pos = (n - 1) * q / 100.0
    lo = int(pos)
    # the k-th smallest value (from 0) is the first whose cumulative count exceeds k
    a, b = np.searchsorted(cum, (lo, min(lo + 1, n - 1)), side="right").tolist()
    return a + (b - a) * (pos - lo)


def _percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` of a 1-D array (:func:`~moseq2_extract.stats.percentile`)."""
    return percentile(values, q)


def _reach(away: np.ndarray, labels: np.ndarray, stat: np.ndarray, k: int) -> float:
    """How far (px) piece ``k`` of ``labels`` (its ``stat`` row of
    ``connectedComponentsWithStats``) reaches from the body (``away``: distance map)."""
    x, y, w, h = (int(v) for v in stat[:4])
    piece = labels[y:y + h, x:x + w] == k
    return float(away[y:y + h, x:x + w][piece].max())


def _plug_over_body(core: np.ndarray, heights: np.ndarray, base: np.ndarray,
                    exit_point: tuple[float, float], high: float
                    ) -> tuple[float, float] | None:
    """Where a cable that leaves the body's outline high (at ``exit_point``, ``base``'s
    pixels) is plugged in: it runs back over the body as a ridge above ``high`` mm from
    the exit towards the connector, which lies beyond the ridge's far end.  None without
    such a ridge."""
    high_body = ((heights > high) & (core > 0)).view(np.uint8)
    ridge = cv2.bitwise_or(high_body, base.view(np.uint8))
    _, labels = cv2.connectedComponents(ridge, connectivity=8)
    mine = np.unique(labels[base])
    ys, xs = np.nonzero(np.isin(labels, mine[mine > 0]) & ~base)
    if len(xs) == 0:
        return None
    far = int(np.argmax(np.hypot(xs - exit_point[0], ys - exit_point[1])))
    # the ridge fades below ``high`` as the cable comes down to its plug: the plug lies
    # beyond the ridge's end, on the line from the exit (taken as far again)
    ex, ey = exit_point
    return 2.0 * float(xs[far]) - ex, 2.0 * float(ys[far]) - ey
