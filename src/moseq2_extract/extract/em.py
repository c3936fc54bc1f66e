"""The EM cable tracker: a 3-D Gaussian over (x, y, height) followed frame by frame (spec 4.9).

Every pixel of a height frame is a point ``(x = column, y = row, z = height in mm)``.  The
mouse is modelled as one Gaussian over those points; each frame, the pixels likely under the
previous frame's Gaussian (the largest region whose log-likelihood exceeds a threshold) are
used for a few weighted EM updates of its mean and covariance, so a cable attached to the
mouse, which is unlikely under the body's Gaussian, does not pull the estimate.

The functions are pure and work on one frame; :class:`~.em_tracker.EMTracker` follows a
stream of frames with an explicit :class:`EMState` (mean and covariance).

Differences from the original (all numerical, none in the algorithm):

* the log-likelihood image is computed in float32 from a closed-form 3x3 Cholesky factor
  (the original used ``scipy.stats.multivariate_normal.logpdf`` in float64);
* the EM weights are normalised in the log domain, so they cannot underflow to 0/0 (the
  original divided densities, which turns the estimate into NaN for far-away points);
* :func:`nearest_psd` returns its input unchanged when no eigenvalue needs clipping (the
  original's ``statsmodels`` call rescales it, changing the last bits).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "EMState",
    "INIT_METHODS",
    "default_init_strel",
    "fit_gaussian",
    "init_from_frames",
    "init_mask",
    "init_state",
    "likely_region",
    "log_likelihood_image",
    "nearest_psd",
]

INIT_METHODS = ("raw", "min", "med")
_LOG_2PI_3 = 3.0 * math.log(2.0 * math.pi)


def default_init_strel() -> np.ndarray:
    """The original's initialisation kernel: a 9x9 ellipse (uint8)."""
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9))


# --------------------------------------------------------------------------- linear algebra

def nearest_psd(cov: np.ndarray, *, threshold: float = 1e-15) -> np.ndarray:
    """Nearest positive-semidefinite covariance by eigenvalue clipping of the correlation.

    The covariance is turned into a correlation matrix, eigenvalues below ``threshold``
    are raised to it, the result is rescaled to a unit diagonal and turned back into a
    covariance with the original standard deviations (the ``clipped`` method of
    ``statsmodels``' ``cov_nearest``).  A matrix that needs no clipping is returned as is.

    Parameters
    ----------
    cov : ndarray, (d, d) float
        Symmetric matrix with a positive diagonal.

    Returns
    -------
    ndarray, (d, d) float64

    Raises
    ------
    ValueError
        Non-finite entries or a diagonal entry <= 0 (no correlation matrix exists).
    """
    cov = np.asarray(cov, dtype=np.float64)
    std = np.sqrt(np.diag(cov)) if np.all(np.diag(cov) > 0) else None
    if std is None or not np.all(np.isfinite(cov)):
        raise ValueError("covariance has non-finite entries or a non-positive variance")
    outer = np.outer(std, std)
    corr = cov / outer
    try:  # no eigenvalue below the threshold <=> corr - threshold I is positive definite
        np.linalg.cholesky(corr - threshold * np.eye(len(corr)))
        return cov.copy()
    except np.linalg.LinAlgError:
        pass
    evals, evecs = np.linalg.eigh(corr)
    if not np.any(evals < threshold):
        return cov.copy()
    clipped = (evecs * np.maximum(evals, threshold)) @ evecs.T
    d = np.sqrt(np.diag(clipped))
    clipped = clipped / d / d[:, None]
    return clipped * outer


def _nearest_psd3(sxx: float, sxy: float, sxz: float, syy: float, syz: float,
                  szz: float, threshold: float = 1e-15) -> np.ndarray:
    """:func:`nearest_psd` of a symmetric 3x3 matrix given by its upper triangle, with the
    no-clipping test done in scalars (the hot path of :func:`fit_gaussian`)."""
    cov = np.array([[sxx, sxy, sxz], [sxy, syy, syz], [sxz, syz, szz]])
    if sxx > 0 and syy > 0 and szz > 0:
        sx, sy, sz = math.sqrt(sxx), math.sqrt(syy), math.sqrt(szz)
        rxy, rxz, ryz = sxy / (sx * sy), sxz / (sx * sz), syz / (sy * sz)
        d = 1.0 - threshold
        corr = np.array([[d, rxy, rxz], [rxy, d, ryz], [rxz, ryz, d]])
        try:  # no eigenvalue below the threshold: nothing to clip
            _chol3(corr)
            return cov
        except ValueError:
            pass
    return nearest_psd(cov, threshold=threshold)


def _chol3(cov: np.ndarray) -> tuple[float, float, float, float, float, float]:
    """Lower Cholesky factor ``[[a, 0, 0], [b, c, 0], [d, e, f]]`` of a 3x3 covariance.

    Raises ValueError when the matrix is not positive definite (or not finite).
    """
    s00, s10, s11 = float(cov[0, 0]), float(cov[1, 0]), float(cov[1, 1])
    s20, s21, s22 = float(cov[2, 0]), float(cov[2, 1]), float(cov[2, 2])
    if not s00 > 0:
        raise ValueError("covariance is not positive definite")
    a = math.sqrt(s00)
    b = s10 / a
    c2 = s11 - b * b
    if not c2 > 0:
        raise ValueError("covariance is not positive definite")
    c = math.sqrt(c2)
    d = s20 / a
    e = (s21 - b * d) / c
    f2 = s22 - d * d - e * e
    if not f2 > 0 or not math.isfinite(f2):
        raise ValueError("covariance is not positive definite")
    return a, b, c, d, e, math.sqrt(f2)


def _whitener(cov: np.ndarray) -> tuple[np.ndarray, float]:
    """``(M, const)`` with ``M = L^-1`` (lower triangular, 3x3) and
    ``const = -0.5 (log det cov + 3 log 2 pi)``, so that
    ``log N(p | m, cov) = const - 0.5 |M (p - m)|^2``."""
    a, b, c, d, e, f = _chol3(cov)
    m = np.zeros((3, 3))
    m[0, 0] = 1.0 / a
    m[1, 0] = -b / (a * c)
    m[1, 1] = 1.0 / c
    m[2, 0] = (b * e - c * d) / (a * c * f)
    m[2, 1] = -e / (c * f)
    m[2, 2] = 1.0 / f
    logdet = 2.0 * (math.log(a) + math.log(c) + math.log(f))
    return m, -0.5 * (logdet + _LOG_2PI_3)


def _is_positive_definite(cov: np.ndarray) -> bool:
    try:
        _chol3(cov)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- per-frame maths

@functools.lru_cache(maxsize=8)
def _pixel_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only float32 images of the column (x) and row (y) index of every pixel."""
    x = np.tile(np.arange(w, dtype=np.float32), (h, 1))
    y = np.tile(np.arange(h, dtype=np.float32)[:, None], (1, w))
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def log_likelihood_image(frame: np.ndarray, mean: np.ndarray, cov: np.ndarray, *,
                         out: np.ndarray | None = None) -> np.ndarray:
    """Log-density of every pixel ``(x = column, y = row, z = frame value)`` under a 3-D
    Gaussian.

    With ``L`` the Cholesky factor of ``cov`` and ``u = L^-1 (p - mean)``, the density is
    ``const - |u|^2 / 2``; the three components of ``u`` are affine in (x, y, z), so the
    image is a few fused float32 passes (OpenCV, which releases the GIL).  Values agree
    with a float64 evaluation to about 1e-6 relative.

    Parameters
    ----------
    frame : ndarray, (h, w), any real dtype
        Heights (mm).
    mean : ndarray, (3,)
        Gaussian mean ``(x, y, z)`` (px, px, mm).
    cov : ndarray, (3, 3)
        Positive-definite covariance.
    out : ndarray, (h, w) float32, optional
        Destination.

    Returns
    -------
    ndarray, (h, w) float32
        Natural-log density (per px² mm).

    Raises
    ------
    ValueError
        ``cov`` is not positive definite.
    """
    h, w = frame.shape
    m, const = _whitener(np.asarray(cov, dtype=np.float64))
    mx, my, mz = (float(v) for v in mean)
    x, y = _pixel_grid(h, w)
    z = np.asarray(frame, dtype=np.float32)
    u = cv2.addWeighted(x, m[0, 0], x, 0.0, -m[0, 0] * mx)
    q = cv2.multiply(u, u)
    cv2.addWeighted(x, m[1, 0], y, m[1, 1], -(m[1, 0] * mx + m[1, 1] * my), dst=u)
    cv2.accumulateSquare(u, q)
    cv2.addWeighted(x, m[2, 0], y, m[2, 1],
                    -(m[2, 0] * mx + m[2, 1] * my + m[2, 2] * mz), dst=u)
    cv2.scaleAdd(z, m[2, 2], u, dst=u)
    cv2.accumulateSquare(u, q)
    if out is None:
        out = np.empty((h, w), np.float32)
    cv2.addWeighted(q, -0.5, q, 0.0, const, dst=out)
    return out


def _fill_largest_contour(binary: np.ndarray) -> np.ndarray | None:
    """The largest-area outer contour of a uint8 0/1 image, filled (holes included), as a
    bool mask; None when the image has no contour."""
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return None
    areas = [cv2.contourArea(c) for c in contours]
    best = max(range(len(areas)), key=areas.__getitem__)  # the first of equal maxima
    filled = np.zeros(binary.shape, np.uint8)
    cv2.drawContours(filled, contours, best, 1, thickness=cv2.FILLED)
    return filled.view(bool)


def likely_region(ll: np.ndarray, *, threshold: float) -> np.ndarray | None:
    """The largest region of ``ll > threshold``, filled (the segment step).

    Parameters
    ----------
    ll : ndarray, (h, w) float
        Log-likelihood image.
    threshold : float

    Returns
    -------
    ndarray, (h, w) bool, or None when no pixel exceeds the threshold.
    """
    return _fill_largest_contour((ll > threshold).view(np.uint8))


def init_mask(frame: np.ndarray, *, floor: float, ceiling: float,
              strel: np.ndarray | None = None) -> np.ndarray:
    """The initialisation mask of one frame (the original's ``em_init``).

    Pixels with ``floor < z < ceiling``, opened once with ``strel`` (default a 9x9
    ellipse), then the largest contour filled.

    Parameters
    ----------
    frame : ndarray, (h, w)
        Heights (mm).
    floor, ceiling : float
        Height range (mm) of the mouse (``min_height``, ``max_height``).
    strel : ndarray, optional
        Opening kernel.

    Returns
    -------
    ndarray, (h, w) bool; all False when nothing is left after the opening.
    """
    inside = ((frame > floor) & (frame < ceiling)).view(np.uint8)
    opened = cv2.morphologyEx(inside, cv2.MORPH_OPEN,
                              default_init_strel() if strel is None else strel)
    filled = _fill_largest_contour(opened)
    return np.zeros(frame.shape, bool) if filled is None else filled


def _points(frame: np.ndarray, select: np.ndarray) -> np.ndarray:
    """``(k, 3)`` float64 points ``(x, y, z)`` of the selected pixels, row-major order."""
    idx = np.flatnonzero(select)
    rows, cols = np.divmod(idx, frame.shape[1])
    return np.column_stack((cols, rows, frame.reshape(-1)[idx])).astype(np.float64)


def _all_pixels_mean(frame: np.ndarray) -> np.ndarray:
    h, w = frame.shape
    return np.array([(w - 1) / 2.0, (h - 1) / 2.0, float(np.mean(frame, dtype=np.float64))])


def fit_gaussian(points: np.ndarray, mean: np.ndarray, cov: np.ndarray, *,
                 lamd: float = 30.0, epsilon: float = 0.25, max_iter: int = 15
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Weighted EM updates of a Gaussian on a set of points (the original's ``em_iter``).

    Each iteration weights the points by their density under the current estimate,
    normalised to sum 1, and sets ``mean = sum w p`` and
    ``cov = nearest_psd(sum w (p - mean)(p - mean)^T + lamd I)``.  It stops after
    ``max_iter`` iterations or when the change of ``L = sum log w`` satisfies
    ``0 <= L - L_prev < epsilon |L_prev|``.

    Parameters
    ----------
    points : ndarray, (k, 3) float
        ``(x, y, z)`` points (k >= 1).
    mean : ndarray, (3,)
    cov : ndarray, (3, 3)
        Starting estimate (positive definite).
    lamd : float
        Regulariser added to the diagonal of every covariance update.
    epsilon : float
        Relative tolerance of the stopping rule.
    max_iter : int

    Returns
    -------
    (mean (3,) float64, cov (3, 3) float64)

    Raises
    ------
    ValueError
        No points, or a covariance that is not positive definite.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or points.shape[0] == 0:
        raise ValueError(f"need (k >= 1, 3) points to fit, got shape {points.shape}")
    x, y, z = (np.ascontiguousarray(points[:, j]) for j in range(3))
    mx, my, mz = (float(v) for v in np.asarray(mean, dtype=np.float64).reshape(3))
    cov = np.asarray(cov, dtype=np.float64)
    lamd = float(lamd)
    prev = 0.0
    for _ in range(max_iter):
        m, _const = _whitener(cov)
        dx, dy, dz = x - mx, y - my, z - mz
        q = np.square(m[0, 0] * dx)
        u = m[1, 0] * dx
        u += m[1, 1] * dy
        q += np.square(u, out=u)
        u = m[2, 0] * dx
        u += m[2, 1] * dy
        u += m[2, 2] * dz
        q += np.square(u, out=u)
        q *= -0.5  # log density up to a constant, which cancels in the weights
        q -= q.max()
        weights = np.exp(q, out=q)
        weights /= weights.sum()
        mx, my, mz = float(weights @ x), float(weights @ y), float(weights @ z)
        np.subtract(x, mx, out=dx)
        np.subtract(y, my, out=dy)
        np.subtract(z, mz, out=dz)
        wx, wy = weights * dx, weights * dy
        sxx, sxy, sxz = float(wx @ dx) + lamd, float(wx @ dy), float(wx @ dz)
        syy, syz = float(wy @ dy) + lamd, float(wy @ dz)
        szz = float((weights * dz) @ dz) + lamd
        cov = _nearest_psd3(sxx, sxy, sxz, syy, syz, szz)
        total = float(np.sum(np.log(weights + 1e-300)))
        delta = total - prev
        if 0 <= delta < epsilon * abs(prev):
            break
        prev = total
    return np.array([mx, my, mz]), cov


# --------------------------------------------------------------------------- state and init

@dataclass(frozen=True)
class EMState:
    """What the tracker carries from one frame to the next.

    Attributes
    ----------
    mean : ndarray, (3,) float64
        ``(x, y, z)``: column and row (px, in the frame's coordinates) and height (mm).
    cov : ndarray, (3, 3) float64
        Positive-definite covariance (px², px·mm, mm²).
    """

    mean: np.ndarray
    cov: np.ndarray

    def __post_init__(self) -> None:
        mean = np.array(self.mean, dtype=np.float64).reshape(3)
        cov = np.array(self.cov, dtype=np.float64).reshape(3, 3)
        if not np.all(np.isfinite(mean)):
            raise ValueError(f"EM mean must be finite, got {mean}")
        if not _is_positive_definite(cov):
            raise ValueError(f"EM covariance must be positive definite, got {cov.tolist()}")
        mean.setflags(write=False)
        cov.setflags(write=False)
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)


def init_state(frame: np.ndarray, *, floor: float, ceiling: float,
               strel: np.ndarray | None = None, heights: np.ndarray | None = None
               ) -> EMState:
    """Initial Gaussian from one frame.

    The pixels of :func:`init_mask` of ``frame`` are taken with their heights in
    ``heights`` (default ``frame``); mean = their mean, covariance = :func:`nearest_psd` of
    their sample covariance.  Fallbacks: covariance ``20 I`` when it cannot be estimated
    (fewer than 2 pixels, a zero variance, not positive definite), mean over all pixels
    when the mask is empty.

    Parameters
    ----------
    frame : ndarray, (h, w)
        Frame that selects the pixels (heights, mm).
    floor, ceiling : float
        Height range of the mouse (mm).
    strel : ndarray, optional
        Opening kernel of :func:`init_mask`.
    heights : ndarray, (h, w), optional
        Heights of the selected pixels (the original takes them from the first filtered
        frame whatever frame selected them).
    """
    heights = frame if heights is None else heights
    select = init_mask(frame, floor=floor, ceiling=ceiling, strel=strel)
    pts = _points(heights, select)
    mean = pts.mean(axis=0) if len(pts) else _all_pixels_mean(heights)
    cov = 20.0 * np.eye(3)
    if len(pts) >= 2:
        try:
            candidate = nearest_psd(np.cov(pts, rowvar=False))
        except ValueError:
            candidate = None
        if candidate is not None and _is_positive_definite(candidate):
            cov = candidate
    return EMState(mean, cov)


def init_from_frames(frames: np.ndarray, *, method: str = "raw", n_init: int = 10,
                     floor: float, ceiling: float, strel: np.ndarray | None = None
                     ) -> EMState:
    """Initial Gaussian from the first frames of a session (``tracking_model_init``).

    Parameters
    ----------
    frames : ndarray, (n, h, w)
        Filtered heights (mm), n >= 1.
    method : {'raw', 'min', 'med'}
        Select the pixels on the first frame (``raw``), on the pixel-wise minimum
        (``min``) or median (``med``) of the first ``n_init`` frames; their heights are
        always those of the first frame.
    n_init : int
        Frames used by ``min`` and ``med``.
    floor, ceiling, strel
        As in :func:`init_state`.
    """
    if method not in INIT_METHODS:
        raise ValueError(f"tracking model init must be one of {INIT_METHODS}, got {method!r}")
    frames = np.asarray(frames)
    if frames.ndim != 3 or len(frames) == 0:
        raise ValueError(f"frames must be (n >= 1, h, w), got shape {frames.shape}")
    if method == "raw":
        use = frames[0]
    elif method == "min":
        use = frames[:n_init].min(axis=0)
    else:
        use = np.median(frames[:n_init], axis=0)
    return init_state(use, floor=floor, ceiling=ceiling, strel=strel, heights=frames[0])
