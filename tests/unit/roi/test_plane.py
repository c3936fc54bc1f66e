import numpy as np
import pytest

from moseq2_extract.roi.plane import auto_depth_range, fit_plane_ransac, plane_from_points


def tilted_floor(shape=(120, 160), a=0.05, b=-0.08, d0=670.0):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (d0 + a * xx + b * yy).astype(np.float64)


def test_plane_from_points_exact_and_degenerate():
    pts = np.array([[[0, 0, 5], [1, 0, 7], [0, 1, 10]],  # z = 5 + 2x + 5y
                    [[0, 0, 0], [1, 1, 1], [2, 2, 2]]], dtype=float)
    planes = plane_from_points(pts)
    a, b, c, d = planes[0]
    assert np.isclose(-a / c, 2) and np.isclose(-b / c, 5) and np.isclose(-d / c, 5)
    assert np.all(np.isnan(planes[1, :3]))


def test_ransac_recovers_noisy_tilted_plane_and_is_seeded():
    rng = np.random.default_rng(1)
    bg = tilted_floor() + rng.normal(0, 1.5, (120, 160))
    bg[:20] = 400  # a wall closer to the camera, out of range
    fit1 = fit_plane_ransac(bg, depth_range=(620, 720), rng=3)
    fit2 = fit_plane_ransac(bg, depth_range=(620, 720), rng=3)
    assert fit1.ok
    np.testing.assert_array_equal(fit1.plane, fit2.plane)
    a, b, c, d = fit1.plane
    assert abs(-a / c - 0.05) < 0.01 and abs(-b / c + 0.08) < 0.01
    assert (fit1.distance[20:] < 10).mean() > 0.99
    assert np.all(fit1.distance[:20] > 100)


def test_ransac_reports_failure_instead_of_raising():
    bg = np.full((50, 50), 1000.0)
    fit = fit_plane_ransac(bg, depth_range=(600, 700))
    assert not fit.ok
    assert "600-700" in fit.reason


def test_auto_depth_range_ignores_invalid_centre_pixel():
    bg = tilted_floor((200, 200))
    bg[95:105, 95:105] = 0  # invalid centre (the original reads exactly this pixel)
    lo, hi = auto_depth_range(bg)
    assert lo < 670 < hi and hi - lo == 100


@pytest.mark.parametrize("n_points", [1, 1023, 1024, 3001])
def test_chunked_plane_scores_equal_the_full_distance_matrix(n_points):
    """RANSAC's scores are computed a chunk of points at a time; they must be the very
    numbers (bits) of the one-pass formula, so the chosen plane cannot change."""
    from moseq2_extract.roi.plane import plane_from_points, score_planes

    rng = np.random.default_rng(n_points)
    pts = np.column_stack([rng.uniform(0, 512, n_points), rng.uniform(0, 424, n_points),
                           670 + rng.normal(0, 20, n_points)])
    planes = plane_from_points(pts[rng.integers(0, n_points, (100, 3))]
                               + rng.normal(0, 1, (100, 3, 3)))
    planes = planes[np.all(np.isfinite(planes), axis=1)]
    dist = np.abs(pts @ planes[:, :3].T + planes[:, 3])
    counts, means = score_planes(pts, planes, 15.0)
    np.testing.assert_array_equal(counts, np.count_nonzero(dist < 15.0, axis=0))
    np.testing.assert_array_equal(means, dist.mean(axis=0))


def test_ransac_on_threads_picks_the_same_plane():
    rng = np.random.default_rng(5)
    bg = tilted_floor() + rng.normal(0, 2.0, (120, 160))
    bg[30:60, 40:90] -= 35  # a mouse-sized bump: many near-ties between hypotheses
    one = fit_plane_ransac(bg, depth_range=(600, 720), rng=7, iters=700)
    for threads in (2, 3, 8):
        many = fit_plane_ransac(bg, depth_range=(600, 720), rng=7, iters=700,
                                threads=threads)
        assert many.plane.tobytes() == one.plane.tobytes()
        assert many.distance.tobytes() == one.distance.tobytes()
        assert many.inlier_fraction == one.inlier_fraction
