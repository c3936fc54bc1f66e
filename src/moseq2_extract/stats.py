"""Small statistics shared by the layers, without numpy's extra imports (``np.median``,
``np.percentile`` and ``np.unique`` import ``numpy.ma`` on their first call: 6-10 ms)."""

from __future__ import annotations

import numpy as np


def median(values: np.ndarray) -> float:
    """Median of a 1-D array, exactly as ``np.median`` (NaN if any value is NaN).

    ``np.median`` imports ``numpy.ma`` on its first call (a few tens of milliseconds on
    the way to the first extracted frame); this is the same partition and mean of the two
    middle values.

    Parameters
    ----------
    values : array-like, 1-D, non-empty
    """
    a = np.asarray(values).ravel()
    n = a.size
    if n == 0:
        raise ValueError("median of an empty array")
    if a.dtype.kind == "f" and np.isnan(a).any():
        return float("nan")
    half = n // 2
    if n % 2:
        part = np.partition(a, half)
        return float(np.mean(part[half:half + 1]))
    part = np.partition(a, (half - 1, half))
    return float(np.mean(part[half - 1:half + 1]))  # in the input's precision, as numpy


def percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear interpolation) of a 1-D array, through a
    partial sort: without ``numpy.ma``'s import, and a tenth of numpy's time on a few
    thousand values.

    Parameters
    ----------
    values : array-like, 1-D, non-empty, without NaN
    q : float
        Percentile, 0 to 100.
    """
    a = np.asarray(values).ravel()
    if a.size == 0:
        raise ValueError("percentile of an empty array")
    pos = (a.size - 1) * float(q) / 100.0
    lo = int(pos)
    hi = min(lo + 1, a.size - 1)
    part = np.partition(a, (lo, hi))
    x, y = float(part[lo]), float(part[hi])
    return x + (y - x) * (pos - lo)
