"""The shared median and percentile equal numpy's."""

import numpy as np
import pytest

from moseq2_extract.stats import median


@pytest.mark.parametrize("n", [1, 2, 3, 10, 11, 1001])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint16])
def test_median_equals_numpy(n, dtype):
    rng = np.random.default_rng(n)
    for _ in range(20):
        values = (rng.normal(670, 40, n) if np.dtype(dtype).kind == "f"
                  else rng.integers(0, 1000, n)).astype(dtype)
        assert median(values) == float(np.median(values))


def test_median_nan_and_empty():
    assert np.isnan(median(np.array([1.0, np.nan, 3.0])))
    with pytest.raises(ValueError):
        median(np.array([]))


def test_percentile_is_numpys():
    from moseq2_extract.stats import percentile

    rng = np.random.default_rng(4)
    for n in (1, 2, 7, 1800):
        for dtype in (np.uint8, np.uint16, np.float32, np.float64):
            values = (rng.random(n) * 200).astype(dtype)
            for q in (0, 1, 50, 75, 99, 100):
                assert np.isclose(percentile(values, q), np.percentile(values, q))
    with pytest.raises(ValueError):
        percentile(np.zeros(0), 50)
