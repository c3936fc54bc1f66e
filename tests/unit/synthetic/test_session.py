"""Tests of the synthetic session generator against its own ground truth."""

from __future__ import annotations

import json
import tarfile

import cv2
import numpy as np
import pytest

from moseq2_extract.errors import ConfigError
from moseq2_extract.synthetic import (
    PAUSE,
    REAR,
    STATE_NAMES,
    TURN,
    WALK,
    GroundTruth,
    SessionSpec,
    SyntheticSession,
    write_session,
)

KINECT_FRAME_BYTES = 512 * 424 * 2


def _silhouettes(session: SyntheticSession, frames: np.ndarray, start: int, kernel: int):
    """Yield (frame index, opened silhouette, heights) of noise-free frames."""
    bg = session.ground_truth().background
    strel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (kernel, kernel))
    for j, frame in enumerate(frames):
        heights = bg - frame.astype(np.float32)
        mask = (heights > 10).astype(np.uint8)
        yield start + j, mask, cv2.morphologyEx(mask, cv2.MORPH_OPEN, strel), heights


@pytest.fixture(scope="module")
def clean_session() -> SyntheticSession:
    return SyntheticSession(SessionSpec(n_frames=900, seed=3, noise_mm=0.0, dropout_rate=0.0))


@pytest.fixture(scope="module")
def clean_measures(clean_session):
    """Per-frame measurements of every 3rd noise-free frame, as the extraction makes them."""
    gt = clean_session.ground_truth()
    rows = []
    for start in range(0, 900, 150):
        frames = clean_session.render(start, start + 150)[::3]
        for j, raw, opened, heights in _silhouettes(clean_session, frames, 0, 9):
            i = start + 3 * j
            contours, _ = cv2.findContours(opened, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
            m = cv2.moments(max(contours, key=cv2.contourArea))
            axis = -0.5 * np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"])
            ys, xs = np.nonzero(opened)
            u = np.array([np.cos(gt.angle[i]), -np.sin(gt.angle[i])])
            proj = (xs - gt.centroid_x[i]) * u[0] + (ys - gt.centroid_y[i]) * u[1]
            rows.append(dict(
                i=i, cx=xs.mean(), cy=ys.mean(), axis=axis, area=len(xs),
                raw_area=int(raw.sum()), height=heights[ys, xs].mean(),
                front=proj.max(), back=-proj.min(),
                front_h=heights[ys, xs][proj > np.percentile(proj, 85)].mean(),
                back_h=heights[ys, xs][proj < np.percentile(proj, 15)].mean(),
            ))
    return {k: np.array([r[k] for r in rows]) for k in rows[0]}


def test_same_seed_same_frames_and_chunking_independent():
    spec = SessionSpec(n_frames=70, seed=7)   # crosses a 64-frame random-draw block
    a = SyntheticSession(spec)
    whole = a.render()
    assert whole.shape == (70, 424, 512) and whole.dtype == np.uint16
    for size in (1, 9, 64, 500):
        chunks = list(SyntheticSession(spec).iter_chunks(size))
        assert [len(c) for c in chunks][:-1] == [size] * (len(chunks) - 1)
        np.testing.assert_array_equal(np.concatenate(chunks), whole)
    reused = [c.copy() for c in SyntheticSession(spec).iter_chunks(16, reuse_buffer=True)]
    np.testing.assert_array_equal(np.concatenate(reused), whole)
    np.testing.assert_array_equal(a.render(33, 66), whole[33:66])
    other = SyntheticSession(SessionSpec(n_frames=70, seed=8)).render(0, 5)
    assert not np.array_equal(other, whole[:5])


def test_ground_truth_matches_the_extraction_measure(clean_session, clean_measures):
    gt, m = clean_session.ground_truth(), clean_measures
    err = np.hypot(m["cx"] - gt.centroid_x[m["i"]], m["cy"] - gt.centroid_y[m["i"]])
    assert np.median(err) < 0.2 and err.max() < 0.5
    d = np.mod(m["axis"] - gt.angle[m["i"]], np.pi)
    axis_err = np.degrees(np.minimum(d, np.pi - d))
    assert np.median(axis_err) < 0.5 and axis_err.max() < 2.0
    assert np.all(np.abs(m["area"] - gt.area_px[m["i"]]) < 0.03 * gt.area_px[m["i"]])
    assert np.all(np.abs(m["height"] - gt.height_mean_mm[m["i"]]) < 1.0)
    # The tail is there (the raw silhouette is bigger) and the 9x9 opening removes it.
    assert np.median(m["raw_area"] - m["area"]) > 40


def test_heading_points_to_the_head(clean_session, clean_measures):
    gt, m = clean_session.ground_truth(), clean_measures
    # The narrow head reaches further from the centroid than the wide rump, along +heading.
    assert np.all(m["front"] > m["back"])
    # Off rearing, the rump end is the higher one.
    flat = gt.height_mean_mm[m["i"]] < 31
    assert flat.sum() > 100
    assert np.all(m["back_h"][flat] > m["front_h"][flat] + 3)
    # Walking is forward: displacement along (cos, -sin) of the heading.
    step = np.stack([np.diff(gt.centroid_x), np.diff(gt.centroid_y)], 1)
    moving = (gt.state[1:] == WALK) & (np.hypot(*step.T) > 1.0)
    along = step[:, 0] * np.cos(gt.angle[1:]) - step[:, 1] * np.sin(gt.angle[1:])
    assert moving.sum() > 200
    assert np.all(along[moving] > 0.8 * np.hypot(*step[moving].T))
    assert np.all((gt.angle > -np.pi) & (gt.angle <= np.pi))


def test_behaviour_covers_all_states_and_stays_on_the_floor():
    for seed in (0, 1, 2):
        gt = SyntheticSession(SessionSpec(n_frames=900, seed=seed)).ground_truth()
        counts = np.bincount(gt.state, minlength=4)
        assert np.all(counts >= 20), (seed, dict(zip(STATE_NAMES, counts)))
        speed = np.hypot(np.diff(gt.centroid_x), np.diff(gt.centroid_y))
        assert speed.max() < 4.5
        turn_rate = np.abs(np.angle(np.exp(1j * np.diff(gt.angle))))
        walk, turn = gt.state[1:] == WALK, gt.state[1:] == TURN
        assert np.median(speed[walk]) > 3 * np.median(speed[turn])
        assert np.median(turn_rate[turn]) > 2 * np.median(turn_rate[walk])
        assert np.median(speed[gt.state[1:] == PAUSE]) < 0.5
        rear, walk0 = gt.state == REAR, gt.state == WALK
        assert np.median(gt.height_mean_mm[rear]) > np.median(gt.height_mean_mm[walk0]) + 8
        assert np.median(gt.length_px[rear]) < np.median(gt.length_px[walk0]) - 5
        assert 52 < np.median(gt.length_px[walk0]) < 62
        assert 22 < np.median(gt.width_px[walk0]) < 28
        dist = np.hypot(gt.centroid_x - gt.arena_center[0], gt.centroid_y - gt.arena_center[1])
        assert np.all(dist + gt.length_px / 2 < gt.arena_radius - 10)


def test_ambiguous_start_is_still_and_curled():
    n0 = 60
    gt = SyntheticSession(SessionSpec(n_frames=200, seed=4,
                                      ambiguous_start_frames=n0)).ground_truth()
    assert np.all(gt.state[:n0] == PAUSE)
    assert np.ptp(gt.centroid_x[:n0]) < 2 and np.ptp(gt.centroid_y[:n0]) < 2
    normal = SyntheticSession(SessionSpec(n_frames=200, seed=4)).ground_truth()
    assert np.median(gt.length_px[:n0]) < np.median(normal.length_px[normal.state == WALK]) - 4


def test_scene_noise_and_dropout():
    spec = SessionSpec(n_frames=6, seed=2, floor_tilt_deg=2.0)
    noisy = SyntheticSession(spec)
    clean = SyntheticSession(SessionSpec(n_frames=6, seed=2, noise_mm=0.0, dropout_rate=0.0))
    gt = noisy.ground_truth()
    a, b = noisy.render().astype(np.float64), clean.render().astype(np.float64)
    floor = gt.floor_mask & (a > 0).all(0)
    assert abs(np.std((a - b)[:, floor]) - 1.5) < 0.1
    zero_frac = ((a == 0) & (b > 0))[:, gt.floor_mask].mean()
    assert 0.001 < zero_frac < 0.004
    # Floor depth at the centre, tilted plane, wall nearer, outside further away.
    bg = gt.background
    cx, cy = gt.arena_center
    assert abs(bg[int(round(cy)), int(round(cx))] - gt.true_depth_mm) < 1.5
    yy, xx = np.nonzero(gt.floor_mask)
    coef, *_ = np.linalg.lstsq(np.c_[xx, yy, np.ones_like(xx)], bg[yy, xx], rcond=None)
    slope = np.hypot(coef[0], coef[1]) * 365.5 / gt.true_depth_mm
    assert abs(np.degrees(np.arctan(slope)) - 2.0) < 0.05
    r = np.hypot(*np.meshgrid(np.arange(512) - cx, np.arange(424) - cy))
    wall = (r > gt.arena_radius + 10) & (r < gt.arena_radius + 25)
    assert np.all(bg[wall] < gt.true_depth_mm - 10)
    corners = r > 300
    assert 880 < np.median(bg[corners][bg[corners] > 0]) < 1020
    assert 0.02 < np.mean(bg[corners] == 0) < 0.5


def test_azure_camera_and_mouse_scale():
    s = SyntheticSession(SessionSpec(n_frames=40, camera="azure", noise_mm=0.0,
                                     dropout_rate=0.0))
    gt = s.ground_truth()
    frames = s.render()
    assert frames.shape == (40, 576, 640)
    for i, _, opened, _ in _silhouettes(s, frames[::8], 0, 15):
        ys, xs = np.nonzero(opened)
        j = 8 * i
        assert np.hypot(xs.mean() - gt.centroid_x[j], ys.mean() - gt.centroid_y[j]) < 0.5
    small = SyntheticSession(SessionSpec(n_frames=40, mouse_scale=0.8)).ground_truth()
    base = SyntheticSession(SessionSpec(n_frames=40)).ground_truth()
    assert abs(np.median(small.length_px) / np.median(base.length_px) - 0.8) < 0.05


def test_ground_truth_save_load(tmp_path):
    gt = SyntheticSession(SessionSpec(n_frames=30)).ground_truth()
    back = GroundTruth.load(gt.save(tmp_path / "gt.npz"))
    for name in ("centroid_x", "centroid_y", "angle", "height_mean_mm", "length_px",
                 "width_px", "area_px", "state", "timestamps_ms", "background", "floor_mask"):
        np.testing.assert_array_equal(getattr(back, name), getattr(gt, name))
    assert back.state.dtype == np.int8 and back.background.dtype == np.float32
    assert back.true_depth_mm == gt.true_depth_mm and back.camera == "kinect"
    assert back.arena_center == gt.arena_center and back.fps == 30.0


def test_invalid_specs(tmp_path):
    with pytest.raises(ConfigError, match="camera"):
        SyntheticSession(SessionSpec(camera="webcam"))
    with pytest.raises(ConfigError, match="n_frames"):
        SyntheticSession(SessionSpec(n_frames=0))
    with pytest.raises(ConfigError, match="Kinect"):
        write_session(tmp_path, SessionSpec(n_frames=2, camera="azure"), fmt="dat")
    with pytest.raises(ConfigError, match="fmt"):
        write_session(tmp_path, SessionSpec(n_frames=2), fmt="mp4")


def _check_ts(text: str, n: int) -> np.ndarray:
    lines = text.splitlines()
    assert len(lines) == n and all(len(line.split()) == 2 for line in lines)
    ts = np.array([float(line.split()[0]) for line in lines])
    assert np.all(np.abs(np.diff(ts) - 1000 / 30) < 2) and ts[0] > 1000
    return ts


def test_write_dat_session(tmp_path):
    spec = SessionSpec(n_frames=12, seed=1)
    path = write_session(tmp_path, spec, chunk_size=5)
    assert path == tmp_path / "depth.dat"
    assert path.stat().st_size == 12 * KINECT_FRAME_BYTES
    raw = np.fromfile(path, dtype="<u2").reshape(12, 424, 512)
    np.testing.assert_array_equal(raw, SyntheticSession(spec).render())
    ts = _check_ts((tmp_path / "depth_ts.txt").read_text(), 12)
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["DepthResolution"] == [512, 424] and meta["IsLittleEndian"] is True
    assert meta["SubjectName"] == "mouse1" and meta["StartTime"] == spec.start_time
    assert {"SessionName", "NidaqChannels", "NidaqSamplingRate", "ColorResolution",
            "DepthDataType", "ColorDataType"} <= set(meta)
    gt = GroundTruth.load(tmp_path / "ground_truth.npz")
    assert len(gt) == 12
    np.testing.assert_allclose(gt.timestamps_ms, ts)


def test_write_tar_session(tmp_path):
    spec = SessionSpec(n_frames=7, seed=1)
    path = write_session(tmp_path, spec, fmt="tar.gz", chunk_size=3)
    assert path.name == "session_20260101120000.tar.gz"
    assert (tmp_path / "session_20260101120000.json").is_file()
    assert (tmp_path / "ground_truth.npz").is_file()
    with tarfile.open(path, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert set(members) == {"depth.dat", "depth_ts.txt", "metadata.json"}
        assert members["depth.dat"].size == 7 * KINECT_FRAME_BYTES
        raw = np.frombuffer(tar.extractfile("depth.dat").read(), dtype="<u2")
        _check_ts(tar.extractfile("depth_ts.txt").read().decode(), 7)
        meta = json.loads(tar.extractfile("metadata.json").read())
    np.testing.assert_array_equal(raw.reshape(7, 424, 512), SyntheticSession(spec).render())
    assert meta == json.loads((tmp_path / "session_20260101120000.json").read_text())


def test_write_avi_session(tmp_path):
    av = pytest.importorskip("av")
    pytest.importorskip("moseq2_extract.io.writers")
    spec = SessionSpec(n_frames=9, seed=1)
    path = write_session(tmp_path, spec, fmt="avi")
    assert path == tmp_path / "depth.avi"
    _check_ts((tmp_path / "depth_ts.txt").read_text(), 9)
    with av.open(str(path)) as container:
        frames = [f.to_ndarray() for f in container.decode(video=0)]
    assert len(frames) == 9
    np.testing.assert_array_equal(np.stack(frames), SyntheticSession(spec).render())


def test_write_mkv_session(tmp_path):
    pytest.importorskip("moseq2_extract.io.writers")
    spec = SessionSpec(n_frames=8, seed=1, camera="azure")
    path = write_session(tmp_path, spec, fmt="mkv")
    assert path == tmp_path / "depth.mkv" and path.stat().st_size > 8 * 640 * 576
    assert not (tmp_path / "depth_ts.txt").exists()
    meta = json.loads((tmp_path / "metadata.json").read_text())
    assert meta["DepthResolution"] == [640, 576]
    gt = GroundTruth.load(tmp_path / "ground_truth.npz")
    assert gt.camera == "azure" and gt.background.shape == (576, 640)
    assert np.all(gt.timestamps_ms == np.round(gt.timestamps_ms))
