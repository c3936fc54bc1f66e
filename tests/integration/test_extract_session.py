"""Whole-session extraction against the generator's ground truth, and its invariants."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from moseq2_extract.config import make_config
from moseq2_extract.extract.features import largest_blob
from moseq2_extract.pipeline.session import extract_session
from moseq2_extract.synthetic import GroundTruth
from moseq2_extract.synthetic.demo import compare_to_truth

N = 360


@pytest.fixture(scope="module")
def extracted(session_factory):
    depth = session_factory("dat", n_frames=N, seed=5)
    out = extract_session(depth, make_config({"chunk_size": 1000}))
    return depth, out


def read_all(h5_path):
    with h5py.File(h5_path, "r") as f:
        data = {k: f[f"scalars/{k}"][()] for k in f["scalars"]}
        data["frames"] = f["frames"][()]
        data["frames_mask"] = f["frames_mask"][()]
        data["flips"] = f["metadata/extraction/flips"][()]
    return data


def test_accuracy_against_ground_truth(extracted):
    depth, out = extracted
    truth = GroundTruth.load(depth.parent / "ground_truth.npz")
    acc = compare_to_truth(out.h5_path, truth)
    assert acc.n_frames >= N - 2 and acc.missing == 0
    assert acc.centroid_px <= 0.5
    assert acc.axis_deg <= 2.0
    assert acc.height_mm <= 2.0
    assert abs(out.true_depth - truth.true_depth_mm) < 5


def test_crops_are_centred_on_the_mouse(extracted):
    _, out = extracted
    data = read_all(out.h5_path)
    offsets = []
    for mask in data["frames_mask"][::7]:
        blob, window = largest_blob(mask.astype(np.uint8))
        assert window is not None
        offsets.append(np.hypot(blob.x - 39.5, blob.y - 39.5))
        assert abs(np.degrees(blob.orientation)) < 5  # body axis horizontal
    assert np.median(offsets) < 1.0


def test_chunk_size_does_not_change_results(extracted, tmp_path):
    depth, out = extracted
    small = extract_session(depth, make_config({"chunk_size": 100}),
                            output_dir=tmp_path / "small")
    a, b = read_all(out.h5_path), read_all(small.h5_path)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_avi_and_dat_of_the_same_session_agree(session_factory, extracted):
    _, out = extracted
    avi = session_factory("avi", n_frames=N, seed=5)
    res = extract_session(avi, make_config({"chunk_size": 1000}))
    a, b = read_all(out.h5_path), read_all(res.h5_path)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_outputs_and_status(extracted):
    _, out = extracted
    from moseq2_extract.output.status import read_status

    status = read_status(out.yaml_path)
    assert status["complete"] is True
    assert status["parameters"]["true_depth"] == pytest.approx(out.true_depth)
    files = {p.name for p in out.output_dir.iterdir()}
    assert {"results_00.h5", "results_00.yaml", "results_00.mp4", "bground.tiff",
            "first_frame.tiff", "roi_00.tiff", "roi_overview.png"} <= files
    assert not [n for n in files if "partial" in n]
    with h5py.File(out.h5_path, "r") as f:
        assert f["metadata/uuid"][()].decode() == status["uuid"]
        assert len(f["timestamps"]) == N


def test_hampel_filters_whole_recording_independent_of_chunks(extracted, tmp_path):
    from moseq2_extract.extract.hampel import hampel

    depth, out = extracted
    cfg = {"centroid_hampel_span": 5, "centroid_hampel_sig": 1.0,
           "angle_hampel_span": 7, "angle_hampel_sig": 1.0}
    a = extract_session(depth, make_config({**cfg, "chunk_size": 100}),
                        output_dir=tmp_path / "a")
    b = extract_session(depth, make_config({**cfg, "chunk_size": 1000}),
                        output_dir=tmp_path / "b")
    ra, rb, raw = read_all(a.h5_path), read_all(b.h5_path), read_all(out.h5_path)
    for key in ra:
        np.testing.assert_array_equal(ra[key], rb[key], err_msg=key)
    expected = hampel(raw["centroid_x_px"], span=5, sig=1.0)
    np.testing.assert_allclose(ra["centroid_x_px"], expected.astype(np.float32))
    assert (ra["centroid_x_px"] != raw["centroid_x_px"]).sum() > 0
    np.testing.assert_array_equal(ra["frames"], raw["frames"])


def test_rerun_with_cached_background_gives_identical_results(extracted, tmp_path):
    """A rerun loads proc/bground.tiff; it must reproduce the run that computed it."""
    depth, out = extracted
    again = extract_session(depth, make_config({"chunk_size": 1000}))
    assert again.h5_path == out.h5_path
    fresh = extract_session(depth, make_config({"recompute_bg": True}),
                            output_dir=tmp_path / "fresh")
    a, b = read_all(again.h5_path), read_all(fresh.h5_path)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_parallel_workers_equal_sequential(extracted, tmp_path):
    """Worker processes (forked or spawned) and threads of one process give the same file
    contents and the same movie."""
    depth, _ = extracted
    runs = {}
    for name, options in (("threads", {"workers": 1}), ("processes", {"workers": 2}),
                          ("three", {"workers": 3, "chunk_size": 100})):
        runs[name] = extract_session(depth, make_config({"chunk_size": 1000, **options}),
                                     output_dir=tmp_path / name)
    a = read_all(runs["threads"].h5_path)
    for other in ("processes", "three"):
        b = read_all(runs[other].h5_path)
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=f"{other}: {key}")
        assert runs[other].movie_path.read_bytes() == runs["threads"].movie_path.read_bytes()


@pytest.mark.parametrize("fmt", ["avi", "tar.gz"])
def test_video_and_archive_inputs_in_parallel(session_factory, tmp_path, fmt):
    """FFV1 video is decoded by each worker process for its own blocks; a .tar.gz stream is
    read by one thread strictly in order (see tests/unit/pipeline/test_workers.py)."""
    depth = session_factory(fmt, n_frames=300, seed=6)
    seq = extract_session(depth, make_config({"workers": 1}), output_dir=tmp_path / "seq")
    par = extract_session(depth, make_config({"workers": 2}), output_dir=tmp_path / "par")
    a, b = read_all(seq.h5_path), read_all(par.h5_path)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert seq.movie_path.read_bytes() == par.movie_path.read_bytes()


def test_outputs_follow_the_umask(session_factory, tmp_path):
    """Every output file is created by the process (never mkstemp's 0600): under umask 022
    the results, pictures and aggregated copies are -rw-r--r--."""
    import os
    import stat

    from moseq2_extract.batch.aggregate import aggregate_results

    depth = session_factory("dat", n_frames=60, seed=8)
    old = os.umask(0o022)
    try:
        out = extract_session(depth, make_config({"workers": 2}),
                              output_dir=tmp_path / "s1" / "proc")
        index = aggregate_results(tmp_path / "s1", output_dir=tmp_path / "agg")
    finally:
        os.umask(old)
    written = [*out.output_dir.iterdir(), *(tmp_path / "agg").iterdir(), index]
    assert {p.name for p in written} >= {"results_00.yaml", "results_00.h5", "results_00.mp4",
                                         "bground.tiff", "roi_00.tiff", "roi_overview.png"}
    assert any(p.suffix == ".h5" for p in (tmp_path / "agg").iterdir())
    modes = {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in written}
    assert set(modes.values()) == {"0o644"}, modes
