"""extract_session reads everything from its config (pipeline/session.py)."""

from __future__ import annotations

import numpy as np
import pytest

from moseq2_extract.config import make_config
from moseq2_extract.errors import ExtractionError
from moseq2_extract.io.video import open_depth_video
from moseq2_extract.pipeline.session import extract_session
from moseq2_extract.synthetic import GroundTruth
from moseq2_extract.synthetic.demo import compare_to_truth


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
