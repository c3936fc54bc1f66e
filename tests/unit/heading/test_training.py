"""Training a flip classifier from extracted sessions (heading/training.py)."""

import h5py
import numpy as np
import pytest

from moseq2_extract.errors import FlipClassifierError, InputFileError
from moseq2_extract.heading.classifier import load_flip_classifier
from moseq2_extract.heading.training import (
    ForestParams,
    read_hand_labels,
    train_flip_classifier,
)

from .crops import SMALL_C as C
from .crops import crops_east


def write_results(path, crops, confidence, *, uuid):
    with h5py.File(path, "w") as f:
        f["frames"] = crops
        f["frames_mask"] = crops > 10
        f["metadata/extraction/heading_confidence"] = confidence.astype(np.float32)
        f["metadata/uuid"] = uuid
        params = f.create_group("metadata/extraction/parameters")
        params["spatial_filter_size"] = np.array([3])
        params["tail_filter_iters"] = 1


def test_train_from_sessions_and_hand_labels(tmp_path):
    rng = np.random.default_rng(4)
    east = crops_east(200, rng, C)
    conf = np.where(rng.random(200) < 0.1, 0.7, 1.0)
    # frames 0-9 were decided wrongly (crop faces west) and with low confidence
    stored = east.copy()
    stored[:10] = stored[:10, ::-1, ::-1]
    conf[:10] = 0.6
    (tmp_path / "a" / "proc").mkdir(parents=True)
    write_results(tmp_path / "a/proc/results_00.h5", stored, conf, uuid="u1")
    (tmp_path / "agg").mkdir()  # an aggregate copy of the same session counts once
    write_results(tmp_path / "agg/a.h5", stored, conf, uuid="u1")
    labels = tmp_path / "labels.csv"
    labels.write_text("# hand labels\nh5_file,frame_index,head\n"
                      + "".join(f"a/proc/results_00.h5,{i},west\n" for i in range(10)))
    out = tmp_path / "mine.npz"
    report = train_flip_classifier([tmp_path / "a", tmp_path / "agg"], out,
                                   labels_file=labels, max_frames=150,
                                   params=ForestParams(n_trees=8, max_depth=8), seed=1)
    assert report.n_sessions == 1 and report.crop_size == C and report.n_hand == 10
    assert report.n_train + report.n_holdout <= 150 + 10
    assert report.holdout_accuracy > 0.9 and report.hand_accuracy is not None
    clf = load_flip_classifier(out)
    assert float(clf.meta["holdout_accuracy"]) == pytest.approx(report.holdout_accuracy,
                                                                abs=1e-4)
    new = crops_east(40, np.random.default_rng(5), C)
    assert np.mean(clf.log_odds_flipped(new) < 0) > 0.9
    assert np.mean(clf.log_odds_flipped(new[:, ::-1, ::-1]) > 0) > 0.9


def test_training_input_errors(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        train_flip_classifier([tmp_path / "nope"], tmp_path / "x.npz")
    bad = tmp_path / "bad.csv"
    bad.write_text("h5_file,frame_index,head\nx.h5,3,up\n")
    with pytest.raises(InputFileError, match="line 2: head must be"):
        read_hand_labels(bad)
    bad.write_text("file,frame\nx.h5,3\n")
    with pytest.raises(InputFileError, match="header line"):
        read_hand_labels(bad)
    with h5py.File(tmp_path / "old.h5", "w") as f:
        f["frames"] = np.zeros((5, C, C), np.uint8)
    with pytest.raises(FlipClassifierError, match="no metadata/extraction/heading_confidence"):
        train_flip_classifier([tmp_path / "old.h5"], tmp_path / "x.npz")
