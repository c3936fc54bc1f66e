"""Small statistics shared by the layers, without numpy's extra imports."""

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
