import numpy as np
import pytest

from moseq2_extract.extract.hampel import hampel


def test_replaces_spikes_and_keeps_clean_samples():
    rng = np.random.default_rng(0)
    x = np.linspace(0, 10, 200) + rng.normal(0, 0.1, 200)
    dirty = x.copy()
    dirty[[20, 90, 150]] += 25
    out = hampel(dirty, span=7, sig=3)
    assert np.all(np.abs(out[[20, 90, 150]] - x[[20, 90, 150]]) < 0.5)
    changed = np.flatnonzero(out != dirty)
    assert set([20, 90, 150]) <= set(changed) and len(changed) < 12


def test_context_makes_blocks_independent():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, 100)
    x[49] = 40
    x[50] = -40
    whole = hampel(x, span=5, sig=3)
    left = hampel(x[:50], span=5, sig=3, after=x[50:])
    right = hampel(x[50:], span=5, sig=3, before=x[:50])
    np.testing.assert_array_equal(whole, np.concatenate([left, right]))


def test_nan_stays_nan_and_even_span_is_rejected():
    x = np.array([1.0, np.nan, 1.0, 50.0, 1.0, 1.0])
    out = hampel(x, span=3, sig=3)
    assert np.isnan(out[1]) and out[3] == 1.0
    with pytest.raises(ValueError):
        hampel(x, span=4, sig=3)
    np.testing.assert_array_equal(hampel(x, span=0, sig=3), x)
