"""``moseq2_extract.extract.track``: the original's EM tracking functions (spec 4.9, 6.5).

Same names, parameters, defaults and return shapes as moseq2-extract 1.4.0, computed by
:mod:`moseq2_extract.extract.em`.  ``progress_bar`` is accepted and ignored (library code
shows no progress bars here).
"""

from __future__ import annotations

import numpy as np

from . import em
from .em_tracker import EMTracker

__all__ = ["em_get_ll", "em_init", "em_iter", "em_tracking"]


def em_iter(data: np.ndarray, mean: np.ndarray, cov: np.ndarray, lamd: float = 0.1,
            epsilon: float = 1e-1, max_iter: int = 25) -> tuple[np.ndarray, np.ndarray]:
    """Weighted EM updates of a 3-D Gaussian (:func:`~moseq2_extract.extract.em.fit_gaussian`).

    Parameters
    ----------
    data : ndarray, (k, 3)
        ``(x, y, z)`` points.
    mean : ndarray, (3,)
    cov : ndarray, (3, 3)
        Starting estimate.
    lamd : float
        Added to the covariance's diagonal at every update.
    epsilon : float
        Relative tolerance on the change of the summed log-weights.
    max_iter : int

    Returns
    -------
    (mean (3,), cov (3, 3)); with no points, the original's degenerate result (a zero mean
    and ``lamd I``).
    """
    data = np.asarray(data, dtype=np.float64)
    if data.size == 0:
        return np.zeros(3), em.nearest_psd(lamd * np.eye(3))
    return em.fit_gaussian(data, mean, cov, lamd=lamd, epsilon=epsilon, max_iter=max_iter)


def em_init(depth_frame: np.ndarray, depth_floor: float, depth_ceiling: float,
            init_strel: np.ndarray | None = None, strel_iters: int = 1) -> np.ndarray:
    """Mask of the mouse to start tracking from (:func:`~moseq2_extract.extract.em.init_mask`).

    Pixels with ``depth_floor < z < depth_ceiling``, opened once with ``init_strel``
    (default a 9x9 ellipse), largest contour filled.  ``strel_iters`` is accepted for
    compatibility; the original's opening ran once whatever its value (spec 7.1 item 3).

    Returns
    -------
    ndarray, (h, w) bool
    """
    return em.init_mask(depth_frame, floor=depth_floor, ceiling=depth_ceiling,
                        strel=init_strel)


def em_tracking(frames: np.ndarray, raw_frames: np.ndarray, segment: bool = True,
                ll_threshold: float = -30, rho_mean: float = 0, rho_cov: float = 0,
                depth_floor: float = 10, depth_ceiling: float = 100,
                progress_bar: bool = True, init_mean: np.ndarray | None = None,
                init_cov: np.ndarray | None = None, init_frames: int = 10,
                init_method: str = "raw", init_strel: np.ndarray | None = None
                ) -> dict[str, np.ndarray]:
    """Follow a 3-D Gaussian over (x, y, height) through a chunk (spec 4.9).

    Parameters
    ----------
    frames : ndarray, (n, h, w)
        Filtered heights (mm).
    raw_frames : ndarray, (n, h, w)
        Unfiltered heights of the same frames (used when a frame is re-initialised).
    segment : bool
        Update on the largest region of likely pixels (else every likely pixel).
    ll_threshold : float
        Log-likelihood threshold of the likely pixels (``extract_chunk`` passes -100).
    rho_mean, rho_cov : float
        Exponential smoothing of the estimate (0 = off).
    depth_floor, depth_ceiling : float
        Height range of the mouse (mm).
    progress_bar : bool
        Ignored.
    init_mean, init_cov : ndarray, optional
        Starting estimate (e.g. from the previous chunk); what is missing is estimated
        from the first frames with ``init_method`` over ``init_frames`` frames.
    init_frames : int
    init_method : {'raw', 'min', 'med'}
    init_strel : ndarray, optional
        Opening kernel of the initialisation (default a 9x9 ellipse).

    Returns
    -------
    dict with ``mean`` (n, 3) float64 and ``cov`` (n, 3, 3) float64.
    """
    frames = np.asarray(frames)
    n = len(frames)
    out = {"mean": np.full((n, 3), np.nan), "cov": np.full((n, 3, 3), np.nan)}
    if n == 0:
        return out
    if init_mean is None or init_cov is None:
        start = em.init_from_frames(frames, method=init_method, n_init=init_frames,
                                    floor=depth_floor, ceiling=depth_ceiling,
                                    strel=init_strel)
        mean = start.mean if init_mean is None else init_mean
        cov = start.cov if init_cov is None else init_cov
    else:
        mean, cov = init_mean, init_cov
    tracker = EMTracker(em.EMState(mean, cov), floor=depth_floor, ceiling=depth_ceiling,
                           ll_threshold=ll_threshold, segment=segment, rho_mean=rho_mean,
                           rho_cov=rho_cov, strel=init_strel)
    for i in range(n):
        r = tracker.step(frames[i], raw_frames[i])
        out["mean"][i] = r.mean
        out["cov"][i] = r.cov
    return out


def em_get_ll(frames: np.ndarray, mean: np.ndarray, cov: np.ndarray,
              progress_bar: bool = False) -> np.ndarray:
    """Log-likelihood of every pixel of every frame under that frame's Gaussian.

    Parameters
    ----------
    frames : ndarray, (n, h, w)
        Heights (mm).
    mean : ndarray, (n, 3)
    cov : ndarray, (n, 3, 3)
        Per-frame estimates (``em_tracking``'s output).
    progress_bar : bool
        Ignored.

    Returns
    -------
    ndarray, (n, h, w) float64 (computed in float32,
    :func:`~moseq2_extract.extract.em.log_likelihood_image`).
    """
    frames = np.asarray(frames)
    ll = np.empty(frames.shape, np.float64)
    buf = np.empty(frames.shape[1:], np.float32)
    for i in range(len(frames)):
        ll[i] = em.log_likelihood_image(frames[i], mean[i], cov[i], out=buf)
    return ll
