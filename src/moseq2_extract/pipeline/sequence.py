"""State that links frames across chunks: axis unwrapping, heading, velocities.

The heading evidence and its two-state model live in :mod:`.heading`; here they are fed
frame by frame (switch probabilities from blob shape, axis jumps and gaps; classifier
outputs median-smoothed along the recording), and the decisions are applied: crops and
masks turned by 180 degrees, angle + pi.

:class:`SequenceAssembler` receives :class:`~.chunk.FrameMeasures` chunk by chunk, in frame
order, and hands back finished :class:`~.results.ChunkResult` blocks once their heading is
decided.  All state crossing chunk boundaries is held here explicitly, so the results do not
depend on the chunk size.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from ..camera import CameraModel
from ..config import Config
from ..extract.chunk import FrameMeasures
from ..extract.hampel import hampel
from ..extract.quality import UNRELIABLE
from ..extract.results import BoxWindows, ChunkResult
from ..extract.scalars import MotionCarry, compute_scalars
from ..heading.model import (
    HeadingSmoother,
    HeightReference,
    ShapeFeatures,
    cable_evidence,
    motion_evidence,
    shape_evidence,
    shape_features,
)
from .continuity import TrackFollower, _take

# Probability that the head/tail assignment swaps between consecutive frames.
P_SWITCH_TRACKED = 1e-4
P_SWITCH_ROUND = 0.02  # axis poorly defined (nearly round blob)
P_SWITCH_GAP = 0.05  # after a short gap without a mouse
GAP_RESET = 15  # frames without a mouse after which the heading is unknown again
MOTION_STEP = 3  # frames over which displacement is measured
ROUND_RATIO = 0.85  # minor / major axis above which the blob's axis is poorly defined
JUMP_SAFE_DEG = 30.0  # axis change per frame that a mouse can really make
CLASSIFIER_WEIGHT = 1.0  # scale of the (median-smoothed) classifier log-odds
CLASSIFIER_P_CLIP = 0.02  # classifier probabilities are clipped to [p, 1 - p]
DEFAULT_DEPTH_MM = 670.0  # pixel size for motion evidence when the floor depth is unknown


def _unwrap(theta: np.ndarray, previous: float | None, period: float) -> np.ndarray:
    out = np.array(theta, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(out))
    if len(ok) == 0:
        return out
    if previous is None:
        out[ok] = np.unwrap(out[ok], period=period)
    else:
        out[ok] = np.unwrap(np.r_[previous, out[ok]], period=period)[1:]
    return out


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
    return _unwrap(theta, previous, np.pi)


def unwrap_heading(angle: np.ndarray, previous: float | None) -> np.ndarray:
    """Like :func:`unwrap_axis` but modulo 2*pi (a heading)."""
    return _unwrap(angle, previous, 2 * np.pi)


FlipModel = Callable[[np.ndarray], np.ndarray]


def axis_jump_switch(theta: np.ndarray, previous: float | None) -> np.ndarray:
    """Switch probability implied by how far the unwrapped axis moved since the last frame.

    A mouse does not turn its body by tens of degrees within one frame; a large jump of the
    moment axis means the blob was ambiguous and the unwrapping may have swapped the ends.
    Jumps up to :data:`JUMP_SAFE_DEG` give 0, a 90 degree jump (the largest possible after
    unwrapping) gives 0.5 (heading unknown).

    Parameters
    ----------
    theta : ndarray, (n,)
        Unwrapped axis (radians), NaN without a mouse.
    previous : float or None
        Last valid unwrapped axis before this block.

    Returns
    -------
    ndarray, (n,) float64 in [0, 0.5].
    """
    valid = np.isfinite(theta)
    prev = np.full(len(theta), np.nan)
    idx = np.flatnonzero(valid)
    if len(idx):
        before = np.r_[np.nan if previous is None else previous, theta[idx][:-1]]
        prev[idx] = before
    jump = np.degrees(np.abs(np.nan_to_num(theta - prev)))
    return 0.5 * np.clip((jump - JUMP_SAFE_DEG) / (90.0 - JUMP_SAFE_DEG), 0.0, 1.0)


def nan_median_windows(values: np.ndarray, half: int, first: int, count: int) -> np.ndarray:
    """Centred running median ignoring NaNs, truncated where the data end.

    Parameters
    ----------
    values : ndarray, (m,) float
        Series (NaN = missing).
    half : int
        Half window (window = 2 * half + 1).
    first, count : int
        Medians for ``values[first:first + count]``.

    Returns
    -------
    ndarray, (count,) float64; NaN where a window holds no value.
    """
    if count <= 0:
        return np.zeros(0)
    padded = np.concatenate([np.full(half, np.nan), np.asarray(values, float),
                             np.full(half, np.nan)])
    win = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1)[first:first + count]
    srt = np.sort(win, axis=1)  # NaNs last
    cnt = np.isfinite(win).sum(axis=1)
    rows = np.arange(count)
    lo = np.maximum((cnt - 1) // 2, 0)
    hi = np.maximum(cnt // 2, 0)
    med = (srt[rows, lo] + srt[rows, np.minimum(hi, win.shape[1] - 1)]) / 2
    return np.where(cnt > 0, med, np.nan)


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
        (classifier); when given it replaces the training-free shape evidence.  Its
        optional attribute ``smoothing`` (odd int) is the median window over the
        classifier's probabilities, applied across chunk boundaries.
    use_heading : bool
        If False, no heading correction (crops keep the moment orientation).
    centroid_hampel, angle_hampel : (span, sig)
        Hampel filters of the centroid (x and y) and of the body axis (span 0 = off).  The
        windows reach into neighbouring blocks (the heading look-ahead keeps enough frames
        pending), so results do not depend on the chunk size.  Crops stay cut at the
        measured centroid.
    """

    camera: CameraModel
    true_depth: float
    box_origin: tuple[int, int]
    lag: int = 300
    flip_model: FlipModel | None = None
    use_heading: bool = True
    centroid_hampel: tuple[int, float] = (0, 3.0)
    angle_hampel: tuple[int, float] = (0, 3.0)
    _smoother: HeadingSmoother = field(init=False)
    _hampel_hist: tuple = (np.zeros(0), np.zeros(0), np.zeros(0))  # raw x, y, axis
    _heights: HeightReference = field(default_factory=HeightReference)
    _track: TrackFollower = field(default_factory=TrackFollower)
    _taken: dict = field(default_factory=dict)  # pending block's first frame -> rows that
    # took their second blob (what a resumed run's refill repeats)
    _pending: list = field(default_factory=list)  # (frame_index, measures, axis, box, odd)
    _last_axis: float | None = None
    _gap: int = 0
    _recent: list = field(default_factory=list)  # last MOTION_STEP full-frame centroids
    _last_heading: float | None = None
    _motion: MotionCarry | None = None
    # classifier smoothing: raw probabilities already pushed (last `half`) and waiting ones
    _cls_history: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _cls_wait: list = field(default_factory=list)  # (p_west, valid, other evidence, p_switch)
    _decided: list = field(default_factory=list)  # decisions not yet emitted: (flips, conf)

    def __post_init__(self) -> None:
        self._smoother = HeadingSmoother(lag=self.lag)
        depth = float(self.true_depth)
        if not np.isfinite(depth) or depth <= 0:
            depth = DEFAULT_DEPTH_MM
        self._mm_per_px = depth / float(self.camera.fx)
        window = int(getattr(self.flip_model, "smoothing", 1) or 1)
        self._half = max(0, window // 2) if self.flip_model is not None else 0

    def add(self, frame_index: np.ndarray, measures: FrameMeasures,
            box: np.ndarray | BoxWindows) -> None:
        """Add the next block of frames (in order).

        Parameters
        ----------
        frame_index : ndarray, (n,) int
            Absolute frame indices.
        measures : FrameMeasures
        box : ndarray, (n, h, w), or BoxWindows
            Unfiltered heights over the ROI box (passed through for the preview movie).
        """
        offered = dict(measures.alternatives)
        measures = self._track(measures)  # the blob that continues the mouse's track
        if len(frame_index):
            self._taken[int(frame_index[0])] = [
                i for i, other in offered.items() if _same_row(measures, i, other)]
        previous = self._last_axis
        theta = unwrap_axis(measures.orientation, previous)
        valid = np.isfinite(theta)
        # crops were cut along the raw orientation; those whose unwrapped axis differs by an
        # odd multiple of pi face the other way.  They are turned once, when finished,
        # together with the heading decision; the shape evidence, odd under a half turn,
        # just changes sign for them.
        odd = np.zeros(len(theta), bool)
        odd[valid] = np.round((theta[valid] - measures.orientation[valid]) / np.pi) % 2 == 1
        if valid.any():
            self._last_axis = float(theta[valid][-1])
        self._pending.append((np.asarray(frame_index), measures, theta, box, odd))
        if not self.use_heading:
            return
        p_switch = self._switch_probability(measures, theta, valid, previous)
        motion = self._motion_evidence(measures, theta)
        if measures.cable is not None:  # a cable's end is the head (odd crops: turned)
            motion = motion + cable_evidence(np.where(odd, -measures.cable, measures.cable))
        # no heading evidence from a frame with an intruder or a lost tracker
        informative = valid & ((measures.quality & UNRELIABLE) == 0)
        if self.flip_model is None:
            raw = shape_features(measures.filtered_crops, measures.masks)
            sign = np.where(odd, -1.0, 1.0)
            feats = ShapeFeatures(raw.width_asymmetry * sign, raw.height_asymmetry * sign,
                                  raw.max_height)
            usual = self._heights.update(feats.max_height, valid)
            shape = shape_evidence(measures.filtered_crops, measures.masks,
                                   usual_height=usual, features=feats)
            self._smoother.push(np.where(informative, shape + motion, 0.0), p_switch)
            return
        p_west = np.full(len(theta), np.nan)
        if valid.any():
            crops = measures.filtered_crops[valid]  # a copy: turn the odd ones
            turn_in_place((crops,), odd[valid])
            logodds = np.asarray(self.flip_model(crops), float)
            p_west[valid] = 1.0 / (1.0 + np.exp(-np.clip(logodds, -30, 30)))
        p_west[~informative] = np.nan
        self._cls_wait.append((p_west, valid, np.where(informative, motion, 0.0), p_switch))
        self._push_classifier(final=False)

    # -- resume ------------------------------------------------------------------------

    def state(self) -> AssemblerState:
        """A copy of everything that links the frames added so far to the next ones.

        The pending blocks' per-frame arrays (crops, masks, the ROI box) are left out: they
        are what extracting those blocks again gives (:meth:`refill`); only their frame
        numbers and the small per-frame values derived here are kept.  Taken after
        :meth:`pop_ready`, it is the state that goes with the rows handed out so far.
        """
        small = {name: copy.deepcopy(getattr(self, name)) for name in _CARRIED}
        pending = [(np.array(idx), np.array(theta), np.array(odd),
                    list(self._taken.get(int(idx[0]), [])) if len(idx) else [])
                   for idx, _, theta, _, odd in self._pending]
        return AssemblerState(small, pending)

    def restore(self, state: AssemblerState) -> None:
        """Continue from ``state`` (of an assembler made with the same arguments); the
        pending blocks must then be given back, in order, with :meth:`refill`."""
        for name, value in state.small.items():
            setattr(self, name, copy.deepcopy(value))
        self._pending = [(idx, None, theta, None, odd) for idx, theta, odd, _ in state.pending]
        self._taken = {int(idx[0]): list(taken) for idx, _, _, taken in state.pending
                       if len(idx)}

    @property
    def awaiting_refill(self) -> tuple[int, int] | None:
        """Frames ``(a, b)`` of the restored blocks still waiting for :meth:`refill`."""
        empty = [p[0] for p in self._pending if p[1] is None]
        if not empty:
            return None
        return int(empty[0][0]), int(empty[-1][-1]) + 1

    def refill(self, frame_index: np.ndarray, measures: FrameMeasures,
               box: np.ndarray | BoxWindows) -> None:
        """Give a restored pending block its extracted frames back (in order)."""
        frame_index = np.asarray(frame_index)
        for i, (idx, m, theta, _, odd) in enumerate(self._pending):
            if m is None:
                if not np.array_equal(idx, frame_index):
                    raise ValueError(f"refill of frames {frame_index[0]}..{frame_index[-1]}"
                                     f" where frames {idx[0]}..{idx[-1]} are awaited")
                # the second blobs this block's rows took when it was first added
                for row in self._taken.get(int(idx[0]), []) if len(idx) else []:
                    _take(measures, row, measures.alternatives[row])
                measures.alternatives = {}
                self._pending[i] = (idx, measures, theta, box, odd)
                return
        raise ValueError("no restored block awaits frames")

    def _push_classifier(self, *, final: bool) -> None:
        """Median-smooth waiting classifier probabilities whose window is complete; push."""
        if not self._cls_wait:
            return
        p_west, valid, other, p_switch = (np.concatenate(a) for a in zip(*self._cls_wait))
        n = len(p_west)
        k = n if final else max(0, n - self._half)
        if k == 0:
            return
        series = np.concatenate([self._cls_history, p_west])
        h = len(self._cls_history)
        med = nan_median_windows(series, self._half, h, k)
        p = np.clip(np.nan_to_num(med, nan=0.5), CLASSIFIER_P_CLIP, 1 - CLASSIFIER_P_CLIP)
        evidence = CLASSIFIER_WEIGHT * (np.log1p(-p) - np.log(p))  # log-odds of east
        evidence = np.where(valid[:k], evidence, 0.0) + other[:k]
        self._smoother.push(evidence, p_switch[:k])
        self._cls_history = series[:h + k][-self._half:] if self._half else np.zeros(0)
        rest = slice(k, None)
        self._cls_wait = ([(p_west[rest], valid[rest], other[rest], p_switch[rest])]
                          if k < n else [])

    def _motion_evidence(self, m: FrameMeasures, theta: np.ndarray) -> np.ndarray:
        n = len(m)
        x0, y0 = self.box_origin
        hist = list(self._recent)
        px = np.array([h[0] for h in hist] + list(m.x + x0))
        py = np.array([h[1] for h in hist] + list(m.y + y0))
        k = len(hist)
        idx = np.arange(n) + k
        src = idx - MOTION_STEP
        ok = src >= 0
        dx = np.full(n, np.nan)
        dy = np.full(n, np.nan)
        dx[ok] = (px[idx[ok]] - px[src[ok]]) / MOTION_STEP
        dy[ok] = (py[idx[ok]] - py[src[ok]]) / MOTION_STEP
        self._recent = list(zip(px[-MOTION_STEP:], py[-MOTION_STEP:]))
        return motion_evidence(dx, dy, theta, mm_per_px=self._mm_per_px)

    def _switch_probability(self, m: FrameMeasures, theta: np.ndarray, valid: np.ndarray,
                            previous: float | None) -> np.ndarray:
        n = len(m)
        p_switch = np.full(n, P_SWITCH_TRACKED)
        with np.errstate(invalid="ignore"):
            round_blob = m.minor > ROUND_RATIO * m.major
        p_switch[round_blob] = P_SWITCH_ROUND
        p_switch = np.maximum(p_switch, axis_jump_switch(theta, previous))
        gap = self._gap
        for i, ok in enumerate(valid.tolist()):
            if not ok:
                gap += 1
                p_switch[i] = 0.5 if gap > GAP_RESET else P_SWITCH_GAP
                continue
            if gap > 0:
                p_switch[i] = 0.5 if gap > GAP_RESET else max(p_switch[i], P_SWITCH_GAP)
            gap = 0
        self._gap = gap
        return p_switch

    def pop_ready(self, *, final: bool = False) -> list[ChunkResult]:
        """Finished results for every block added whose heading is decided (all if ``final``).

        Results come out as whole blocks, as they were added (decisions made for part of a
        block wait for the rest), so writers see the same pieces with or without heading
        resolution.
        """
        if self.use_heading:
            if final:
                self._push_classifier(final=True)
            flips, conf = self._smoother.decide(final=final)
            self._decided.append((flips, conf))
        else:
            total = sum(len(p[0]) for p in self._pending)
            self._decided = [(np.zeros(total, bool), np.ones(total, np.float32))]
        flips = np.concatenate([d[0] for d in self._decided])
        conf = np.concatenate([d[1] for d in self._decided])
        out = []
        done = 0
        while self._pending and done + len(self._pending[0][0]) <= len(flips):
            idx, m, theta, box, odd = self._pending.pop(0)
            if len(idx):
                self._taken.pop(int(idx[0]), None)
            m, theta = self._hampel(m, theta)
            take = slice(done, done + len(idx))
            out.append(self._finish(idx, m, theta, box, odd, flips[take], conf[take]))
            done += len(idx)
        self._decided = [(flips[done:], conf[done:])]
        return out

    def _hampel(self, m: FrameMeasures, theta: np.ndarray) -> tuple[FrameMeasures, np.ndarray]:
        """Hampel-filter centroid and axis of the block just taken from the queue."""
        spans = (int(self.centroid_hampel[0]), int(self.angle_hampel[0]))
        half = max(spans) // 2
        if half == 0:
            return m, theta
        ahead = self._lookahead(half)
        raw = (m.x, m.y, theta)
        before = self._hampel_hist
        sig_c, sig_a = float(self.centroid_hampel[1]), float(self.angle_hampel[1])
        x = hampel(m.x, span=spans[0], sig=sig_c, before=before[0], after=ahead[0])
        y = hampel(m.y, span=spans[0], sig=sig_c, before=before[1], after=ahead[1])
        axis = hampel(theta, span=spans[1], sig=sig_a, before=before[2], after=ahead[2])
        self._hampel_hist = tuple(np.concatenate([b, r])[-half:] for b, r in zip(before, raw))
        return replace(m, x=x, y=y), axis

    def _lookahead(self, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw x, y and axis of the next ``count`` pending frames."""
        xs, ys, axes = [np.zeros(0)], [np.zeros(0)], [np.zeros(0)]
        for _, m, theta, _, _ in self._pending:
            xs.append(m.x)
            ys.append(m.y)
            axes.append(theta)
            if sum(len(a) for a in axes) >= count:
                break
        x, y, axis = (np.concatenate(v)[:count] for v in (xs, ys, axes))
        return x, y, axis

    def _finish(self, idx, m: FrameMeasures, theta, box, odd, flips, conf) -> ChunkResult:
        # the measures belong to the assembler now: turn crops in place where the cut
        # orientation and the decided heading disagree
        crops = m.crops
        masks = m.masks
        turn = odd ^ flips
        if turn.any():
            turn_in_place((crops, masks) if m.likelihood is None
                          else (crops, masks, m.likelihood), turn)
        if m.likelihood is not None:  # the EM tracker's frames_mask: its likelihood crops
            masks = m.likelihood
        heading = unwrap_heading(theta + np.pi * flips, self._last_heading)
        ok = np.isfinite(heading)
        if ok.any():
            self._last_heading = float(heading[ok][-1])
        scalars, self._motion = compute_scalars(
            x=m.x, y=m.y, angle=heading, major=m.major, minor=m.minor,
            area=m.area, height=m.height, box_origin=self.box_origin,
            camera=self.camera, true_depth=self.true_depth, carry=self._motion)
        valid = np.isfinite(m.x)
        return ChunkResult(frame_index=np.asarray(idx), frames=crops, masks=masks,
                           scalars=scalars, box=box,
                           flips=flips & valid, heading_confidence=np.where(valid, conf, 0)
                           .astype(np.float32), quality=m.quality)


#: What :meth:`SequenceAssembler.state` carries besides the pending blocks' frame numbers.
_CARRIED = ("_smoother", "_track", "_hampel_hist", "_heights", "_last_axis", "_gap", "_recent",
            "_last_heading", "_motion", "_cls_history", "_cls_wait", "_decided")


@dataclass
class AssemblerState:
    """A picklable copy of a :class:`SequenceAssembler`'s state (see its ``state``).

    Attributes
    ----------
    small : dict
        The carried attributes (heading model, unwrapping, velocity and Hampel history).
    pending : list of (frame_index, axis, odd, taken)
        Per pending block: absolute frame numbers (k,) int, unwrapped axis (k,) float64,
        crops cut facing the other way (k,) bool, and the rows whose second blob was
        taken for the mouse (:class:`~.continuity.TrackFollower`).
    """

    small: dict[str, Any]
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, list[int]]]


def _same_row(m: FrameMeasures, i: int, other: FrameMeasures) -> bool:
    """Whether row ``i`` of ``m`` holds ``other``'s only row (the second blob was taken)."""
    for name in FrameMeasures.row_fields():
        mine, theirs = getattr(m, name), getattr(other, name)
        if mine is not None and theirs is not None and not np.array_equal(
                mine[i], theirs[0], equal_nan=np.asarray(mine).dtype.kind == "f"):
            return False
    return True


def turn_in_place(arrays: tuple[np.ndarray, ...], which: np.ndarray) -> None:
    """Rotate the selected frames of each (n, c, c) array by 180 degrees, in place."""
    idx = np.flatnonzero(which)
    for arr in arrays:
        if arr.flags.c_contiguous and arr.dtype != bool:
            for i in idx:
                cv2.flip(arr[i], -1, dst=arr[i])
        elif arr.flags.c_contiguous:
            view = arr.view(np.uint8)
            for i in idx:
                cv2.flip(view[i], -1, dst=view[i])
        else:
            arr[idx] = arr[idx][:, ::-1, ::-1]


def assembler_for(config: Config, *, camera: CameraModel, true_depth: float,
                  box_origin: tuple[int, int], flip_model: FlipModel | None = None
                  ) -> SequenceAssembler:
    """The :class:`SequenceAssembler` of a session extracted with ``config``."""
    return SequenceAssembler(camera=camera, true_depth=true_depth, box_origin=box_origin,
                             flip_model=flip_model,
                             centroid_hampel=(config.centroid_hampel_span,
                                              config.centroid_hampel_sig),
                             angle_hampel=(config.angle_hampel_span, config.angle_hampel_sig))
