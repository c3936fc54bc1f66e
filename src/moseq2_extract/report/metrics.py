"""Numbers of the QC report: dropped frames, speed, quality stretches, the per-session
summary row and the batch's outlier rules.

Outlier rules (the index page marks a session when any holds):

* ``dropped frames``: at least :data:`DROPPED_LIMIT` (5 %) of the frames are missing from
  the timestamps (moseq2-app's rule);
* ``area`` / ``speed``: the session's median mouse area or mean speed is far from the
  batch's median -- more than :data:`ROBUST_Z` robust standard deviations (1.4826 x the
  median absolute deviation over sessions, at least :data:`MIN_SPREAD` of the median, so
  that near-identical sessions do not flag each other); moseq2-app flags sessions whose
  scalar distributions stand apart from the others in the same spirit;
* ``mouse missing``: the mouse was not found in at least :data:`MISSING_LIMIT` of the
  frames;
* ``flagged frames``: at least :data:`FLAGGED_LIMIT` of the frames carry a quality flag.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..extract.quality import Quality
from ..stats import median
from .data import SessionData

#: Dropped-frame share (percent) from which a session is an outlier (moseq2-app: 5 %).
DROPPED_LIMIT = 5.0
#: Robust z-score beyond which area or speed is far from the batch's median.
ROBUST_Z = 3.0
#: Smallest spread used for the robust z-score, as a fraction of the median.
MIN_SPREAD = 0.1
#: Percent of frames without a mouse from which a session is an outlier.
MISSING_LIMIT = 5.0
#: Percent of flagged frames from which a session is an outlier.
FLAGGED_LIMIT = 10.0
#: A timestamp step longer than this many frame periods means frames were dropped.
GAP_FACTOR = 1.5


@dataclass(frozen=True)
class DroppedFrames:
    """Frames missing from a recording, seen as gaps between timestamps.

    Attributes
    ----------
    after : ndarray, (k,) int64
        Index of the frame after which each gap lies.
    missing : ndarray, (k,) int64
        Frames missing in each gap (at least 1).
    """

    after: np.ndarray
    missing: np.ndarray

    @property
    def total(self) -> int:
        return int(self.missing.sum())

    def percent(self, n_frames: int) -> float:
        """Missing frames as a percentage of the frames the recording should have."""
        expected = n_frames + self.total
        return 100.0 * self.total / expected if expected else 0.0


def dropped_frames(time_s: np.ndarray, fps: float) -> DroppedFrames:
    """Gaps in ``time_s`` (seconds, (n,)) longer than :data:`GAP_FACTOR` frame periods at
    ``fps``; each holds ``round(step * fps) - 1`` missing frames."""
    t = np.asarray(time_s, np.float64)
    if t.size < 2 or not np.isfinite(fps) or fps <= 0:
        empty = np.zeros(0, np.int64)
        return DroppedFrames(empty, empty)
    steps = np.diff(t) * fps
    gaps = np.flatnonzero(np.isfinite(steps) & (steps > GAP_FACTOR))
    missing = np.maximum(np.rint(steps[gaps]).astype(np.int64) - 1, 1)
    return DroppedFrames(gaps.astype(np.int64), missing)


def speed_mm_s(data: SessionData) -> np.ndarray:
    """Centroid speed (mm/s, (n,) float64) from the mm centroids and the frame times
    (dropped frames accounted for); NaN on the first frame and where the mouse is lost."""
    x = data.scalars["centroid_x_mm"]
    y = data.scalars["centroid_y_mm"]
    out = np.full(data.n_frames, np.nan)
    if data.n_frames > 1:
        dt = np.diff(data.time_s)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[1:] = np.hypot(np.diff(x), np.diff(y)) / np.where(dt > 0, dt, np.nan)
    return out


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` frame ranges where ``mask`` ((n,) bool) is true."""
    m = np.asarray(mask, bool).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], m, [0]))))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2])]


def flag_masks(quality: np.ndarray | None) -> dict[str, np.ndarray]:
    """For each :class:`Quality` flag present in ``quality`` ((n,) uint8), the (n,) bool
    mask of the frames that carry it, keyed by the flag's lower-case name (empty for None).
    """
    if quality is None:
        return {}
    q = np.asarray(quality, np.int64)
    out: dict[str, np.ndarray] = {}
    for flag in Quality:
        mask = (q & int(flag)) != 0
        if mask.any() and flag.name:
            out[flag.name.lower()] = mask
    return out


def _nanmean(x: np.ndarray | None) -> float:
    if x is None:
        return float("nan")
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def _nanmedian(x: np.ndarray) -> float:
    x = np.asarray(x, np.float64)
    x = x[np.isfinite(x)]
    return median(x) if x.size else float("nan")


@dataclass
class SessionSummary:
    """One row of the batch index.

    Attributes
    ----------
    name, subject : str
    h5_path : Path
    report : Path or None
        The session's page.
    n_frames : int
    duration_s : float
    dropped_pct : float or None
        None without timestamps.
    speed_mm_s : float
        Mean centroid speed.
    area_mm2 : float
        Median mouse area.
    height_mm : float
        Median mean height.
    missing_pct : float
        Frames without a mouse (NaN centroid).
    flagged_pct : float or None
        Frames with any quality flag; None when the file has no quality record.
    heading_confidence : float or None
        Mean posterior of the chosen heading; None when not recorded.
    seconds : float or None
        Extraction time, when known.
    outliers : list of str
        Reasons the session stands out (see the module docstring).
    """

    name: str
    subject: str
    h5_path: Path
    report: Path | None
    n_frames: int
    duration_s: float
    dropped_pct: float | None
    speed_mm_s: float
    area_mm2: float
    height_mm: float
    missing_pct: float
    flagged_pct: float | None
    heading_confidence: float | None
    seconds: float | None = None
    outliers: list[str] = field(default_factory=list)


def summarize(data: SessionData, *, report: Path | None = None,
              seconds: float | None = None) -> SessionSummary:
    """The index row of one session (outliers are marked by :func:`mark_outliers`)."""
    n = data.n_frames
    dropped = (dropped_frames(data.time_s, data.fps).percent(n)
               if data.timestamps is not None else None)
    missing = ~np.isfinite(data.scalars["centroid_x_mm"])
    flagged = (100.0 * float(np.mean(data.quality != 0))
               if data.quality is not None and n else None)
    heading = _nanmean(data.heading_confidence) if data.heading_confidence is not None \
        else None
    duration = float(data.time_s[-1] - data.time_s[0]) + 1.0 / data.fps if n else 0.0
    return SessionSummary(
        name=data.name, subject=data.subject, h5_path=data.h5_path, report=report,
        n_frames=n, duration_s=duration, dropped_pct=dropped,
        speed_mm_s=_nanmean(speed_mm_s(data)),
        area_mm2=_nanmedian(data.scalars["area_mm"]),
        height_mm=_nanmedian(data.scalars["height_ave_mm"]),
        missing_pct=100.0 * float(missing.mean()) if n else 0.0,
        flagged_pct=flagged,
        heading_confidence=None if heading is None or not np.isfinite(heading) else heading,
        seconds=seconds,
    )


def robust_z(values: np.ndarray) -> np.ndarray:
    """``(x - median) / spread`` with spread = max(1.4826 MAD, MIN_SPREAD x |median|);
    NaN stays NaN."""
    v = np.asarray(values, np.float64)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return np.full(v.shape, np.nan)
    med = median(finite)
    mad = 1.4826 * median(np.abs(finite - med))
    spread = max(mad, MIN_SPREAD * abs(med), 1e-12)
    return (v - med) / spread


def mark_outliers(rows: list[SessionSummary]) -> list[SessionSummary]:
    """Fill each row's ``outliers`` with the reasons it stands out (in place; returned).

    The area and speed rules need at least three sessions to compare.
    """
    for row in rows:
        row.outliers = []
        if row.dropped_pct is not None and row.dropped_pct >= DROPPED_LIMIT:
            row.outliers.append(f"dropped frames {row.dropped_pct:.1f}% >= {DROPPED_LIMIT:g}%")
        if row.missing_pct >= MISSING_LIMIT:
            row.outliers.append(f"mouse missing in {row.missing_pct:.1f}% of frames")
        if row.flagged_pct is not None and row.flagged_pct >= FLAGGED_LIMIT:
            row.outliers.append(f"flagged frames {row.flagged_pct:.1f}%")
    if len(rows) >= 3:
        for label, attr in (("area", "area_mm2"), ("speed", "speed_mm_s")):
            z = robust_z(np.array([getattr(r, attr) for r in rows], np.float64))
            for row, zi in zip(rows, z):
                if np.isfinite(zi) and abs(zi) > ROBUST_Z:
                    side = "above" if zi > 0 else "below"
                    row.outliers.append(f"{label} far {side} the batch median (z = {zi:+.1f})")
    return rows
