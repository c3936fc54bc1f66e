"""extract_session (pipeline/session.py) on a small synthetic session, against the
generator's ground truth: centroid, heading, height, sizes; the files and status it leaves;
trims, skipping, compression, progress and the flip model it is given or reads from its
config."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from moseq2_extract.config import make_config
from moseq2_extract.errors import ConfigError, ExtractionError
from moseq2_extract.io.video import open_depth_video
from moseq2_extract.output.h5read import read_results
from moseq2_extract.output.status import read_status
from moseq2_extract.pipeline.session import extract_session
from moseq2_extract.synthetic import GroundTruth
from moseq2_extract.synthetic.demo import compare_to_truth

N = 60


@pytest.fixture(scope="module")
def session(session_factory):
    depth = session_factory("dat", n_frames=N, seed=5)
    return depth, GroundTruth.load(depth.parent / "ground_truth.npz")


@pytest.fixture(scope="module")
def extracted(session):
    depth, _ = session
    progress = []
    out = extract_session(depth, make_config({"workers": 1}),
                          progress=lambda done, total: progress.append((done, total)))
    return out, read_results(out.h5_path), progress


def box_origin(h5_path):
    with h5py.File(h5_path, "r") as f:
        ys, xs = np.nonzero(f["metadata/extraction/roi"][()])
    return xs.min(), ys.min()


def heading_error_deg(a, b):
    return np.degrees(np.abs(np.angle(np.exp(1j * (np.asarray(a, float) - b)))))


def test_measures_match_the_ground_truth(session, extracted):
    _, truth = session
    out, data, _ = extracted
    s = data["scalars"]
    x0, y0 = box_origin(out.h5_path)  # the *_px centroids are in ROI-box pixels
    off = np.hypot(s["centroid_x_px"] + x0 - truth.centroid_x,
                   s["centroid_y_px"] + y0 - truth.centroid_y)
    assert np.median(off) < 0.4 and off.max() < 1.0
    assert heading_error_deg(s["angle"], truth.angle).max() < 3.0  # heading, not only axis
    assert np.abs(s["height_ave_mm"] - truth.height_mean_mm).max() < 2.5
    np.testing.assert_allclose(s["length_px"], truth.length_px, rtol=0.06)
    np.testing.assert_allclose(s["width_px"], truth.width_px, rtol=0.03)
    np.testing.assert_allclose(s["area_px"], truth.area_px, rtol=0.05)
    assert abs(out.true_depth - truth.true_depth_mm) < 3
    np.testing.assert_allclose(data["timestamps"], truth.timestamps_ms)


def test_outcome_files_and_status(session, extracted):
    depth, _ = session
    out, data, _ = extracted
    assert out.output_dir == depth.parent / "proc" and not out.skipped
    assert out.n_frames == N and out.seconds > 0 and out.fps > 0 and out.warnings == []
    assert out.movie_path == out.output_dir / "results_00.mp4" and out.movie_path.is_file()
    assert out.compressed is None
    assert sorted(p.name for p in out.output_dir.iterdir()) == [
        "bground.tiff", "first_frame.tiff", "results_00.h5", "results_00.mp4",
        "results_00.yaml", "roi_00.tiff", "roi_overview.png"]
    status = read_status(out.yaml_path)
    assert status["complete"] is True and status["uuid"] == data["uuid"]
    assert status["parameters"]["true_depth"] == pytest.approx(out.true_depth)
    assert data["parameters"]["workers"] == 1
    assert (data["first_frame_idx"], data["last_frame_idx"], data["n_frames"]) == (0, N, N)
    assert data["rows_written"] == N
    assert data["heading_confidence"].min() > 0.5


def test_progress_is_reported_up_to_every_frame(extracted):
    _, _, progress = extracted
    done = [d for d, _ in progress]
    assert progress and done == sorted(done) and progress[-1] == (N, N)
    assert {t for _, t in progress} == {N}


def test_completed_results_are_skipped_when_asked(session, extracted):
    depth, _ = session
    out, _, _ = extracted
    before = out.h5_path.stat().st_mtime_ns
    again = extract_session(depth, make_config({"skip_completed": True}))
    assert again.skipped and again.n_frames == 0 and again.h5_path == out.h5_path
    assert out.h5_path.stat().st_mtime_ns == before


def test_trimmed_extraction_keeps_the_frames_it_extracts(session, extracted, tmp_path):
    depth, _ = session
    _, full, _ = extracted
    out = extract_session(depth, make_config({"workers": 1, "num_frames": 50,
                                              "frame_trim": [5, 10], "write_movie": False}),
                          output_dir=tmp_path / "trim")
    assert out.n_frames == 35 and out.movie_path is None
    data = read_results(out.h5_path)
    assert (data["first_frame_idx"], data["last_frame_idx"]) == (5, 40)
    for name in ("centroid_x_px", "centroid_y_px", "area_px", "height_ave_mm"):
        np.testing.assert_array_equal(data["scalars"][name], full["scalars"][name][5:40],
                                      err_msg=name)
    np.testing.assert_array_equal(data["timestamps"], full["timestamps"][5:40])
    assert not (tmp_path / "trim" / "results_00.mp4").exists()


def test_the_flip_model_given_decides_the_heading(session, extracted, tmp_path):
    depth, _ = session
    _, default, _ = extracted

    def always_west(crops):  # log-odds that the head points west in each crop
        return np.full(len(crops), 30.0)

    out = extract_session(depth, make_config({"workers": 1, "write_movie": False}),
                          output_dir=tmp_path / "west", flip_model=always_west)
    data = read_results(out.h5_path)
    # every crop is turned relative to the one the default run stored ...
    turned = data["flips"] != default["flips"]
    diff = heading_error_deg(data["scalars"]["angle"], default["scalars"]["angle"])
    np.testing.assert_allclose(diff[turned], 180.0, atol=1e-3)
    np.testing.assert_allclose(diff[~turned], 0.0, atol=1e-3)
    assert turned.all()  # the default run had the head east in every stored crop


def test_no_frames_left_is_an_error_and_leaves_nothing(session, tmp_path):
    depth, _ = session
    with pytest.raises(ConfigError, match="no frames left"):
        extract_session(depth, make_config({"frame_trim": [40, 30]}),
                        output_dir=tmp_path / "none")
    assert not (tmp_path / "none" / "results_00.h5").exists()
    assert not list((tmp_path / "none").glob("results_00*"))


def test_outcome_compress_and_skip(session_factory, tmp_path):
    depth = session_factory("dat", n_frames=60, seed=13)
    truth = GroundTruth.load(depth.parent / "ground_truth.npz")
    out = tmp_path / "proc"
    config = make_config({"workers": 1, "compress": True, "frame_trim": [4, 0]})
    outcome = extract_session(depth, config, output_dir=out)
    assert (outcome.n_frames, outcome.skipped) == (56, False)
    assert outcome.true_depth == pytest.approx(truth.true_depth_mm, abs=2)
    acc = compare_to_truth(outcome.h5_path, truth)
    assert acc.centroid_px < 0.5 and acc.heading_flip_rate == 0
    # compress: a lossless .avi of the whole recording next to it
    assert outcome.compressed is not None and outcome.compressed.suffix == ".avi"
    with open_depth_video(outcome.compressed) as avi, open_depth_video(depth) as dat:
        np.testing.assert_array_equal(avi.read(0, 60), dat.read(0, 60))
    again = extract_session(depth, config.replace(skip_completed=True, compress=False),
                            output_dir=out)
    assert again.skipped and again.compressed is None


def test_flip_classifier_comes_from_the_config(session_factory, tmp_path):
    depth = session_factory("dat", n_frames=60, seed=13)
    missing = tmp_path / "no_such_classifier.npz"
    with pytest.raises(ExtractionError, match="no_such_classifier"):
        extract_session(depth, {"workers": 1, "flip_classifier": str(missing)},
                        output_dir=tmp_path / "proc")
    assert not (tmp_path / "proc" / "results_00.h5").exists()
