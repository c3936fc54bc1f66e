"""The EM model smoother and the log-likelihood crop clipping (extract/em_post.py)."""

import numpy as np
import pytest

from moseq2_extract.extract.em_post import (
    clip_ll_crops,
    fill_nan_nearest,
    likelihood_weights,
    smooth_by_likelihood,
)


@pytest.mark.parametrize("clips", [(0, 0), (-100, -300)])
def test_weights_are_off_unless_the_clips_are_ordered(clips):
    assert likelihood_weights(np.array([-200.0, -50.0]), clips) is None


def test_weights_rise_linearly_between_the_clips():
    s = likelihood_weights(np.array([-400.0, -300.0, -225.0, -150.0, -10.0]), (-300, -150))
    np.testing.assert_allclose(s, [0, 0, 0.5, 1, 1])


def test_nan_fill_takes_the_nearest_sample_earlier_on_ties():
    v = np.array([np.nan, 10, np.nan, 20, np.nan, np.nan, 30, np.nan])
    np.testing.assert_array_equal(fill_nan_nearest(v), [10, 10, 10, 20, 20, 30, 30, 30])
    two = np.column_stack((v, np.full(8, np.nan)))
    out = fill_nan_nearest(two)
    np.testing.assert_array_equal(out[:, 0], fill_nan_nearest(v))
    assert np.isnan(out[:, 1]).all()
    assert np.isnan(v[0])  # the input is not modified


def test_full_trust_changes_nothing_but_the_gaps():
    v = np.array([1.0, np.nan, 3.0, 7.0])
    np.testing.assert_array_equal(smooth_by_likelihood(v, np.ones(4)), [1, 1, 3, 7])


def test_an_untrusted_frame_takes_its_neighbours_value():
    x = np.column_stack((np.arange(6.0), 10 * np.arange(6.0)))
    s = np.array([1, 1, 1, 0, 1, 1.0])
    out = smooth_by_likelihood(x, s)
    # forward: frame 3 copies frame 2; backward: frame 3 (weight 0) copies frame 4
    np.testing.assert_array_equal(out[:, 0], [0, 1, 2, 4, 4, 5])
    half = smooth_by_likelihood(np.array([0.0, 0.0, 8.0]), np.array([1, 1, 0.5]))
    np.testing.assert_allclose(half, [0, 0, 4])


def test_the_originals_forward_pass_starts_at_frame_two():
    # frame 1 untrusted: from 1 the forward pass carries frame 0 to the end; from 2 it
    # carries frame 1's own value, which the backward pass brings back
    w = np.array([0.0, 8.0, 0.0])
    assert smooth_by_likelihood(w, np.array([1.0, 0.0, 0.0]), first=1)[1] == 0.0
    assert smooth_by_likelihood(w, np.array([1.0, 0.0, 0.0]), first=2)[1] == 8.0


def test_smoother_checks_lengths():
    with pytest.raises(ValueError):
        smooth_by_likelihood(np.zeros(4), np.ones(3))


def test_clip_ll_crops():
    ll = np.array([[[-5.0, -150.0], [-20.0, np.nan]]])
    depth = np.array([[[30, 30], [5, 30]]], np.uint8)
    out = clip_ll_crops(ll, depth, min_height=10, ll_clip=-100)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[0, 0], [-5, -100])
    assert out[0, 1, 0] == -100  # below min_height
    assert np.isnan(out[0, 1, 1])
    assert ll[0, 0, 1] == -150.0
