"""moseq2-app's flip tool (``moseq2_app/flip/controller.py``) and the flip-classifier
training notebook, call by call: ``gen_batch_sequence`` over an h5 dataset,
``clean_frames``, ``get_flips`` (``.npz`` forest and a joblib scikit-learn pickle) and
``write_frames_preview`` with ``pipe=`` / ``.communicate()``."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from moseq2_extract.extract.extract import extract_chunk
from moseq2_extract.extract.proc import clean_frames, get_flips
from moseq2_extract.io.video import get_video_info, write_frames_preview
from moseq2_extract.util import gen_batch_sequence, get_strels


@pytest.fixture(scope="module")
def crops(arena):
    """Head-east egocentric crops of every frame of the session (uint8, 80 x 80)."""
    out = extract_chunk(arena.frames, roi=arena.rois[0], bground=arena.background,
                        **arena.config, **get_strels(arena.config))
    turn = np.angle(np.exp(1j * (out["scalars"]["angle"] - arena.truth.angle)))
    assert np.degrees(np.abs(turn)).max() < 15  # all face east: usable as labels
    return out["depth_frames"]


@pytest.fixture(scope="module")
def npz_classifier(crops, tmp_path_factory):
    from moseq2_extract.heading.classifier import save_flip_classifier
    from moseq2_extract.heading.training import (
        ForestParams,
        candidate_pixels,
        train_forest,
        view_values,
    )

    c = crops.shape[1]
    pixels = candidate_pixels(c)
    x, y = view_values(crops[:60].astype(np.float32), pixels)
    forest = train_forest(x, y, pixels=pixels, crop_size=c,
                          params=ForestParams(n_trees=10, max_depth=8),
                          rng=np.random.default_rng(0))
    return save_flip_classifier(tmp_path_factory.mktemp("flip") / "flip.npz", forest)


@pytest.fixture(scope="module")
def pickled_classifier(crops, tmp_path_factory):
    sklearn = pytest.importorskip("sklearn.ensemble")
    joblib = pytest.importorskip("joblib")
    train = crops[:60]
    x = np.concatenate([train, np.rot90(train, 2, axes=(1, 2))]).reshape(120, -1)
    y = np.repeat([0, 1], 60)
    clf = sklearn.RandomForestClassifier(n_estimators=20, random_state=0).fit(x, y)
    path = tmp_path_factory.mktemp("flip") / "flip.p"
    joblib.dump(clf, path)
    return path


def test_gen_batch_sequence_indexes_h5(tmp_path):
    assert [list(b) for b in gen_batch_sequence(25, 10, 5)] == [
        list(range(0, 10)), list(range(5, 15)), list(range(10, 20)), list(range(15, 25))]
    assert gen_batch_sequence(30, 10, 0, offset=10) == [range(10, 20), range(20, 30)]
    with h5py.File(tmp_path / "x.h5", "w") as f:
        data = f.create_dataset("frames", data=np.arange(50 * 4).reshape(50, 2, 2))
        for batch in gen_batch_sequence(len(data) - 1, 20, 0):
            np.testing.assert_array_equal(data[batch], np.arange(50 * 4).reshape(50, 2, 2)[
                batch.start:batch.stop])
            data[batch] = data[batch] * 0
        assert np.all(data[:49] == 0) and np.all(data[49] != 0)


def test_clean_frames_with_the_notebook_parameters(arena, crops):
    config = arena.config
    strels = get_strels(config)
    clean_parameters = {"prefilter_space": config["spatial_filter_size"],
                        "prefilter_time": config["temporal_filter_size"],
                        "strel_tail": strels["strel_tail"],
                        "iters_tail": config["tail_filter_iters"],
                        "frame_dtype": config["frame_dtype"],
                        "strel_min": strels["strel_min"],
                        "iters_min": config["cable_filter_iters"]}
    one = clean_frames(np.array([crops[5]]), **clean_parameters)[0]
    assert one.shape == crops[5].shape and one.dtype == np.uint8
    many = clean_frames(crops[:20], **clean_parameters)
    np.testing.assert_array_equal(many[5], one)
    # the tail (a thin low strip) is opened away, the body stays: area and height similar
    body = crops[:20] > 10
    kept = many > 10
    assert 0.85 < kept.sum() / body.sum() <= 1.0
    # salt noise is removed by the spatial median
    noisy = crops[:3].copy()
    noisy[:, 2, 2] = 200
    assert np.all(clean_frames(noisy, **clean_parameters)[:, 2, 2] == 0)
    # the temporal median along frames: a one-frame flash disappears
    flash = np.repeat(crops[:1], 5, axis=0)
    flash[2] = 0
    out = clean_frames(flash, prefilter_space=[0], prefilter_time=[3], iters_tail=0)
    np.testing.assert_array_equal(out[2], flash[1])


def _mixed(crops):
    test = crops[60:]
    truth = np.zeros(len(test), bool)
    truth[::3] = True
    mixed = test.copy()
    mixed[truth] = np.rot90(test[truth], 2, axes=(1, 2))
    return mixed, truth


@pytest.mark.parametrize("kind", ["npz", "pickle"])
def test_get_flips_finds_the_turned_crops(crops, kind, request):
    path = request.getfixturevalue("npz_classifier" if kind == "npz" else "pickled_classifier")
    mixed, truth = _mixed(crops)
    flips = get_flips(mixed, flip_file=str(path))
    assert flips.shape == truth.shape and flips.dtype == bool
    assert np.mean(flips == truth) > 0.9
    # smoothing: a median over runs; all-east frames stay all-east
    np.testing.assert_array_equal(get_flips(crops[60:], flip_file=str(path), smoothing=5),
                                  np.zeros(30, bool))


def test_get_flips_needs_a_classifier(crops):
    with pytest.raises(ValueError, match="flip_file"):
        get_flips(crops[:3])


def test_flip_tool_flow_rewrites_frames_and_writes_the_movie(crops, npz_classifier, tmp_path):
    mixed, truth = _mixed(crops)
    path = tmp_path / "results_00.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("frames", data=mixed)
        f.create_dataset("scalars/angle", data=np.zeros(len(mixed), np.float32))
    output_movie = str(path).replace(".h5", "_flipped.mp4")
    video_pipe = None
    with h5py.File(path, mode="a") as f:
        frames = f["frames"]
        for batch in gen_batch_sequence(len(frames) - 1, 10, 0):
            frame_batch = frames[batch]
            flips = get_flips(frame_batch.copy(), flip_file=str(npz_classifier), smoothing=None)
            flip_indices = np.where(flips)
            frame_batch[flip_indices] = np.rot90(f["frames"][batch][flip_indices], k=2,
                                                 axes=(1, 2))
            f["frames"][batch] = frame_batch
            f["scalars/angle"][flip_indices] += np.pi
            video_pipe = write_frames_preview(output_movie, frame_batch, pipe=video_pipe,
                                              close_pipe=False, depth_min=0, depth_max=100,
                                              fps=30, progress_bar=False)
        assert video_pipe is not None
        video_pipe.communicate()
        restored = f["frames"][:-1]
    assert np.mean(np.all(restored == crops[60:-1], axis=(1, 2))) > 0.9
    info = get_video_info(output_movie)
    assert info["dims"] == (80, 80)
    assert info["nframes"] == len(mixed) - 1 and info["fps"] == pytest.approx(30)


def test_write_frames_preview_closes_by_default(crops, tmp_path):
    out = tmp_path / "preview.mp4"
    assert write_frames_preview(str(out), crops[:7, :, :79], fps=15, depth_max=100,
                                frame_range=range(100, 107)) is None
    info = get_video_info(out)
    assert info["dims"] == (80, 80)  # odd widths are padded to even for H.264
    assert info["nframes"] == 7 and info["fps"] == pytest.approx(15)
    import av

    with av.open(str(out)) as movie:
        first = next(movie.decode(video=0)).to_ndarray(format="rgb24")
    # jet: height 0 is dark blue, the mouse (~30-60 mm of 100) cyan/green/yellow
    mouse = crops[0, :, :79] > 20
    assert first[:80, :79][~mouse][:, 2].mean() > 100  # blue background
    assert first[:80, :79][mouse][:, 1].mean() > 100  # green-ish mouse
