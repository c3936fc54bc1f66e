"""Flip classifiers (heading/classifier.py): the .npz forest format, loading rules."""

import numpy as np
import pytest

from moseq2_extract.config import make_config
from moseq2_extract.errors import FlipClassifierError
from moseq2_extract.heading.classifier import (
    FlipModel,
    ForestClassifier,
    load_flip_classifier,
    load_flip_model,
    save_flip_classifier,
)

from .crops import SMALL_C as C
from .crops import crops_east


def naive_proba(forest: ForestClassifier, x):
    """Tree-by-tree, sample-by-sample reference evaluation of the format."""
    out = np.zeros((len(x), forest.n_classes_))
    for i, row in enumerate(np.asarray(x, np.float32).astype(np.float64)):
        for t in range(forest.n_trees):
            base = forest.tree_offsets[t]
            node = base
            while forest.children_left[node] != -1:
                go_left = row[forest.feature[node]] <= forest.threshold[node]
                child = forest.children_left[node] if go_left else forest.children_right[node]
                node = base + child
            v = forest.value[node]
            out[i] += v / (v.sum() or 1)
    return out / forest.n_trees


def test_trained_forest_tells_east_from_west_on_new_crops(forest):
    rng = np.random.default_rng(1)
    east = crops_east(60, rng, C)
    west = east[:, ::-1, ::-1]
    lo_east, lo_west = forest.log_odds_flipped(east), forest.log_odds_flipped(west)
    assert np.mean(lo_east < 0) > 0.95 and np.mean(lo_west > 0) > 0.95
    assert forest.n_features_ == C * C and forest.classes_.tolist() == [0, 1]


def test_npz_round_trip_and_reference_evaluation(forest, tmp_path):
    path = save_flip_classifier(tmp_path / "clf.npz", forest)
    with np.load(path, allow_pickle=False) as z:
        assert int(z["format_version"]) == 1 and int(z["n_trees"]) == forest.n_trees
        assert z["value"].shape == (int(z["tree_offsets"][-1]), 2)
    loaded = load_flip_classifier(path)
    assert loaded.meta["note"] == "test"
    x = crops_east(12, np.random.default_rng(2), C).reshape(12, -1)
    x = np.concatenate([x, x[:, ::-1]])
    np.testing.assert_array_equal(loaded.predict_proba(x), forest.predict_proba(x))
    np.testing.assert_allclose(loaded.predict_proba(x), naive_proba(loaded, x), atol=1e-12)


def test_load_flip_model_checks_crop_size_and_carries_smoothing(forest, tmp_path):
    path = save_flip_classifier(tmp_path / "clf.npz", forest)
    model = load_flip_model(make_config({"flip_classifier": str(path), "crop_size": [C, C],
                                         "flip_classifier_smoothing": 31}))
    assert isinstance(model, FlipModel) and model.smoothing == 31
    crops = crops_east(4, np.random.default_rng(3), C)
    assert np.all(model(crops) < 0) and np.all(model(crops[:, ::-1, ::-1]) > 0)
    with pytest.raises(FlipClassifierError, match=r"1600 features \(crops of 40x40\).*80x80"):
        load_flip_model(make_config({"flip_classifier": str(path)}))
    assert load_flip_model(make_config({})) is None


def test_bad_classifier_files_give_one_line_errors(tmp_path):
    legacy = tmp_path / "old.pkl"
    legacy.write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(FlipClassifierError, match="old.pkl.*'flip' extra|old.pkl: cannot"):
        load_flip_classifier(legacy)
    with pytest.raises(FlipClassifierError, match="missing.npz: cannot read"):
        load_flip_classifier(tmp_path / "missing.npz")
    partial = tmp_path / "partial.npz"
    np.savez(partial, n_features=np.int64(4))
    with pytest.raises(FlipClassifierError, match="lacks classes"):
        load_flip_classifier(partial)
