"""Per-frame quality flags: what the extraction had to work around in each frame.

Written to ``metadata/extraction/quality`` (uint8, one value per extracted frame) as the
bitwise OR of the :class:`Quality` flags below; 0 means nothing unusual was seen.  The
heading model does not decide a flip on a frame flagged :data:`UNRELIABLE`, and the QC
report shades the flagged stretches.
"""

from __future__ import annotations

import enum

import numpy as np

#: h5 path of the per-frame flags.
QUALITY_DATASET = "metadata/extraction/quality"


class Quality(enum.IntFlag):
    """Bit flags of one frame (values are stable: they are stored in results files)."""

    #: A thin structure attached to the mouse (tether, patch cord) was cut off before
    #: the moments.
    THIN_REMOVED = 1
    #: A notable part of the mouse's silhouette (see ``MISSING_FRACTION``) read no depth
    #: and was filled in as missing data.
    PART_MISSING = 2
    #: Something entering from the arena edge, far taller than a mouse (an arm, a hand at
    #: its tip), was in view and ignored.
    INTRUSION = 4
    #: No mouse was found: NaN scalars and an all-zero crop.
    NOT_FOUND = 8
    #: The EM tracker lost its model on this frame and was re-initialised.
    TRACKER_FALLBACK = 16
    #: The blob chosen as the mouse was not the largest one (continuity with the track
    #: picked another).
    NOT_LARGEST = 32


#: Fraction of the silhouette without depth above which a frame is flagged PART_MISSING.
MISSING_FRACTION = 0.1

#: Frames carrying any of these flags do not take part in heading decisions.
UNRELIABLE = Quality.INTRUSION | Quality.NOT_FOUND | Quality.TRACKER_FALLBACK


def describe(value: int) -> list[str]:
    """Names of the flags set in ``value`` (lower case), e.g. ``['part_missing']``."""
    return [f.name.lower() for f in Quality if f.name and value & f.value]


def flagged_fraction(quality: np.ndarray, flags: int = 0xFF) -> float:
    """Fraction of frames with any of ``flags`` set (0.0 for no frames)."""
    q = np.asarray(quality, np.int64)
    return float(np.mean((q & int(flags)) != 0)) if q.size else 0.0
