"""The EM tracker's core (extract/em.py) against the generator's ground truth and against
plain float64 evaluations of the same formulas."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from moseq2_extract.extract import em
from moseq2_extract.extract.em_tracker import EMTracker
from moseq2_extract.extract.features import largest_blob

from .em_frames import MAX_HEIGHT, MIN_HEIGHT, box_frames

N_FRAMES = 60


@pytest.fixture(scope="module")
def tether():
    """Tether frames without the tail opening, so the cable is still attached."""
    return box_frames("tether", N_FRAMES, tail_filter=False)


@pytest.fixture(scope="module")
def clean():
    return box_frames("clean", N_FRAMES)


def _tracker(state=None, **kw):
    return EMTracker(state, floor=MIN_HEIGHT, ceiling=MAX_HEIGHT, **kw)


def _track(frames, method="raw", **kw):
    state = em.init_from_frames(frames.filtered, method=method, floor=MIN_HEIGHT,
                                ceiling=MAX_HEIGHT)
    return _tracker(state, **kw).track(frames.filtered, frames.raw)


def _random_spd(rng):
    a = rng.normal(size=(3, 3)) * [4.0, 3.0, 2.0]
    return a @ a.T + np.diag([20.0, 10.0, 5.0])


# ------------------------------------------------------------------ linear algebra

def test_nearest_psd_leaves_a_positive_definite_matrix_alone():
    cov = _random_spd(np.random.default_rng(0))
    assert np.array_equal(em.nearest_psd(cov), cov)


def test_nearest_psd_clips_negative_eigenvalues_keeping_the_variances():
    bad = np.array([[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    fixed = em.nearest_psd(bad)
    np.testing.assert_allclose(fixed, [[1, 1, 0], [1, 1, 0], [0, 0, 1]], atol=1e-12)
    scaled = np.diag([2.0, 3.0, 4.0]) @ bad @ np.diag([2.0, 3.0, 4.0])
    out = em.nearest_psd(scaled)
    np.testing.assert_allclose(np.diag(out), np.diag(scaled))
    assert np.linalg.eigvalsh(out).min() > -1e-9


@pytest.mark.parametrize("bad", [np.full((3, 3), np.nan), np.zeros((3, 3))])
def test_nearest_psd_rejects_what_has_no_correlation(bad):
    with pytest.raises(ValueError):
        em.nearest_psd(bad)


def test_log_likelihood_image_matches_a_float64_logpdf():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 80, size=(37, 53)).astype(np.uint8)
    mean, cov = np.array([20.0, 11.0, 30.0]), _random_spd(rng)
    ll = em.log_likelihood_image(frame, mean, cov)
    yy, xx = np.mgrid[:37, :53]
    pts = np.column_stack((xx.ravel(), yy.ravel(), frame.ravel())).astype(float)
    expect = multivariate_normal.logpdf(pts, mean, cov).reshape(37, 53)
    assert ll.dtype == np.float32 and ll.shape == frame.shape
    np.testing.assert_allclose(ll, expect, rtol=2e-6, atol=1e-4)


def test_log_likelihood_image_refuses_a_singular_covariance():
    with pytest.raises(ValueError):
        em.log_likelihood_image(np.zeros((4, 4)), np.zeros(3), np.diag([1.0, 0.0, 1.0]))


def _naive_em_iter(points, mean, cov, lamd, epsilon, max_iter):
    """The update rule written plainly: densities, their normalised weights, moments."""
    prev = 0.0
    for _ in range(max_iter):
        w = multivariate_normal.pdf(points, mean, cov)
        w = w / w.sum()
        mean = w @ points
        d = points - mean
        cov = (d.T * w) @ d + lamd * np.eye(3)
        total = np.sum(np.log(w + 1e-300))
        if 0 <= total - prev < epsilon * abs(prev):
            break
        prev = total
    return mean, cov


@pytest.mark.parametrize("max_iter", [1, 3, 15])
def test_fit_gaussian_is_the_weighted_em_update(max_iter):
    rng = np.random.default_rng(2)
    pts = rng.normal(size=(400, 3)) * [6.0, 3.0, 8.0] + [50.0, 40.0, 30.0]
    start_mean, start_cov = np.array([47.0, 42.0, 25.0]), np.diag([60.0, 20.0, 90.0])
    mean, cov = em.fit_gaussian(pts, start_mean, start_cov, lamd=30, epsilon=0.25,
                                max_iter=max_iter)
    want_mean, want_cov = _naive_em_iter(pts, start_mean, start_cov, 30, 0.25, max_iter)
    np.testing.assert_allclose(mean, want_mean, rtol=1e-10)
    np.testing.assert_allclose(cov, want_cov, rtol=1e-10)


def test_fit_gaussian_centres_on_a_symmetric_blob():
    yy, xx = np.mgrid[-5:6, -8:9]
    pts = np.column_stack((xx.ravel() + 30.0, yy.ravel() + 20.0, np.full(xx.size, 40.0)))
    mean, cov = em.fit_gaussian(pts, np.array([32.0, 19.0, 45.0]), 40 * np.eye(3))
    np.testing.assert_allclose(mean[:2], [30.0, 20.0], atol=0.6)
    assert cov[0, 0] > cov[1, 1]  # wider along x, like the blob


def test_fit_gaussian_needs_points():
    with pytest.raises(ValueError):
        em.fit_gaussian(np.empty((0, 3)), np.zeros(3), np.eye(3))


# ------------------------------------------------------------------ initialisation

def test_init_mask_keeps_the_largest_blob_without_its_thin_parts():
    frame = np.zeros((60, 80), np.uint8)
    frame[10:30, 10:40] = 40          # the mouse
    frame[40:50, 60:70] = 40          # a smaller object
    frame[19:21, 40:78] = 40          # a 2 px cable attached to the mouse
    frame[19:21, 24:26] = 0           # a hole in the mouse: filled
    frame[50:55, 5:10] = 200          # too high
    mask = em.init_mask(frame, floor=MIN_HEIGHT, ceiling=MAX_HEIGHT)
    assert mask[19, 24] and mask[25, 35]
    assert not mask[45, 65] and not mask[20, 60]
    assert not em.init_mask(np.zeros((20, 20)), floor=10, ceiling=100).any()


def test_init_state_mean_and_covariance_of_the_blob():
    frame = np.zeros((60, 80), np.uint8)
    frame[10:31, 10:41] = 40
    state = em.init_state(frame, floor=MIN_HEIGHT, ceiling=MAX_HEIGHT)
    np.testing.assert_allclose(state.mean, [25.0, 20.0, 40.0], atol=0.5)
    # z is constant on this blob: no covariance can be estimated -> 20 I
    np.testing.assert_array_equal(state.cov, 20 * np.eye(3))


def test_init_state_falls_back_on_an_empty_frame():
    frame = np.zeros((40, 30), np.uint8)
    state = em.init_state(frame, floor=MIN_HEIGHT, ceiling=MAX_HEIGHT)
    np.testing.assert_array_equal(state.mean, [14.5, 19.5, 0.0])
    np.testing.assert_array_equal(state.cov, 20 * np.eye(3))


@pytest.mark.parametrize("method", ["raw", "min", "med"])
def test_init_from_frames_finds_the_mouse(clean, method):
    state = em.init_from_frames(clean.filtered, method=method, floor=MIN_HEIGHT,
                                ceiling=MAX_HEIGHT)
    err = np.hypot(state.mean[0] - clean.true_x[0], state.mean[1] - clean.true_y[0])
    assert err < 8.0
    assert MIN_HEIGHT < state.mean[2] < MAX_HEIGHT


def test_init_from_frames_rejects_unknown_methods(clean):
    with pytest.raises(ValueError, match="init"):
        em.init_from_frames(clean.filtered, method="mean", floor=10, ceiling=100)


def test_state_must_be_a_gaussian():
    with pytest.raises(ValueError):
        em.EMState(np.zeros(3), -np.eye(3))
    with pytest.raises(ValueError):
        em.EMState(np.full(3, np.nan), np.eye(3))


# ------------------------------------------------------------------ tracking

@pytest.mark.parametrize("method", ["raw", "min", "med"])
def test_mean_follows_the_mouse(clean, method):
    """The original's test_em_tracking: mean (x, y) within 5 px of the mouse's centre."""
    res = _track(clean, method)
    m = np.array([r.mean for r in res])
    err = np.hypot(m[:, 0] - clean.true_x, m[:, 1] - clean.true_y)
    assert err.max() < 5.0
    assert np.median(err[10:]) < 2.0
    assert not any(r.reinitialised or r.fell_back for r in res)


def test_ll_peaks_on_the_mouse(clean):
    """The original's test_em_get_ll: the likelihood's argmax is at the mouse."""
    for r, x, y in zip(_track(clean), clean.true_x, clean.true_y, strict=True):
        iy, ix = np.unravel_index(np.argmax(r.ll), r.ll.shape)
        assert np.hypot(ix - x, iy - y) < 6.0
        assert r.ll.dtype == np.float32 and r.ll.shape == clean.filtered.shape[1:]


def test_tether_does_not_pull_the_tracked_mouse(tether):
    """With the cable attached, the largest blob's centroid is pulled towards it; the
    tracker's Gaussian stays on the body and its likely pixels give the body's centroid."""
    res = _track(tether)
    m = np.array([r.mean for r in res])
    em_err = np.hypot(m[:, 0] - tether.true_x, m[:, 1] - tether.true_y)
    blob_err, likely_err = [], []
    for frame, r, x, y in zip(tether.filtered, res, tether.true_x, tether.true_y,
                              strict=True):
        blob = largest_blob((frame > MIN_HEIGHT).view(np.uint8))[0]
        likely = largest_blob(((frame > MIN_HEIGHT) & (r.ll > -20)).view(np.uint8))[0]
        blob_err.append(np.hypot(blob.x - x, blob.y - y))
        likely_err.append(np.hypot(likely.x - x, likely.y - y))
    assert np.median(blob_err) > 4.0           # the cable pulls the plain blob
    assert np.percentile(likely_err, 95) < 2.0
    assert np.percentile(em_err, 95) < 5.0
    assert np.median(likely_err) < np.median(blob_err) / 3


def test_state_hand_over_gives_the_same_track(tether):
    one = _track(tether)
    state = em.init_from_frames(tether.filtered, floor=MIN_HEIGHT, ceiling=MAX_HEIGHT)
    first = _tracker(state)
    k = 23
    a = first.track(tether.filtered[:k], tether.raw[:k])
    second = _tracker(em.EMState(first.state.mean.copy(), first.state.cov.copy()))
    b = second.track(tether.filtered[k:], tether.raw[k:])
    for r, s in zip(one, a + b, strict=True):
        assert np.array_equal(r.mean, s.mean) and np.array_equal(r.cov, s.cov)
        assert np.array_equal(r.ll, s.ll) and np.array_equal(r.mask, s.mask)


def test_tracker_without_state_initialises_from_its_first_frame(clean):
    tracker = _tracker()
    assert tracker.state is None
    r = tracker.step(clean.filtered[0], clean.raw[0])
    state = em.init_state(clean.filtered[0], floor=MIN_HEIGHT, ceiling=MAX_HEIGHT)
    again = _tracker(state).step(clean.filtered[0], clean.raw[0])
    assert np.array_equal(r.mean, again.mean)
    assert tracker.state is not None and np.array_equal(tracker.state.mean, r.mean)


def test_lost_tracker_reinitialises_and_recovers(clean):
    far = em.EMState(np.array([5.0, 5.0, 30.0]), np.diag([20.0, 20.0, 50.0]))
    res = _tracker(far).track(clean.filtered, clean.raw)
    assert res[0].reinitialised and not res[0].fell_back
    assert not any(r.reinitialised for r in res[1:])
    m = np.array([r.mean for r in res])
    err = np.hypot(m[:, 0] - clean.true_x, m[:, 1] - clean.true_y)
    assert err[0] < 25.0  # the first fit starts from the lost estimate: it lands nearby
    assert err[-10:].max() < 2.0  # and the track walks onto the mouse


def test_empty_frame_falls_back_to_all_pixels():
    far = em.EMState(np.array([5.0, 5.0, 30.0]), np.diag([20.0, 20.0, 50.0]))
    r = _tracker(far).step(np.zeros((30, 40), np.uint8))
    assert r.reinitialised and r.fell_back
    np.testing.assert_array_equal(r.mean, [19.5, 14.5, 0.0])
    np.testing.assert_array_equal(r.cov, 30 * np.eye(3))
    assert not r.mask.any()


def test_mask_is_the_likely_body_in_the_height_range(tether):
    res = _track(tether)
    for frame, r in zip(tether.filtered, res, strict=True):
        assert r.mask.shape == frame.shape and r.mask.dtype == bool
        assert np.all(frame[r.mask] > MIN_HEIGHT) and np.all(frame[r.mask] < MAX_HEIGHT)
        assert r.mask.sum() > 500


def test_without_segmentation_every_likely_pixel_is_used(clean):
    res = _track(clean, segment=False)
    m = np.array([r.mean for r in res])
    assert np.hypot(m[:, 0] - clean.true_x, m[:, 1] - clean.true_y).max() < 5.0


def test_exponential_smoothing_of_the_estimate(clean):
    state = em.init_from_frames(clean.filtered, floor=MIN_HEIGHT, ceiling=MAX_HEIGHT)
    plain = _tracker(state).step(clean.filtered[1], clean.raw[1])
    smooth = _tracker(state, rho_mean=0.25, rho_cov=0.5).step(clean.filtered[1],
                                                                clean.raw[1])
    np.testing.assert_allclose(smooth.mean, 0.75 * plain.mean + 0.25 * state.mean)
    np.testing.assert_allclose(smooth.cov, 0.5 * plain.cov + 0.5 * state.cov)


def test_mean_ll_is_the_image_mean(clean):
    r = _track(clean)[0]
    assert r.mean_ll == pytest.approx(float(np.mean(r.ll.astype(np.float64))))
