"""moseq2-app's arena widget (``moseq2_app/roi/widget.py``), call by call, on a synthetic
session: background, ROI, the thresholded preview and ``extract_chunk``."""

from __future__ import annotations

import numpy as np
import pytest

from moseq2_extract.extract.extract import extract_chunk
from moseq2_extract.extract.proc import apply_roi, get_bground_im_file, threshold_chunk
from moseq2_extract.io.image import read_image
from moseq2_extract.io.video import load_movie_data
from moseq2_extract.util import detect_and_set_camera_parameters, get_strels, select_strel

from .conftest import box_origin

N_EXTRACT = 30  # the widget's frames_to_extract


def test_background_is_the_floor_and_is_cached(arena):
    bg = arena.background
    assert bg.shape == (424, 512) and bg.dtype == np.float64
    floor = arena.truth.floor_mask
    err = np.abs(bg[floor] - arena.truth.background[floor])
    assert np.median(err) < 1.0 and np.percentile(err, 99) < 3.0
    cached = arena.depth.parent / "proc" / "bground.tiff"
    assert cached.is_file()
    np.testing.assert_array_equal(read_image(cached), bg)
    # a second call loads the cached file (moseq2-app calls it on every widget event)
    np.testing.assert_array_equal(get_bground_im_file(arena.depth, frame_stride=1000), bg)


def test_get_roi_finds_the_arena_floor(arena):
    assert isinstance(arena.rois, list) and arena.rois
    roi = arena.rois[0]
    assert roi.shape == (424, 512) and roi.dtype == bool
    floor = arena.truth.floor_mask
    inter = np.count_nonzero(roi & floor)
    assert inter / np.count_nonzero(floor) > 0.99
    # and not beyond the foot of the bucket wall (plane inliers, then bg_roi_dilate)
    yy, xx = np.nonzero(roi)
    cx, cy = arena.truth.arena_center
    assert np.hypot(xx - cx, yy - cy).max() < arena.truth.arena_radius + 20


def test_raw_frames_threshold_and_apply_roi(arena):
    config = arena.config
    raw = load_movie_data(arena.depth, range(1, N_EXTRACT + 1), **config,
                          frame_size=arena.background.shape[::-1])
    assert raw.shape == (N_EXTRACT, 424, 512) and raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, arena.frames[1:N_EXTRACT + 1])
    mask = arena.rois[0]
    frames = apply_roi(arena.background - raw, mask)
    x0, y0 = box_origin(mask)
    ys, xs = np.nonzero(mask)
    assert frames.shape == (N_EXTRACT, ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
    assert frames.dtype == np.float64
    assert np.all(frames[:, ~mask[y0:y0 + frames.shape[1], x0:x0 + frames.shape[2]]] == 0)
    out = threshold_chunk(frames, config["min_height"], config["max_height"])
    assert out is frames
    kept = frames[frames != 0]
    assert kept.min() >= config["min_height"] and kept.max() <= config["max_height"]
    # the mouse is what is left: its true centroid lies in the thresholded pixels' box
    for i in range(N_EXTRACT):
        yy, xx = np.nonzero(frames[i])
        cx, cy = arena.truth.centroid_x[i + 1] - x0, arena.truth.centroid_y[i + 1] - y0
        assert xx.min() <= cx <= xx.max() and yy.min() <= cy <= yy.max()


def test_strels_from_the_session_config(arena):
    config = arena.config
    strels = get_strels(config)
    assert set(strels) == {"strel_dilate", "strel_erode", "strel_tail", "strel_min"}
    w, h = config["tail_filter_size"]
    assert strels["strel_tail"].shape == (h, w) and strels["strel_tail"].dtype == np.uint8
    np.testing.assert_array_equal(
        strels["strel_dilate"], select_strel(config["bg_roi_shape"],
                                             tuple(config["bg_roi_dilate"])))
    rect = select_strel("rectangle", (5, 3))
    assert rect.shape == (3, 5) and rect.all()
    ellipse = select_strel("ellipse", (9, 9))
    assert ellipse[4].all() and not ellipse[0, 0]


def test_extract_chunk_as_the_widget_calls_it(arena):
    config = arena.config
    raw = load_movie_data(arena.depth, range(1, N_EXTRACT + 1), **config,
                          frame_size=arena.background.shape[::-1])
    mask = arena.rois[0]
    out = extract_chunk(raw.copy(), roi=mask, bground=arena.background, **config,
                        **get_strels(config))
    assert set(out) >= {"chunk", "depth_frames", "mask_frames", "scalars", "flips",
                        "parameters"}
    c = config["crop_size"][0]
    assert out["depth_frames"].shape == (N_EXTRACT, c, c)
    assert out["depth_frames"].dtype == np.uint8
    assert out["mask_frames"].shape == (N_EXTRACT, c, c) and out["mask_frames"].dtype == bool
    assert out["flips"].shape == (N_EXTRACT,) and out["flips"].dtype == bool
    assert out["parameters"] is None
    assert len(out["scalars"]) == 17
    truth = arena.truth
    x0, y0 = box_origin(mask)
    s = out["scalars"]
    idx = slice(1, N_EXTRACT + 1)
    assert np.abs(s["centroid_x_px"] + x0 - truth.centroid_x[idx]).max() < 1.0
    assert np.abs(s["centroid_y_px"] + y0 - truth.centroid_y[idx]).max() < 1.0
    turn = np.angle(np.exp(1j * (s["angle"] - truth.angle[idx])))
    assert np.degrees(np.abs(turn)).max() < 10  # the heading, not only the axis
    np.testing.assert_allclose(s["height_ave_mm"], truth.height_mean_mm[idx], atol=3)
    # crops: mouse centred, head east (higher at the head's side is not guaranteed; the
    # mask's centroid is at the crop centre)
    ys, xs = np.nonzero(out["mask_frames"][0])
    assert abs(xs.mean() - (c - 1) / 2) < 2 and abs(ys.mean() - (c - 1) / 2) < 2
    assert out["chunk"].shape[0] == N_EXTRACT


def test_extract_chunk_with_the_tracking_model(arena):
    """The EM path: log-likelihood masks, the tracker's state per frame, and a second
    chunk continued from the first one's state as the original hands it over."""
    from moseq2_extract.helpers.extract import set_tracking_model_parameters

    config = {**arena.config, "use_tracking_model": True}
    raw = load_movie_data(arena.depth, range(0, 2 * N_EXTRACT), **config,
                          frame_size=arena.background.shape[::-1])
    mask = arena.rois[0]
    first = extract_chunk(raw[:N_EXTRACT].copy(), roi=mask, bground=arena.background,
                          **config, **get_strels(config))
    assert first["mask_frames"].dtype == np.float32
    assert first["parameters"]["mean"].shape == (N_EXTRACT, 3)
    assert first["parameters"]["cov"].shape == (N_EXTRACT, 3, 3)
    first, mean, cov = set_tracking_model_parameters(first, config["min_height"], -100.0, 0)
    assert first["mask_frames"].min() == np.float32(-100.0)
    second = extract_chunk(raw[N_EXTRACT:].copy(), roi=mask, bground=arena.background,
                           tracking_init_mean=mean, tracking_init_cov=cov, **config,
                           **get_strels(config))
    x0, y0 = box_origin(mask)
    idx = slice(N_EXTRACT, 2 * N_EXTRACT)
    s = second["scalars"]
    assert np.abs(s["centroid_x_px"] + x0 - arena.truth.centroid_x[idx]).max() < 2.0
    assert np.abs(second["parameters"]["mean"][:, 0] - arena.truth.centroid_x[idx]).max() < 10


def test_extract_chunk_on_heights_without_background(arena):
    mask = arena.rois[0]
    raw = arena.frames[10:20]
    heights = apply_roi(np.clip(arena.background - raw, 0, 255), mask)
    with_bg = extract_chunk(raw, roi=mask, bground=arena.background, max_height=110)
    without = extract_chunk(np.rint(heights), max_height=110)
    np.testing.assert_allclose(without["scalars"]["area_px"], with_bg["scalars"]["area_px"],
                               rtol=0.02)


@pytest.mark.parametrize("fmt", ["avi", "mkv", "tar.gz"])
def test_load_movie_data_reads_every_format(session_factory, arena, fmt):
    spec = {"n_frames": 40, "seed": 3, "camera": "azure" if fmt == "mkv" else "kinect"}
    depth = session_factory(fmt, **spec)
    config = detect_and_set_camera_parameters(dict(arena.config, camera_type="auto"),
                                              str(depth))
    from moseq2_extract.synthetic import SessionSpec, SyntheticSession

    session = SyntheticSession(SessionSpec(**spec))
    h, w = session.height, session.width
    frames = load_movie_data(depth, range(1, 11), **config, frame_size=(w, h))
    assert frames.shape == (10, h, w) and frames.dtype == np.uint16
    np.testing.assert_array_equal(frames, session.render(1, 11))
    expected = {"avi": "gray16le", "mkv": "gray16be", "tar.gz": "gray16le"}[fmt]
    assert config["pixel_format"] == expected


def test_load_movie_data_reads_a_tar_member(session_factory):
    import tarfile

    spec = {"n_frames": 20, "seed": 4}
    depth = session_factory("tar.gz", **spec)
    from moseq2_extract.synthetic import SessionSpec, SyntheticSession

    with tarfile.open(depth, "r:gz") as tar:
        member = tar.getmember("depth.dat")
        frames = load_movie_data(member, [2, 3, 7], tar=tar)
    np.testing.assert_array_equal(frames,
                                  SyntheticSession(SessionSpec(**spec)).render(0, 8)[[2, 3, 7]])


def test_camera_parameters_by_file(tmp_path, arena):
    config = detect_and_set_camera_parameters(dict(arena.config, camera_type="auto"),
                                              str(arena.depth))
    assert config["pixel_format"] == "gray16le" and config["movie_dtype"] == "<u2"
    assert list(config["bg_roi_weights"]) == [1.0, 0.1, 1.0]
    azure = detect_and_set_camera_parameters({"camera_type": "auto",
                                              "bg_roi_weights": [1, 0.1, 1]}, "x/depth.mkv")
    assert azure["pixel_format"] == "gray16be" and azure["movie_dtype"] == ">u2"
    assert list(azure["bg_roi_weights"]) == [10.0, 0.1, 1.0]
    unknown = {"camera_type": "nonsense", "pixel_format": "keep"}
    assert detect_and_set_camera_parameters(unknown, "depth.dat")["pixel_format"] == "keep"
