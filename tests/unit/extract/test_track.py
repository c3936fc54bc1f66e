"""The original's EM functions (extract/track.py) on synthetic sessions, and the chunk
hand-over through ``helpers.extract.set_tracking_model_parameters``."""

import inspect

import numpy as np
import pytest

from moseq2_extract.extract import em
from moseq2_extract.extract.em_tracker import EMTracker
from moseq2_extract.extract.track import em_get_ll, em_init, em_iter, em_tracking
from moseq2_extract.helpers.extract import set_tracking_model_parameters

from .em_frames import MAX_HEIGHT, MIN_HEIGHT, box_frames


@pytest.fixture(scope="module")
def clean():
    """The mouse sits still for the first frames, as in the original's test (its 'min'
    and 'med' initialisations look at the first 10 frames)."""
    return box_frames("clean", 40, seed=3, ambiguous_start_frames=12)


@pytest.fixture(scope="module")
def tether():
    return box_frames("tether", 40, tail_filter=False)


def test_signatures_and_defaults_are_the_originals():
    iters = inspect.signature(em_iter).parameters
    assert [(k, p.default) for k, p in iters.items()][3:] == [
        ("lamd", 0.1), ("epsilon", 0.1), ("max_iter", 25)]
    track = inspect.signature(em_tracking).parameters
    assert list(track) == ["frames", "raw_frames", "segment", "ll_threshold", "rho_mean",
                           "rho_cov", "depth_floor", "depth_ceiling", "progress_bar",
                           "init_mean", "init_cov", "init_frames", "init_method",
                           "init_strel"]
    assert track["ll_threshold"].default == -30 and track["init_frames"].default == 10
    assert list(inspect.signature(em_get_ll).parameters) == ["frames", "mean", "cov",
                                                             "progress_bar"]
    assert list(inspect.signature(em_init).parameters) == [
        "depth_frame", "depth_floor", "depth_ceiling", "init_strel", "strel_iters"]


@pytest.mark.parametrize("init_method", ["raw", "min", "med"])
def test_em_tracking(clean, init_method):
    """Mean (x, y) within 5 px of the mouse's centre for every init method."""
    params = em_tracking(clean.filtered, clean.raw, depth_floor=MIN_HEIGHT,
                         depth_ceiling=MAX_HEIGHT, init_method=init_method,
                         progress_bar=False)
    assert params["mean"].shape == (40, 3) and params["cov"].shape == (40, 3, 3)
    err = np.hypot(params["mean"][:, 0] - clean.true_x, params["mean"][:, 1] - clean.true_y)
    assert err.max() < 5.0


def test_em_get_ll(clean):
    """The log-likelihood's argmax is at the mouse in every frame."""
    params = em_tracking(clean.filtered, clean.raw, ll_threshold=-100, progress_bar=False)
    ll = em_get_ll(clean.filtered, **params)
    assert ll.shape == clean.filtered.shape and ll.dtype == np.float64
    rows, cols = np.unravel_index(ll.reshape(len(ll), -1).argmax(axis=1), ll.shape[1:])
    assert np.hypot(cols - clean.true_x, rows - clean.true_y).max() < 6.0


def test_em_init_is_the_init_mask(clean):
    mask = em_init(clean.filtered[0], MIN_HEIGHT, MAX_HEIGHT, strel_iters=5)
    assert mask.dtype == bool
    assert np.array_equal(mask, em.init_mask(clean.filtered[0], floor=MIN_HEIGHT,
                                             ceiling=MAX_HEIGHT))
    ys, xs = np.nonzero(mask)
    assert np.hypot(xs.mean() - clean.true_x[0], ys.mean() - clean.true_y[0]) < 3.0


def test_em_iter_without_points_is_degenerate():
    mean, cov = em_iter(np.empty((0, 3)), np.ones(3), np.eye(3), lamd=30)
    np.testing.assert_array_equal(mean, np.zeros(3))
    np.testing.assert_array_equal(cov, 30 * np.eye(3))


def test_given_start_is_used_as_is(clean):
    state = em.init_from_frames(clean.filtered, floor=MIN_HEIGHT, ceiling=MAX_HEIGHT)
    shifted = state.mean + [3.0, -2.0, 0.0]
    a = em_tracking(clean.filtered[:3], clean.raw[:3], init_mean=shifted,
                    init_cov=state.cov, ll_threshold=-100)
    tracker = EMTracker(em.EMState(shifted, state.cov), ll_threshold=-100)
    b = tracker.track(clean.filtered[:3], clean.raw[:3])
    assert np.array_equal(a["mean"], np.array([r.mean for r in b]))


@pytest.mark.parametrize("overlap", [0, 4])
def test_chunks_handed_over_give_the_continuous_track(tether, overlap):
    """Chunked as the original chunks (overlap frames shared), the state taken at
    -(overlap + 1) makes every chunk's track the same as one run over all frames."""
    kw = {"ll_threshold": -100, "depth_floor": MIN_HEIGHT, "depth_ceiling": MAX_HEIGHT}
    whole = em_tracking(tether.filtered, tether.raw, **kw)
    size, n = 15, len(tether.filtered)
    mean = cov = None
    for start in range(0, n - overlap, size - overlap):
        stop = min(start + size, n)
        params = em_tracking(tether.filtered[start:stop], tether.raw[start:stop],
                             init_mean=mean, init_cov=cov, **kw)
        assert np.array_equal(params["mean"], whole["mean"][start:stop])
        assert np.array_equal(params["cov"], whole["cov"][start:stop])
        results = {"parameters": params, "mask_frames": np.zeros((stop - start, 4, 4)),
                   "depth_frames": np.zeros((stop - start, 4, 4), np.uint8)}
        _, mean, cov = set_tracking_model_parameters(results, MIN_HEIGHT, -100.0, overlap)


def test_set_tracking_model_parameters_clips_the_ll_crops(clean):
    params = em_tracking(clean.filtered[:5], clean.raw[:5], ll_threshold=-100)
    crops = np.ascontiguousarray(clean.filtered[:5, 100:140, 100:140])
    ll = em_get_ll(crops, params["mean"] - [100, 100, 0], params["cov"])
    results = {"parameters": params, "mask_frames": ll, "depth_frames": crops}
    out, mean, cov = set_tracking_model_parameters(results, MIN_HEIGHT, -100.0, 1)
    masks = out["mask_frames"]
    assert masks.dtype == np.float32 and masks.min() == -100.0
    assert np.all(masks[crops < MIN_HEIGHT] == -100.0)
    likely = (crops >= MIN_HEIGHT) & (ll > -100)
    np.testing.assert_allclose(masks[likely], ll[likely], rtol=1e-6)
    assert np.array_equal(mean, params["mean"][-2]) and np.array_equal(cov, params["cov"][-2])
