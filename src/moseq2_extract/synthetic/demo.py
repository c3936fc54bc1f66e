"""The built-in example: a synthetic session, extracted and checked against its truth."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from ..config import make_config
from ..errors import ExtractionError
from ..pipeline.session import ExtractionOutcome, extract_session
from . import GroundTruth, SessionSpec, write_session


@dataclass(frozen=True)
class Accuracy:
    """Extraction error against the generator's ground truth (frames where both exist).

    Attributes
    ----------
    n_frames : int
        Frames compared.
    centroid_px : float
        Median centroid error (px).
    axis_deg : float
        Median body-axis error modulo 180 degrees.
    heading_flip_rate : float
        Fraction of frames whose heading is off by more than 90 degrees.
    height_mm : float
        Median error of the mean height (mm).
    missing : int
        Frames with a mouse in the truth but none extracted.
    """

    n_frames: int
    centroid_px: float
    axis_deg: float
    heading_flip_rate: float
    height_mm: float
    missing: int


def angle_diff(a: np.ndarray, b: np.ndarray, period: float) -> np.ndarray:
    """Absolute angular difference modulo ``period`` (radians), in [0, period / 2]."""
    d = np.mod(np.asarray(a) - np.asarray(b) + period / 2, period) - period / 2
    return np.abs(d)


@dataclass(frozen=True)
class _Aligned:
    """A results file's per-frame values next to the truth of the same frames (full-frame
    pixels; the box origin comes from the stored ROI)."""

    frames: slice
    x: np.ndarray
    y: np.ndarray
    angle: np.ndarray
    height: np.ndarray
    quality: np.ndarray
    truth_x: np.ndarray
    truth_y: np.ndarray
    truth_angle: np.ndarray


def _read_aligned(h5_path: Path, truth: GroundTruth) -> _Aligned:
    with h5py.File(h5_path, "r") as f:
        def scalar(name: str) -> np.ndarray:
            return f[f"scalars/{name}"][()].astype(np.float64)

        x, y = scalar("centroid_x_px"), scalar("centroid_y_px")
        angle, height = scalar("angle"), scalar("height_ave_mm")
        ys, xs = np.nonzero(f["metadata/extraction/roi"][()])
        first = int(f["metadata/extraction/first_frame_idx"][0])
        ext = f["metadata/extraction"]
        quality = ext["quality"][()] if "quality" in ext else np.zeros(len(x), np.uint8)
    sl = slice(first, first + len(x))
    return _Aligned(sl, x + xs.min(), y + ys.min(), angle, height, quality,
                    truth.centroid_x[sl], truth.centroid_y[sl], truth.angle[sl])


def compare_to_truth(h5_path: Path, truth: GroundTruth) -> Accuracy:
    """Compare an extracted ``results_XX.h5`` with the session's ground truth.

    Centroids are compared in full-frame pixels (the h5 stores ROI-box pixels; the box
    origin is recovered from the stored ROI).
    """
    r = _read_aligned(h5_path, truth)
    has_truth = np.isfinite(r.truth_x)
    both = has_truth & np.isfinite(r.x)
    cen = np.hypot(r.x - r.truth_x, r.y - r.truth_y)[both]
    axis = np.degrees(angle_diff(r.angle, r.truth_angle, np.pi))[both]
    head = angle_diff(r.angle, r.truth_angle, 2 * np.pi)[both]
    hgt = np.abs(r.height - truth.height_mean_mm[r.frames])[both]
    return Accuracy(
        n_frames=int(both.sum()),
        centroid_px=float(np.median(cen)) if cen.size else float("nan"),
        axis_deg=float(np.median(axis)) if axis.size else float("nan"),
        heading_flip_rate=float(np.mean(head > np.pi / 2)) if head.size else float("nan"),
        height_mm=float(np.median(hgt)) if hgt.size else float("nan"),
        missing=int((has_truth & ~np.isfinite(r.x)).sum()),
    )


@dataclass(frozen=True)
class TrackingErrors:
    """Errors of an extraction of a hard case against the truth of its mouse.

    Attributes
    ----------
    centroid_p50, centroid_p95 : float
        Centroid error (px, full frame), median and 95th percentile over the frames where
        both the truth and the extraction have a mouse.
    axis_p95 : float
        95th percentile of the body-axis error (degrees, modulo 180).
    heading_wrong_pct : float
        Share of those frames whose heading is more than 90 degrees off (%).
    missing : int
        Frames with a mouse in the truth but none extracted.
    hand_ok_pct : float
        Hand case: share of the intruder's frames in which the centroid is within 3 px of
        the mouse, or no mouse was given, or the frame carries a quality flag (%); NaN
        without an intruder.
    centroid_p95_outside_hand : float
        Hand case: the centroid p95 over the frames without the intruder (NaN otherwise).
    """

    centroid_p50: float
    centroid_p95: float
    axis_p95: float
    heading_wrong_pct: float
    missing: int
    hand_ok_pct: float = float("nan")
    centroid_p95_outside_hand: float = float("nan")


def tracking_errors(h5_path: Path, truth: GroundTruth) -> TrackingErrors:
    """Score ``results_XX.h5`` against the truth (the quality flags count for the hand)."""
    r = _read_aligned(h5_path, truth)
    tx, quality, sl = r.truth_x, r.quality, r.frames
    cen = np.hypot(r.x - tx, r.y - r.truth_y)
    axis = np.degrees(angle_diff(r.angle, r.truth_angle, np.pi))
    head = angle_diff(r.angle, r.truth_angle, 2 * np.pi) > np.pi / 2
    seen = np.isfinite(tx) & np.isfinite(cen)
    hand_ok = outside = float("nan")
    hand = None if truth.intrusion is None else np.asarray(truth.intrusion, bool)[sl]
    if hand is not None and hand.any():
        ok = (cen <= 3.0) | ~np.isfinite(cen) | (quality != 0)
        hand_ok = float(100 * ok[hand].mean())
        calm = seen & ~hand
        outside = float(np.percentile(cen[calm], 95)) if calm.any() else float("nan")
    return TrackingErrors(
        centroid_p50=float(np.median(cen[seen])),
        centroid_p95=float(np.percentile(cen[seen], 95)),
        axis_p95=float(np.percentile(axis[seen], 95)),
        heading_wrong_pct=float(100 * head[seen].mean()),
        missing=int((~np.isfinite(cen) & np.isfinite(tx)).sum()),
        hand_ok_pct=hand_ok, centroid_p95_outside_hand=outside)


def run_demo(directory: Path, *, n_frames: int = 900, fmt: str = "dat", seed: int = 0,
             case: str = "clean", progress=None, report: bool = True) -> str:
    """Write a synthetic session into ``directory``, extract it (with its QC report
    unless ``report`` is False), and summarise.

    ``case`` names a hard case of :attr:`SessionSpec.case` (``clean``, ``tether``,
    ``patch_cord``, ``hand``, ``dropouts``, ``object``); the comparison is against the
    mouse's truth.

    Returns
    -------
    str
        A short human-readable report (paths, speed, accuracy against ground truth).
    """
    directory = Path(directory)
    spec = SessionSpec(n_frames=n_frames, seed=seed, case=case)
    depth_file = write_session(directory, spec, fmt=fmt)
    outcome: ExtractionOutcome = extract_session(depth_file, make_config({}),
                                                 progress=progress)
    page, warnings = None, list(outcome.warnings)
    if report:
        from ..report import write_session_report

        try:
            page, _ = write_session_report(outcome.h5_path, seconds=outcome.seconds)
        except (ExtractionError, ImportError, OSError, ValueError) as err:
            warnings.append(f"the QC report was not written: {err}")
    truth_file = depth_file.parent / "ground_truth.npz"
    truth = GroundTruth.load(truth_file)
    acc = compare_to_truth(outcome.h5_path, truth)
    case_note = "" if case == "clean" else f", hard case {case!r}"
    lines = [
        f"Example session: {depth_file} ({n_frames} frames, {fmt}{case_note})",
        f"Results:         {outcome.h5_path}",
        f"                 {outcome.yaml_path}",
    ]
    if outcome.movie_path is not None:
        lines.append(f"Preview movie:   {outcome.movie_path}")
    if page is not None:
        lines.append(f"QC report:       {page}")
    lines += [
        f"ROI overview:    {outcome.output_dir / 'roi_overview.png'}",
        f"Speed:           {outcome.fps:.0f} frames/s ({outcome.seconds:.1f} s)",
        f"Floor depth:     {outcome.true_depth:.1f} mm "
        f"(truth {truth.true_depth_mm:.1f} mm)",
        "Accuracy against the generator's ground truth "
        f"({acc.n_frames} frames with a mouse):",
        f"  centroid error  {acc.centroid_px:.2f} px (median)",
        f"  axis error      {acc.axis_deg:.2f} deg (median)",
        f"  heading wrong   {100 * acc.heading_flip_rate:.2f} % of frames",
        f"  height error    {acc.height_mm:.2f} mm (median)",
    ]
    if acc.missing:
        lines.append(f"  no mouse found  {acc.missing} frames")
    if case != "clean" and truth.intrusion is not None \
            and truth.occluded_fraction is not None:
        lines.append(
            f"  case            {case}: {int(truth.intrusion.sum())} frames with a hand in "
            f"view, {100 * float(np.mean(truth.occluded_fraction)):.1f} % of the mouse "
            "hidden on average")
    lines += [f"Warning: {warning}" for warning in warnings]
    return "\n".join(lines)
