"""Flip classifiers: the .npz forest, loading rules, training your own, downloading."""

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from moseq2_extract.config import make_config, read_config_file
from moseq2_extract.errors import ConfigError, FlipClassifierError, InputFileError
from moseq2_extract.heading import download as flip_download
from moseq2_extract.heading.classifier import (
    FlipModel,
    ForestClassifier,
    load_flip_classifier,
    load_flip_model,
    save_flip_classifier,
)
from moseq2_extract.heading.training import (
    ForestParams,
    candidate_pixels,
    read_hand_labels,
    train_flip_classifier,
    train_forest,
    view_values,
)

from .test_model import mouse_crop

C = 40  # small crops keep these tests fast


def crops_east(n, rng, c=C):
    """Head-east mouse crops of assorted sizes, postures and noise."""
    out = np.empty((n, c, c), np.uint8)
    for i in range(n):
        out[i] = mouse_crop(c, scale=rng.uniform(0.45, 0.6), rear=rng.choice([0.0, 0.0, 0.7]),
                            noise=2.0, rng=rng)[0]
    return out


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


@pytest.fixture(scope="module")
def forest():
    rng = np.random.default_rng(0)
    east = crops_east(150, rng)
    pixels = candidate_pixels(C)
    x, y = view_values(east, pixels)
    return train_forest(x, y, pixels=pixels, crop_size=C,
                        params=ForestParams(n_trees=8, max_depth=8), rng=rng,
                        meta={"note": "test"})


def test_trained_forest_tells_east_from_west_on_new_crops(forest):
    rng = np.random.default_rng(1)
    east = crops_east(60, rng)
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
    x = crops_east(12, np.random.default_rng(2)).reshape(12, -1)
    x = np.concatenate([x, x[:, ::-1]])
    np.testing.assert_array_equal(loaded.predict_proba(x), forest.predict_proba(x))
    np.testing.assert_allclose(loaded.predict_proba(x), naive_proba(loaded, x), atol=1e-12)


def test_load_flip_model_checks_crop_size_and_carries_smoothing(forest, tmp_path):
    path = save_flip_classifier(tmp_path / "clf.npz", forest)
    model = load_flip_model(make_config({"flip_classifier": str(path), "crop_size": [C, C],
                                         "flip_classifier_smoothing": 31}))
    assert isinstance(model, FlipModel) and model.smoothing == 31
    crops = crops_east(4, np.random.default_rng(3))
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


# ------------------------------------------------------------------- training from h5
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
    east = crops_east(200, rng)
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
    new = crops_east(40, np.random.default_rng(5))
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


# ------------------------------------------------------------------------ downloading
def test_download_from_a_reachable_url_updates_the_config(forest, tmp_path, monkeypatch):
    source = save_flip_classifier(tmp_path / "published.npz", forest)
    monkeypatch.setattr(flip_download, "FLIP_CLASSIFIERS",
                        (("test mice", source.as_uri()),))
    config = tmp_path / "config.yaml"
    config.write_text("crop_size: [40, 40]\nflip_classifier: null\n")
    path = flip_download.download_flip_file(config, tmp_path / "dl", choose=lambda menu: "0")
    assert path == tmp_path / "dl" / "published.npz" and path.exists()
    assert read_config_file(config)["flip_classifier"] == str(path.resolve())
    with pytest.raises(ConfigError, match="selection must be 0-0"):
        flip_download.download_flip_file(config, tmp_path / "dl", 3)


def test_download_without_network_fails_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(flip_download, "FLIP_CLASSIFIERS",
                        (("unreachable", "http://127.0.0.1:9/flip.npz"),))
    with pytest.raises(flip_download.FlipDownloadError) as err:
        flip_download.download_flip_file(None, tmp_path, 0, timeout=2)
    assert "\n" not in str(err.value) and "127.0.0.1:9/flip.npz" in str(err.value)
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_download_command_explains_the_alternatives(tmp_path, monkeypatch):
    import click

    from moseq2_extract.cli.flip import register

    @click.group()
    def group():
        pass

    register(group)
    monkeypatch.setattr(flip_download, "FLIP_CLASSIFIERS",
                        (("unreachable", "http://127.0.0.1:9/flip.npz"),))
    config = tmp_path / "config.yaml"
    config.write_text("flip_classifier: null\n")
    result = CliRunner().invoke(group, ["download-flip-file", str(config), "--output-dir",
                                        str(tmp_path / "dl")], input="0\n")
    assert result.exit_code == 1
    text = result.output
    assert "[0] unreachable" in text
    assert sum(line.startswith("Error: cannot download") for line in text.splitlines()) == 1
    assert "train-flip-classifier" in text and "without training" in text
    assert read_config_file(config)["flip_classifier"] is None
