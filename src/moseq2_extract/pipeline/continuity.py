"""Which of two mouse-sized blobs is the mouse: the one that continues its track.

The per-frame kernel takes the largest blob for the mouse and, when a second mouse-sized
blob is in view, measures that one too (``FrameMeasures.alternatives``).  A
:class:`TrackFollower` sees the frames in order, chunk after chunk (so its choice does not
depend on how frames were grouped into blocks), and keeps the candidate closest to the
mouse's own recent track: its last position, and its usual size and height (slow running
means, so an object the track jumps to for a few frames does not become "the mouse").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..extract.chunk import FrameMeasures

#: Frames without a mouse (or with a merged blob) after which the track is forgotten (the
#: largest blob wins).
TRACK_MEMORY = 90
#: Weight of the running means of size and height (per frame).
SLOW = 0.05
#: A candidate must be this much closer to the track (cost units) to replace the largest.
MARGIN = 0.25
#: Chosen blobs whose area is outside these ratios to the track's usual area are not the
#: mouse alone (the mouse touching an object: one merged blob; most of it hidden): the
#: track keeps its last plausible position and size through them.
PLAUSIBLE_AREA = (0.45, 1.8)



@dataclass
class TrackFollower:
    """The mouse's track over the frames seen so far.

    ``x``, ``y``: last position (px, ROI box); ``area`` (px) and ``height`` (mm): slow
    running means; ``gap``: frames since the mouse was last seen alone (a blob of a
    plausible size, :data:`PLAUSIBLE_AREA`).
    """

    x: float = math.nan
    y: float = math.nan
    area: float = math.nan
    height: float = math.nan
    gap: int = TRACK_MEMORY + 1

    def cost(self, x: float, y: float, area: float, height: float) -> float:
        """How far a candidate is from the track: distance in body sizes (sqrt of the
        area), plus the log ratios of its size and height to the track's."""
        scale = math.sqrt(max(self.area, 1.0)) * (1.0 + self.gap / 10.0)
        return (math.hypot(x - self.x, y - self.y) / scale
                + abs(math.log(max(area, 1.0) / max(self.area, 1.0)))
                + abs(math.log(max(height, 1.0) / max(self.height, 1.0))))

    def _see(self, x: float, y: float, area: float, height: float) -> None:
        known = self.gap <= TRACK_MEMORY and math.isfinite(self.area)
        lo, hi = PLAUSIBLE_AREA
        if not math.isfinite(x) or (known and not lo <= area / max(self.area, 1.0) <= hi):
            self.gap += 1
            return
        if self.gap > TRACK_MEMORY or not math.isfinite(self.area):
            self.area, self.height = area, height
        else:
            self.area += SLOW * (area - self.area)
            self.height += SLOW * (height - self.height)
        self.x, self.y, self.gap = x, y, 0

    def __call__(self, m: FrameMeasures) -> FrameMeasures:
        """Follow the track through one chunk's measures, in place: rows whose second
        blob continues the track better than the largest get the second blob's values.

        Returns
        -------
        FrameMeasures
            ``m`` itself, its ``alternatives`` emptied.
        """
        for i in range(len(m)):
            other = m.alternatives.get(i)
            if other is not None and self.gap <= TRACK_MEMORY:
                mine = self.cost(m.x[i], m.y[i], m.area[i], m.height[i])
                theirs = self.cost(other.x[0], other.y[0], other.area[0], other.height[0])
                if theirs + MARGIN < mine:
                    _take(m, i, other)
            self._see(float(m.x[i]), float(m.y[i]), float(m.area[i]), float(m.height[i]))
        m.alternatives = {}
        return m


def _take(m: FrameMeasures, i: int, other: FrameMeasures) -> None:
    """Row ``i`` of ``m`` becomes ``other``'s only row."""
    for name in FrameMeasures.row_fields():
        mine, theirs = getattr(m, name), getattr(other, name)
        if mine is not None and theirs is not None:
            mine[i] = theirs[0]
