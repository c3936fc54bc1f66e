"""Training-free heading: which end of the body axis is the head.

Image moments give the body axis only modulo 180 degrees.  Each frame gets a log-odds
``evidence`` that the head points east in its axis-aligned crop (the crop's +x direction
is the unwrapped body axis), from what a mouse's body really carries:

* width: seen from above the rump is wider than the head in every posture (walking,
  pausing, turning, rearing, curled), so the end holding the same share of the body's area
  in fewer columns is the rump (:func:`shape_features`, ``width_asymmetry``);
* height: outside rearing the rump is the highest part, so the rear end slice is higher
  on average than the front one (``height_asymmetry``).  While the mouse rears, its front is
  higher than the rump and this cue reverses; rearing shows as a maximum height well above
  the mouse's usual one, so the height cue is faded out above that (:class:`HeightReference`,
  :func:`shape_evidence`);
* motion: mice mostly move forward, so a clear displacement along the axis points to the
  head (:func:`motion_evidence`); slow drifts, such as the centroid moving back when the
  mouse rears up, are ignored by a dead zone;
* a cable: a tether or patch cord is plugged into the head, so where a thin structure was
  cut off the body (:func:`~moseq2_extract.extract.thin.remove_thin`) is the head's end
  (:func:`cable_evidence`).  This outweighs the shape cues, which the connector and the
  cable's stub on the head turn around (a high, wide front end).

A two-state hidden Markov model (:class:`HeadingSmoother`; state 0 = the crop as cut faces
east, state 1 = it faces west) links the frames: the assignment only changes when the axis
tracking can have swapped ends (round blob, sudden axis jump, a gap without a mouse).
Posteriors come from forward filtering and a backward pass over a fixed look-ahead, so each
decision uses the same frames whatever the chunk size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

# Evidence scales (log-odds units); see docs/heading.md for their derivation.
END_SLICE = (0.12, 0.40)  # area fractions, counted from each end, compared between the ends
WIDTH_WEIGHT = 2.0  # saturated log-odds of the width cue
WIDTH_SCALE = 0.04  # width asymmetry worth ~0.76 of WIDTH_WEIGHT (typical mouse: 0.1-0.13)
HEIGHT_WEIGHT = 1.0
HEIGHT_SCALE = 0.05  # height asymmetry (typical mouse, not rearing: ~0.13)
REAR_START = 1.10  # max height / usual max height above which the height cue fades ...
REAR_FULL = 1.25  # ... and above which it is ignored
MOTION_WEIGHT = 2.0
MOTION_DEAD_MM = 1.5  # mm/frame along the axis below which motion says nothing
MOTION_FULL_MM = 2.0  # extra mm/frame above the dead zone for full motion evidence
CABLE_WEIGHT = 4.0  # a cable's root at one end: more than width + height together (3)
CABLE_DEAD_PX = 4.0  # px from the crop's centre below which the root says nothing ...
CABLE_FULL_PX = 6.0  # ... and this much further for the full weight


@dataclass(frozen=True)
class ShapeFeatures:
    """Per-frame shape measurements of axis-aligned crops.

    Both ends of the body are compared through *end slices*: the columns that hold the
    westmost and the eastmost 28 % of the mask's area (from 12 % to 40 % of it, counted from
    each end, so thin leftovers at the very ends such as a tail base barely matter).

    Attributes
    ----------
    width_asymmetry : ndarray, (n,) float64
        ``(L_east - L_west) / (L_east + L_west)`` with ``L`` the length (columns) of each
        end slice: a narrow end needs more columns to hold the same area, so > 0 means the
        narrow end (the head) is east.
    height_asymmetry : ndarray, (n,) float64
        ``(H_west - H_east) / (H_west + H_east)`` with ``H`` the mean height of each end
        slice: > 0 means the high end (the rump, unless rearing) is west.
    max_height : ndarray, (n,) float64
        Highest point of the mouse (crop units, mm).
    """

    width_asymmetry: np.ndarray
    height_asymmetry: np.ndarray
    max_height: np.ndarray


def _end_slices(width: np.ndarray, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """Fraction (0..1) of every column inside the west and east end slices.

    Parameters
    ----------
    width : ndarray, (n, c)
        Mask pixels per column.
    lo, hi : float
        The slice holds area fractions ``[lo, hi]`` counted from its end.

    Returns
    -------
    (west, east) : two (n, c) float64 arrays.
    """
    total = np.maximum(width.sum(axis=1, keepdims=True), 1e-9)
    upto = np.cumsum(width, axis=1) / total  # area fraction up to each column's east edge
    before = upto - width / total
    inv = np.where(width > 0, 1.0 / np.maximum(upto - before, 1e-12), 0.0)
    west = np.clip(np.minimum(upto, hi) - np.maximum(before, lo), 0.0, None) * inv
    east = np.clip(np.minimum(upto, 1 - lo) - np.maximum(before, 1 - hi), 0.0, None) * inv
    return west, east


def _contrast(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a - b) / (a + b), 0 where both are 0."""
    s = a + b
    return np.where(s > 0, (a - b) / np.where(s > 0, s, 1.0), 0.0)


def shape_features(filtered_crops: np.ndarray, masks: np.ndarray) -> ShapeFeatures:
    """Width and height asymmetry of a block of axis-aligned crops.

    Parameters
    ----------
    filtered_crops : ndarray, (n, c, c) uint8 / uint16 / float
        Axis-aligned filtered height crops (mm).
    masks : ndarray, (n, c, c) bool
        Mouse masks in the same frame.

    Returns
    -------
    ShapeFeatures (zeros for frames without a mouse).
    """
    n = len(masks)
    if n == 0:
        empty = np.zeros(0)
        return ShapeFeatures(empty, empty, empty)
    c = masks.shape[1]
    inside = filtered_crops * masks  # same dtype as the crops, 0 outside the mouse
    # narrow accumulators where they cannot overflow (the reductions are memory bound)
    width = masks.view(np.uint8).sum(axis=1, dtype=np.uint8 if c < 256 else np.int32)
    small = inside.dtype == np.uint8 and c < 257
    mass = inside.sum(axis=1, dtype=np.uint16 if small else np.float64)
    top = inside.reshape(n, -1).max(axis=1).astype(np.float64)
    width = width.astype(np.float64)
    mass = mass.astype(np.float64)
    west, east = _end_slices(width, *END_SLICE)
    width_asym = _contrast(east.sum(axis=1), west.sum(axis=1))
    area_w = np.einsum("ij,ij->i", west, width)
    area_e = np.einsum("ij,ij->i", east, width)
    h_west = np.einsum("ij,ij->i", west, mass) / np.maximum(area_w, 1e-9)
    h_east = np.einsum("ij,ij->i", east, mass) / np.maximum(area_e, 1e-9)
    return ShapeFeatures(width_asym, _contrast(h_west, h_east), top)


def rearing_weight(max_height: np.ndarray, usual: np.ndarray) -> np.ndarray:
    """Weight (0..1) of the height cue: 1 at the usual height, 0 when clearly rearing.

    Parameters
    ----------
    max_height, usual : ndarray, (n,)
        Frame's highest point and the mouse's usual highest point (mm).
    """
    ratio = max_height / np.maximum(usual, 1e-9)
    return np.clip((REAR_FULL - ratio) / (REAR_FULL - REAR_START), 0.0, 1.0)


def shape_evidence(
    filtered_crops: np.ndarray,
    masks: np.ndarray,
    *,
    usual_height: np.ndarray | float | None = None,
    features: ShapeFeatures | None = None,
) -> np.ndarray:
    """Log-odds that the head is east, from body shape.

    Parameters
    ----------
    filtered_crops : ndarray, (n, c, c)
        Axis-aligned filtered height crops (mm).
    masks : ndarray, (n, c, c) bool
        Mouse masks in the same frame.
    usual_height : ndarray (n,) or float, optional
        The mouse's usual maximum height (mm, e.g. from :class:`HeightReference`); frames
        well above it are taken as rearing and lose the height cue.  None: every frame's
        height cue counts (no rearing detection).
    features : ShapeFeatures, optional
        Precomputed :func:`shape_features` of the same crops.

    Returns
    -------
    ndarray, (n,) float64 (0 where there is no mouse).
    """
    f = features if features is not None else shape_features(filtered_crops, masks)
    width = WIDTH_WEIGHT * np.tanh(f.width_asymmetry / WIDTH_SCALE)
    height = HEIGHT_WEIGHT * np.tanh(f.height_asymmetry / HEIGHT_SCALE)
    if usual_height is not None:
        height = height * rearing_weight(f.max_height, np.asarray(usual_height, float))
    return width + height


def motion_evidence(
    dx: np.ndarray, dy: np.ndarray, orientation: np.ndarray, *, mm_per_px: float = 1.0
) -> np.ndarray:
    """Log-odds that the head is east, from displacement along the body axis.

    Parameters
    ----------
    dx, dy : ndarray, (n,)
        Displacement of the centroid (px per frame, image coordinates, y down); NaN = none.
    orientation : ndarray, (n,)
        Axis angle of the crop (radians, counter-clockwise as displayed).
    mm_per_px : float
        Pixel size on the floor (mm); thresholds are in mm per frame.

    Returns
    -------
    ndarray, (n,) float64: 0 below :data:`MOTION_DEAD_MM` mm/frame or for sideways motion,
    up to ``MOTION_WEIGHT`` for fast motion along the axis.
    """
    dx = np.nan_to_num(np.asarray(dx, float)) * mm_per_px
    dy = np.nan_to_num(np.asarray(dy, float)) * mm_per_px
    theta = np.nan_to_num(np.asarray(orientation, float))
    along = dx * np.cos(theta) - dy * np.sin(theta)
    speed = np.hypot(dx, dy)
    # sideways motion (strafing, body swinging round in a turn) says little about the head
    straight = np.clip((np.abs(along) / np.maximum(speed, 1e-9) - 0.5) / 0.3, 0.0, 1.0)
    strength = np.clip((np.abs(along) - MOTION_DEAD_MM) / MOTION_FULL_MM, 0.0, 1.0)
    return MOTION_WEIGHT * np.sign(along) * strength * straight


def cable_evidence(cable: np.ndarray) -> np.ndarray:
    """Log-odds that the head is east, from where a cut-off cable was attached.

    Parameters
    ----------
    cable : ndarray, (n,) float
        The cable's root along the crop's +x axis (px from the centre; NaN = no cable).

    Returns
    -------
    ndarray, (n,) float64: 0 without a cable or with its root near the centre (beside the
    body, not at an end), up to ``CABLE_WEIGHT`` towards the root's end.
    """
    along = np.nan_to_num(np.asarray(cable, float))
    strength = np.clip((np.abs(along) - CABLE_DEAD_PX) / CABLE_FULL_PX, 0.0, 1.0)
    return CABLE_WEIGHT * np.sign(along) * strength


@dataclass
class HeightReference:
    """The mouse's usual maximum height, learnt causally over the recording.

    A cumulative histogram (``bin_mm`` bins) of every frame's maximum height; the usual
    height of frame ``t`` is a low quantile over frames ``0..t`` (rearing is a minority of
    the time).
    Per frame, so the values do not depend on how frames are grouped into chunks.

    Parameters
    ----------
    quantile : float
        Quantile of the maximum heights taken as usual.
    bin_mm : float
        Histogram bin width (mm).
    n_bins : int
        Number of bins (heights above ``n_bins * bin_mm`` share the last bin).
    """

    quantile: float = 0.3
    bin_mm: float = 2.0
    n_bins: int = 128
    _hist: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._hist = np.zeros(self.n_bins, np.int32)

    def update(self, max_height: np.ndarray, valid: np.ndarray) -> np.ndarray:
        """Add a block of frames; return each frame's usual height (mm).

        Parameters
        ----------
        max_height : ndarray, (n,) float
        valid : ndarray, (n,) bool
            Frames with a mouse (others are not counted).

        Returns
        -------
        ndarray, (n,) float64; NaN before the first frame with a mouse.
        """
        n = len(max_height)
        top = np.nan_to_num(np.asarray(max_height, float)) / self.bin_mm
        bins = np.clip(top, 0, self.n_bins - 1).astype(np.int64)
        onehot = np.zeros((n, self.n_bins), np.int32)
        onehot[np.flatnonzero(valid), bins[valid]] = 1
        counts = np.cumsum(onehot, axis=0) + self._hist  # (n, bins) histogram up to t
        cum = np.cumsum(counts, axis=1)
        total = cum[:, -1]
        need = np.maximum(np.ceil(self.quantile * total), 1)
        usual = ((cum < need[:, None]).sum(axis=1) + 0.5) * self.bin_mm
        if n:
            self._hist = counts[-1].copy()
        return np.where(total > 0, usual, np.nan)


def _propagate(logodds: float, p: float) -> float:
    """Log-odds after a transition that swaps the two states with probability ``p``."""
    if p >= 0.5:
        return 0.0
    q = 1.0 - p
    if logodds >= 0:
        a = math.exp(-logodds)
        return math.log((q + p * a) / (p + q * a))
    a = math.exp(logodds)
    return math.log((q * a + p) / (p * a + q))


def _backward(back: float, ev: list, sw: list, first: int, last: int, out: list | None,
              fwd: list | None, offset: int = 0) -> float:
    """Run the backward message from frame ``first`` down to ``last + 1`` (inclusive).

    When ``out`` is given, ``out[t - offset] = fwd[t] + message`` is recorded for every
    frame visited (the posterior log-odds).  Returns the message into frame ``last``.
    """
    exp, log = math.exp, math.log
    for t in range(first, last, -1):
        if out is not None and fwd is not None:
            out[t - offset] = fwd[t] + back
        x = back + ev[t]
        p = sw[t]
        if p >= 0.5:
            back = 0.0
            continue
        q = 1.0 - p
        if x >= 0:
            a = exp(-x)
            back = log((q + p * a) / (p + q * a))
        else:
            a = exp(x)
            back = log((q * a + p) / (p * a + q))
    return back


@dataclass
class HeadingSmoother:
    """Streaming two-state HMM with fixed-lag smoothing.

    Feed frames in order with :meth:`push`; :meth:`decide` returns decisions for every block
    of frames whose look-ahead is complete (all remaining ones once ``final`` is true).
    Frames are decided in blocks of ``block`` frames aligned to the first pushed frame; the
    frames of a block share one backward pass that starts ``lag`` frames after the block's
    end, so every decision sees between ``lag`` and ``lag + block - 1`` frames of look-ahead,
    the same for every chunking of the input.

    Parameters
    ----------
    lag : int
        Minimum frames of look-ahead per decision.
    block : int
        Frames decided together.
    """

    lag: int = 300
    block: int = 128
    _filtered: list = field(default_factory=list)  # forward log-odds, pending frames
    _evidence: list = field(default_factory=list)
    _switch: list = field(default_factory=list)  # p_switch into each pending frame
    _last: float = 0.0
    _decided: int = 0  # frames decided so far

    def push(self, evidence: np.ndarray, p_switch: np.ndarray) -> None:
        """Add frames: per-frame log-odds and the switch probability from the previous frame.

        Parameters
        ----------
        evidence : ndarray, (k,) float
            Log-odds that the crop faces east (0 = no information).
        p_switch : ndarray, (k,) float in (0, 0.5]
            Probability that the head/tail assignment swapped since the previous frame
            (0.5 = unknown, e.g. after a long gap).
        """
        ev = np.asarray(evidence, float).tolist()
        sw = np.asarray(p_switch, float).tolist()
        last = self._last
        out = self._filtered
        for e, p in zip(ev, sw):
            last = _propagate(last, p) + e
            out.append(last)
        self._last = last
        self._evidence.extend(ev)
        self._switch.extend(sw)

    @property
    def pending(self) -> int:
        """Frames pushed but not decided."""
        return len(self._filtered)

    def decide(self, *, final: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Decisions for the frames whose look-ahead is available.

        Returns
        -------
        (flip, confidence) : ndarray (k,) bool and (k,) float32 for the next k frames in
        order; ``flip`` is True where the head points west in the crop as cut, and
        ``confidence`` is the posterior probability of the decision.
        """
        ev, sw, fwd = self._evidence, self._switch, self._filtered
        pending = len(fwd)
        start = 0  # index in the pending lists
        post: list[float] = []
        while start < pending:
            absolute = self._decided + start
            size = min(self.block - absolute % self.block, pending - start)
            horizon = start + size - 1 + self.lag  # last frame of the look-ahead
            if horizon >= pending:
                if not final:
                    break
                horizon = pending - 1
            back = _backward(0.0, ev, sw, horizon, start + size - 1, None, None)
            block_post = [0.0] * size
            _backward(back, ev, sw, start + size - 1, start - 1, block_post, fwd, start)
            post.extend(block_post)
            start += size
        k = start
        del fwd[:k], ev[:k], sw[:k]
        self._decided += k
        p = np.asarray(post, dtype=np.float64)
        flip = p < 0
        conf = (1.0 / (1.0 + np.exp(-np.abs(p)))).astype(np.float32)
        return flip, conf
