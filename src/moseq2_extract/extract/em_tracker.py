"""The EM tracker as a stream: one frame at a time, its state explicit (spec 4.9).

:class:`EMTracker` holds the only state that crosses frames, an :class:`~.em.EMState`
(mean and covariance), which can be read and set so blocks of a session can hand it on:
running frames ``0..n`` in one tracker equals running ``0..k``, taking
:attr:`EMTracker.state` and continuing ``k..n`` in a new tracker.  The per-frame pieces are
the pure functions of :mod:`.em`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .em import (
    EMState,
    _all_pixels_mean,
    _points,
    default_init_strel,
    fit_gaussian,
    init_mask,
    init_state,
    likely_region,
    log_likelihood_image,
)

__all__ = ["EMFrame", "EMTracker"]


@dataclass(frozen=True)
class EMFrame:
    """The tracker's result for one frame.

    Attributes
    ----------
    mean : ndarray, (3,) float64
        Gaussian mean after this frame ``(x, y, z)`` (px, px, mm).
    cov : ndarray, (3, 3) float64
        Gaussian covariance after this frame.
    ll : ndarray, (h, w) float32
        Log-likelihood of every pixel of the *filtered* frame under (mean, cov) of this
        frame (what the original's ``em_get_ll`` gives the features step).
    mask : ndarray, (h, w) bool
        Pixels the update used (segment region, or init mask after a re-initialisation,
        restricted to ``floor < z < ceiling``).
    reinitialised : bool
        The segment step found no region (or the update failed) and the frame was redone
        from :func:`init_mask` of the filtered, then the raw frame.
    fell_back : bool
        Tracking gave up on this frame: every pixel was used, or the estimate fell back to
        the mean of all pixels / the previous frame's estimate.
    """

    mean: np.ndarray
    cov: np.ndarray
    ll: np.ndarray
    mask: np.ndarray
    reinitialised: bool
    fell_back: bool

    @property
    def mean_ll(self) -> float:
        """Mean log-likelihood over the frame (the weight of the model smoother)."""
        return float(np.mean(self.ll, dtype=np.float64))


class EMTracker:
    """Follow the mouse's 3-D Gaussian through a stream of frames.

    Parameters
    ----------
    state : EMState, optional
        Starting estimate (e.g. from :func:`init_from_frames`, or the :attr:`state` of the
        tracker of the previous block); None = initialise from the first frame given to
        :meth:`step` (``raw`` method).
    floor, ceiling : float
        Height range of the mouse (mm): ``min_height``, ``max_height``.  Only pixels with
        ``floor < z < ceiling`` enter the updates.
    ll_threshold : float
        Log-likelihood threshold of the segment step (``tracking_ll_threshold``).
    segment : bool
        Use the largest region above the threshold (True) or every pixel above it.
    rho_mean, rho_cov : float
        Exponential smoothing weights of the previous estimate (0 = off).
    strel : ndarray, optional
        Opening kernel of the (re-)initialisation (default 9x9 ellipse).
    lamd, epsilon, max_iter
        Of :func:`fit_gaussian`.
    """

    def __init__(self, state: EMState | None = None, *, floor: float = 10.0,
                 ceiling: float = 100.0, ll_threshold: float = -100.0, segment: bool = True,
                 rho_mean: float = 0.0, rho_cov: float = 0.0,
                 strel: np.ndarray | None = None, lamd: float = 30.0, epsilon: float = 0.25,
                 max_iter: int = 15) -> None:
        self.floor, self.ceiling = float(floor), float(ceiling)
        self.ll_threshold = float(ll_threshold)
        self.segment = bool(segment)
        self.rho_mean, self.rho_cov = float(rho_mean), float(rho_cov)
        self.strel = default_init_strel() if strel is None else strel
        self.lamd, self.epsilon, self.max_iter = float(lamd), float(epsilon), int(max_iter)
        self._state = state

    @property
    def state(self) -> EMState | None:
        """The current estimate (None before the first frame when none was given)."""
        return self._state

    @state.setter
    def state(self, value: EMState | None) -> None:
        self._state = value

    def _fit(self, heights: np.ndarray, region: np.ndarray, state: EMState
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        select = region & (heights > self.floor) & (heights < self.ceiling)
        mean, cov = fit_gaussian(_points(heights, select), state.mean, state.cov,
                                 lamd=self.lamd, epsilon=self.epsilon, max_iter=self.max_iter)
        return mean, cov, select

    def step(self, filtered: np.ndarray, raw: np.ndarray | None = None) -> EMFrame:
        """Track one frame and advance the state.

        Parameters
        ----------
        filtered : ndarray, (h, w)
            Filtered heights (mm) of the frame.
        raw : ndarray, (h, w), optional
            Unfiltered heights of the same frame (used when the frame is re-initialised);
            default ``filtered``.

        Returns
        -------
        EMFrame
        """
        raw = filtered if raw is None else raw
        if self._state is None:
            self._state = init_state(filtered, floor=self.floor, ceiling=self.ceiling,
                                     strel=self.strel)
        state = self._state
        reinit = fell_back = False
        fitted = None
        ll = log_likelihood_image(filtered, state.mean, state.cov)
        region = (likely_region(ll, threshold=self.ll_threshold) if self.segment
                  else ll > self.ll_threshold)
        if region is not None:
            try:
                fitted = self._fit(filtered, region, state)
            except ValueError:
                fitted = None
        if fitted is None:  # re-initialise this frame from its raw heights
            reinit = True
            if self.segment:
                region = init_mask(filtered, floor=self.floor, ceiling=self.ceiling,
                                   strel=self.strel)
                if not region.any():
                    region = init_mask(raw, floor=self.floor, ceiling=self.ceiling,
                                       strel=self.strel)
                    if not region.any():
                        region = np.ones(raw.shape, bool)
                        fell_back = True
            else:
                region = log_likelihood_image(raw, state.mean, state.cov) > self.ll_threshold
            try:
                fitted = self._fit(raw, region, state)
            except ValueError:
                fell_back = True
                select = region & (raw > self.floor) & (raw < self.ceiling)
                if select.any():  # the update failed: keep the previous estimate
                    fitted = (state.mean, state.cov, select)
                else:  # nothing to fit: the mean of all pixels, a broad covariance
                    fitted = (_all_pixels_mean(raw), 30.0 * np.eye(3), select)
        mean_u, cov_u, select = fitted
        mean = (1.0 - self.rho_mean) * mean_u + self.rho_mean * state.mean
        cov = (1.0 - self.rho_cov) * cov_u + self.rho_cov * state.cov
        self._state = new = EMState(mean, cov)
        ll_out = log_likelihood_image(filtered, new.mean, new.cov, out=ll)
        return EMFrame(new.mean, new.cov, ll_out, select, reinit, fell_back)

    def track(self, filtered: np.ndarray, raw: np.ndarray | None = None
              ) -> list[EMFrame]:
        """:meth:`step` over a stack of frames ``(n, h, w)`` (``raw`` likewise)."""
        return [self.step(filtered[i], None if raw is None else raw[i])
                for i in range(len(filtered))]
