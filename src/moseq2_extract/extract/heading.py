"""Training-free heading: which end of the body axis is the head.

Image moments give the body axis only modulo 180 degrees.  Each frame gets a log-odds
``evidence`` that the head points east in its axis-aligned crop, from

* body shape: the rump is higher and wider than the head, so the height mass along the
  axis is skewed towards the head;
* motion: mice mostly move forward, so displacement along the axis points to the head;

and a two-state hidden Markov model (state 0 = the crop as cut faces east, state 1 = it
faces west) links frames: the state rarely changes while the axis is tracked continuously.
Posteriors come from forward filtering and a fixed-lag backward pass, so every decision
uses exactly ``lag`` frames of look-ahead and does not depend on the chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


def shape_evidence(filtered_crops: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Log-odds that the head is east, from the height profile along the body axis.

    Parameters
    ----------
    filtered_crops : ndarray, (n, c, c)
        Axis-aligned filtered height crops (mm).
    masks : ndarray, (n, c, c) bool
        Mouse masks in the same frame.

    Returns
    -------
    ndarray, (n,) float64 (0 where there is no mouse).
    """
    n, c, _ = filtered_crops.shape
    w = np.where(masks, filtered_crops, 0).astype(np.float64)
    profile = w.sum(axis=1)  # (n, c): mass per column
    xs = np.arange(c, dtype=np.float64) - (c - 1) / 2
    m0 = profile.sum(axis=1)
    ok = m0 > 0
    safe = np.where(ok, m0, 1.0)
    mu = profile @ xs / safe
    d = xs[None, :] - mu[:, None]
    var = (profile * d**2).sum(axis=1) / safe
    m3 = (profile * d**3).sum(axis=1) / safe
    skew = np.where(ok & (var > 0), m3 / np.maximum(var, 1e-9) ** 1.5, 0.0)
    return np.clip(8.0 * skew, -6.0, 6.0)


def motion_evidence(
    dx: np.ndarray, dy: np.ndarray, orientation: np.ndarray, *, scale_px: float = 0.75
) -> np.ndarray:
    """Log-odds that the head is east, from displacement along the body axis.

    Parameters
    ----------
    dx, dy : ndarray, (n,)
        Displacement of the centroid (px per frame, image coordinates, y down), NaN-safe.
    orientation : ndarray, (n,)
        Axis angle of the crop (radians, counter-clockwise as displayed).
    scale_px : float
        Displacement (px/frame) at which motion evidence is worth about one unit.

    Returns
    -------
    ndarray, (n,) float64.
    """
    along = dx * np.cos(orientation) - dy * np.sin(orientation)
    along = np.nan_to_num(along)
    return 3.0 * np.tanh(along / (2 * scale_px)) * np.clip(np.abs(along) / scale_px, 0, 1)


def _propagate(logodds: np.ndarray, p_switch: np.ndarray) -> np.ndarray:
    """Log-odds after a transition that swaps the two states with probability p."""
    e = np.exp(-np.abs(logodds))  # stable in both tails
    q = 1 - p_switch
    pos = logodds > 0
    num = np.where(pos, q + p_switch * e, q * e + p_switch)
    den = np.where(pos, p_switch + q * e, p_switch * e + q)
    return np.log(num) - np.log(den)


@dataclass
class HeadingSmoother:
    """Streaming two-state HMM with fixed-lag smoothing.

    Feed frames in order with :meth:`push`; :meth:`decide` returns decisions for every frame
    whose look-ahead is complete (all remaining ones once ``final`` is true).

    Parameters
    ----------
    lag : int
        Frames of look-ahead per decision.
    """

    lag: int = 300
    _filtered: list = field(default_factory=list)  # forward log-odds, pending frames
    _evidence: list = field(default_factory=list)  # evidence, pending + lag frames
    _switch: list = field(default_factory=list)  # p_switch into each pending frame
    _last: float = 0.0
    _decided: int = 0  # frames decided so far
    _seen: int = 0

    def push(self, evidence: np.ndarray, p_switch: np.ndarray) -> None:
        """Add frames: per-frame log-odds and the switch probability from the previous frame.

        Parameters
        ----------
        evidence : ndarray, (k,) float
        p_switch : ndarray, (k,) float in (0, 0.5]
        """
        last = self._last
        out = np.empty(len(evidence))
        for i, (e, p) in enumerate(zip(evidence.tolist(), p_switch.tolist())):
            if p >= 0.5:
                prior = 0.0
            else:
                a = np.exp(-abs(last))
                q = 1 - p
                prior = float(np.log((q + p * a) / (p + q * a)))
                if last < 0:
                    prior = -prior
            last = prior + e
            out[i] = last
        self._last = last
        self._filtered.extend(out.tolist())
        self._evidence.extend(np.asarray(evidence, float).tolist())
        self._switch.extend(np.asarray(p_switch, float).tolist())
        self._seen += len(evidence)

    def decide(self, *, final: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Decisions for frames whose look-ahead is available.

        Returns
        -------
        (flip, confidence) : ndarray (k,) bool and (k,) float32 for the next k frames in
        order; ``flip`` is True where the head points west in the crop as cut.
        """
        pending = len(self._filtered)
        k = pending if final else max(0, pending - self.lag)
        if k == 0:
            return np.zeros(0, bool), np.zeros(0, np.float32)
        ev = np.asarray(self._evidence)
        sw = np.asarray(self._switch)
        fwd = np.asarray(self._filtered[:k])
        idx = np.arange(k)
        horizon = np.minimum(idx + self.lag, pending - 1)
        back = np.zeros(k)
        for j in range(self.lag, 0, -1):
            t = idx + j  # frame whose evidence enters the message
            active = t <= horizon
            if not active.any():
                continue
            tt = np.minimum(t, pending - 1)
            upd = _propagate(back + ev[tt], sw[tt])
            back = np.where(active, upd, back)
        post = fwd + back
        flip = post < 0
        conf = (1.0 / (1.0 + np.exp(-np.abs(post)))).astype(np.float32)
        del self._filtered[:k], self._evidence[:k], self._switch[:k]
        self._decided += k
        return flip, conf
