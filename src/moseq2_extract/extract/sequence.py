"""State that links frames across chunks: axis unwrapping, heading, velocities.

:class:`SequenceAssembler` receives :class:`~.chunk.FrameMeasures` chunk by chunk, in frame
order, and hands back finished :class:`~.results.ChunkResult` blocks once their heading is
decided.  All state crossing chunk boundaries is held here explicitly, so the results do not
depend on the chunk size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..camera import CameraModel
from .chunk import FrameMeasures
from .heading import HeadingSmoother, motion_evidence, shape_evidence
from .results import ChunkResult
from .scalars import MotionCarry, compute_scalars

# Probability that the head/tail assignment swaps between consecutive frames.
P_SWITCH_TRACKED = 1e-3
P_SWITCH_ROUND = 0.02  # axis poorly defined (nearly round blob)
P_SWITCH_GAP = 0.05  # after a short gap without a mouse
GAP_RESET = 15  # frames without a mouse after which the heading is unknown again
MOTION_STEP = 3  # frames over which displacement is measured


def unwrap_axis(theta: np.ndarray, previous: float | None) -> np.ndarray:
    """Make an axis angle (defined mod pi) continuous, skipping NaNs.

    Parameters
    ----------
    theta : ndarray, (n,)
        Angles in radians; NaN where undefined.
    previous : float or None
        Last valid unwrapped value before this block.

    Returns
    -------
    ndarray, (n,): ``theta + k*pi`` nearest to the last valid value (NaN stays NaN).
    """
    out = np.array(theta, dtype=np.float64)
    last = previous
    for i, t in enumerate(out):
        if not np.isfinite(t):
            continue
        if last is not None:
            t = t + np.pi * np.round((last - t) / np.pi)
        out[i] = t
        last = t
    return out


def unwrap_heading(angle: np.ndarray, previous: float | None) -> np.ndarray:
    """Like :func:`unwrap_axis` but modulo 2*pi (a heading)."""
    out = np.array(angle, dtype=np.float64)
    last = previous
    for i, t in enumerate(out):
        if not np.isfinite(t):
            continue
        if last is not None:
            t = t + 2 * np.pi * np.round((last - t) / (2 * np.pi))
        out[i] = t
        last = t
    return out


FlipModel = Callable[[np.ndarray], np.ndarray]


@dataclass
class SequenceAssembler:
    """Streams per-frame measures into finished, heading-corrected results.

    Parameters
    ----------
    camera : CameraModel
    true_depth : float
        Floor depth (mm).
    box_origin : (x0, y0)
        ROI box corner in full-frame pixels.
    lag : int
        Look-ahead frames of the heading decision.
    flip_model : callable, optional
        Maps filtered crops (n, c, c) to per-frame log-odds that the head is *west*
        (classifier); when given it replaces the training-free shape evidence.
    use_heading : bool
        If False, no heading correction (crops keep the moment orientation).
    """

    camera: CameraModel
    true_depth: float
    box_origin: tuple[int, int]
    lag: int = 300
    flip_model: FlipModel | None = None
    use_heading: bool = True
    _smoother: HeadingSmoother = field(init=False)
    _pending: list = field(default_factory=list)  # (frame_index, measures, axis, box)
    _last_axis: float | None = None
    _gap: int = 0
    _recent: list = field(default_factory=list)  # last MOTION_STEP full-frame centroids
    _last_heading: float | None = None
    _motion: MotionCarry | None = None

    def __post_init__(self) -> None:
        self._smoother = HeadingSmoother(lag=self.lag)

    def add(self, frame_index: np.ndarray, measures: FrameMeasures, box: np.ndarray) -> None:
        """Add the next block of frames (in order).

        Parameters
        ----------
        frame_index : ndarray, (n,) int
            Absolute frame indices.
        measures : FrameMeasures
        box : ndarray, (n, h, w)
            Unfiltered heights over the ROI box (passed through for the preview movie).
        """
        theta = unwrap_axis(measures.orientation, self._last_axis)
        valid = np.isfinite(theta)
        # crops were cut along the raw orientation; turn those whose unwrapped axis differs
        # by an odd multiple of pi so that every crop's east is the unwrapped axis direction
        odd = np.zeros(len(theta), bool)
        odd[valid] = np.round((theta[valid] - measures.orientation[valid]) / np.pi) % 2 == 1
        if odd.any():
            for arr in (measures.crops, measures.filtered_crops, measures.masks):
                arr[odd] = arr[odd][:, ::-1, ::-1]
        if valid.any():
            self._last_axis = float(theta[valid][-1])
        evidence, p_switch = self._evidence(measures, theta, valid)
        self._smoother.push(evidence, p_switch)
        self._pending.append((np.asarray(frame_index), measures, theta, box))

    def _evidence(self, m: FrameMeasures, theta: np.ndarray, valid: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
        n = len(m)
        x0, y0 = self.box_origin
        fx = m.x + x0
        fy = m.y + y0
        if self.flip_model is not None:
            shape = np.zeros(n)
            if valid.any():
                shape[valid] = -np.asarray(self.flip_model(m.filtered_crops[valid]), float)
        else:
            shape = shape_evidence(m.filtered_crops, m.masks)
        hist = list(self._recent)
        px = np.array([h[0] for h in hist] + list(fx))
        py = np.array([h[1] for h in hist] + list(fy))
        k = len(hist)
        dx = np.full(n, np.nan)
        dy = np.full(n, np.nan)
        for lag in (MOTION_STEP,):
            idx = np.arange(n) + k
            src = idx - lag
            ok = src >= 0
            dx[ok] = (px[idx[ok]] - px[src[ok]]) / lag
            dy[ok] = (py[idx[ok]] - py[src[ok]]) / lag
        self._recent = list(zip(px[-MOTION_STEP:], py[-MOTION_STEP:]))[-MOTION_STEP:]
        motion = motion_evidence(dx, dy, theta)
        evidence = np.where(valid, shape + motion, 0.0)
        p_switch = np.full(n, P_SWITCH_TRACKED)
        round_blob = m.minor > 0.85 * m.major
        p_switch[round_blob] = P_SWITCH_ROUND
        gap = self._gap
        for i in range(n):
            if not valid[i]:
                gap += 1
                p_switch[i] = 0.5 if gap > GAP_RESET else P_SWITCH_GAP
                continue
            if gap > 0:
                p_switch[i] = 0.5 if gap > GAP_RESET else max(p_switch[i], P_SWITCH_GAP)
            gap = 0
        self._gap = gap
        return evidence, p_switch

    def pop_ready(self, *, final: bool = False) -> list[ChunkResult]:
        """Finished results for every frame whose heading is decided (all if ``final``)."""
        if self.use_heading:
            flips, conf = self._smoother.decide(final=final)
        else:
            total = sum(len(p[1]) for p in self._pending)
            flips, conf = np.zeros(total, bool), np.ones(total, np.float32)
        out = []
        done = 0
        while done < len(flips) and self._pending:
            idx, m, theta, box = self._pending[0]
            take = min(len(idx), len(flips) - done)
            out.append(self._finish(idx[:take], m, theta, box, slice(0, take),
                                    flips[done:done + take], conf[done:done + take]))
            done += take
            if take == len(idx):
                self._pending.pop(0)
            else:
                rest = slice(take, None)
                self._pending[0] = (idx[rest], _slice_measures(m, rest), theta[rest], box[rest])
        return out

    def _finish(self, idx, m: FrameMeasures, theta, box, sl, flips, conf) -> ChunkResult:
        crops = m.crops[sl].copy()
        masks = m.masks[sl].copy()
        if flips.any():
            crops[flips] = crops[flips][:, ::-1, ::-1]
            masks[flips] = masks[flips][:, ::-1, ::-1]
        heading = unwrap_heading(theta[sl] + np.pi * flips, self._last_heading)
        ok = np.isfinite(heading)
        if ok.any():
            self._last_heading = float(heading[ok][-1])
        scalars, self._motion = compute_scalars(
            x=m.x[sl], y=m.y[sl], angle=heading, major=m.major[sl], minor=m.minor[sl],
            area=m.area[sl], height=m.height[sl], box_origin=self.box_origin,
            camera=self.camera, true_depth=self.true_depth, carry=self._motion)
        valid = np.isfinite(m.x[sl])
        return ChunkResult(frame_index=np.asarray(idx), frames=crops, masks=masks,
                           scalars=scalars, box=box[sl],
                           flips=flips & valid, heading_confidence=np.where(valid, conf, 0)
                           .astype(np.float32))


def _slice_measures(m: FrameMeasures, sl: slice) -> FrameMeasures:
    return FrameMeasures(**{k: getattr(m, k)[sl] for k in FrameMeasures.__dataclass_fields__})
