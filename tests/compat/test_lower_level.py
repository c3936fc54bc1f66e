"""The stage-wise functions of ``extract.proc`` and ``extract.roi`` on synthetic frames,
against the generator's ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from moseq2_extract.extract import proc
from moseq2_extract.extract.roi import plane_fit3, plane_ransac
from moseq2_extract.util import select_strel

from .conftest import box_origin


@pytest.fixture(scope="module")
def stage(arena):
    """Thresholded, ROI-cropped, cleaned heights of 30 frames and their features."""
    mask = arena.rois[0]
    heights = proc.apply_roi(arena.background - arena.frames[:30].astype(np.float64), mask)
    heights = proc.threshold_chunk(heights, 10, 110)
    strels = {"strel_tail": select_strel("ellipse", (9, 9))}
    clean = proc.clean_frames(heights, prefilter_space=(3,), iters_tail=1, **strels)
    features, masks = proc.get_frame_features(clean, frame_threshold=10)
    return mask, clean, features, masks


def test_plane_ransac_and_plane_fit3(arena):
    d = arena.truth.true_depth_mm
    plane, dist = plane_ransac(arena.background, bg_roi_depth_range=(d - 50, d + 50))
    assert plane.shape == (4,) and dist.shape == (424 * 512,)
    floor = arena.truth.floor_mask.ravel()
    # every floor pixel is an inlier (within noise_tolerance, 30 mm), outside is not
    assert np.mean(dist[floor] < 30) > 0.99
    assert np.mean(dist[~floor & np.isfinite(dist)] < 30) < 0.5
    a, b, c, dd = plane
    ys, xs = np.nonzero(arena.truth.floor_mask)
    z = -(a * xs + b * ys + dd) / c
    assert np.percentile(np.abs(z - arena.truth.background[ys, xs]), 99) < 30
    with pytest.raises(ValueError, match="floor"):
        plane_ransac(arena.background, bg_roi_depth_range=(100, 120))
    tri = plane_fit3(np.array([[0, 0, 1], [1, 0, 1], [0, 1, 1]], float))
    np.testing.assert_allclose(np.abs(tri), [0, 0, 1, 1])
    assert np.isnan(plane_fit3(np.array([[0, 0, 0], [1, 1, 1], [2, 2, 2]], float))).all()


def test_get_roi_all_data(arena):
    config = arena.config
    rois, plane, bboxes, labels, ranks, order = proc.get_roi(
        arena.background, **config, get_all_data=True)
    assert len(rois) == len(bboxes) == len(ranks) == len(order)
    ys, xs = np.nonzero(rois[0])
    np.testing.assert_array_equal(bboxes[0], [[ys.min(), xs.min()], [ys.max(), xs.max()]])
    assert labels.shape == (424, 512) and labels.max() >= 1
    assert np.all(np.diff(ranks) >= 0)
    assert proc.get_bbox(np.zeros((3, 3))) is None
    # overlap_roi drops the ROI that overlaps it most
    dropped, _ = proc.get_roi(arena.background, **config, overlap_roi=rois[0])
    assert len(dropped) == len(rois) - 1


def test_frame_features_against_the_truth(arena, stage):
    mask, clean, features, masks = stage
    x0, y0 = box_origin(mask)
    truth = arena.truth
    assert features["centroid"].shape == (30, 2) and features["axis_length"].shape == (30, 2)
    np.testing.assert_allclose(features["centroid"][:, 0] + x0, truth.centroid_x[:30], atol=1)
    np.testing.assert_allclose(features["centroid"][:, 1] + y0, truth.centroid_y[:30], atol=1)
    axis = np.angle(np.exp(2j * (features["orientation"] - truth.angle[:30]))) / 2
    assert np.degrees(np.abs(axis)).max() < 6  # the body axis, modulo 180 degrees
    np.testing.assert_allclose(features["axis_length"][:, 0], truth.length_px[:30], rtol=0.1)
    np.testing.assert_allclose(features["axis_length"][:, 1], truth.width_px[:30], rtol=0.15)
    assert masks.shape == clean.shape and masks.dtype == np.uint8
    np.testing.assert_allclose(masks.sum(axis=(1, 2)), truth.area_px[:30], rtol=0.1)
    largest = proc.get_largest_cc((clean > 10).astype(np.uint8))
    np.testing.assert_array_equal(largest, masks > 0)
    one = proc.im_moment_features(masks[0])
    np.testing.assert_allclose(one["centroid"], features["centroid"][0])


def test_crops_and_scalars(arena, stage):
    mask, clean, features, masks = stage
    crops = proc.crop_and_rotate_frames(clean, features, crop_size=(80, 80))
    mask_crops = proc.crop_and_rotate_frames(masks > 0, features)
    assert crops.shape == (30, 80, 80) and crops.dtype == clean.dtype
    assert mask_crops.dtype == bool
    ys, xs = np.nonzero(mask_crops[0])
    assert abs(xs.mean() - 39.5) < 1 and abs(ys.mean() - 39.5) < 1
    assert np.ptp(xs) > np.ptp(ys)  # body axis horizontal
    x0, y0 = box_origin(mask)
    scalars = proc.compute_scalars(crops, features, min_height=10, max_height=110,
                                   true_depth=arena.truth.true_depth_mm, box_origin=(x0, y0))
    assert len(scalars) == 17 and scalars["area_px"].dtype == np.float32
    truth = arena.truth
    np.testing.assert_allclose(scalars["height_ave_mm"], truth.height_mean_mm[:30], atol=4)
    np.testing.assert_allclose(scalars["centroid_x_px"] + x0, truth.centroid_x[:30], atol=1)
    # mm: the pinhole model of the Kinect at the floor depth, full-frame coordinates
    from moseq2_extract.camera import KINECT

    x_mm = (truth.centroid_x[:30] - KINECT.cx) * truth.true_depth_mm / KINECT.fx
    np.testing.assert_allclose(scalars["centroid_x_mm"], x_mm, atol=2)


def test_hampel_filter_replaces_an_outlier(stage):
    _, _, features, _ = stage
    spiky = {k: np.array(v) for k, v in features.items()}
    spiky["centroid"][10, 1] += 60
    spiky["orientation"][20] += 1.0
    out = proc.feature_hampel_filter(spiky, centroid_hampel_span=5, angle_hampel_span=5)
    assert abs(out["centroid"][10, 1] - features["centroid"][10, 1]) < 3
    assert abs(out["orientation"][20] - features["orientation"][20]) < 0.2
    np.testing.assert_array_equal(spiky["centroid"][10, 1], features["centroid"][10, 1] + 60)


def test_model_smoother_leans_on_confident_frames():
    from moseq2_extract.extract.proc import model_smoother

    n = 20
    x = np.linspace(0.0, 19.0, n)
    x[10] = 100.0  # an outlier on a frame the tracker is unsure of
    ll = np.full((n, 4, 4), -100.0)
    ll[10] = -400.0  # below the lower clip: weight 0, the frame takes its neighbours
    features = {"centroid": np.c_[x, x]}
    out = model_smoother(features, ll=ll, clips=(-300, -125))
    assert out is features
    assert abs(out["centroid"][10, 0] - 11.0) < 1e-9  # backward pass: the next frame
    np.testing.assert_allclose(out["centroid"][:10, 0], np.arange(10.0))
    assert model_smoother(features, ll=None) is features
