"""The documented Python API (spec 6): every function of helpers.data, helpers.extract,
helpers.wrappers and gui called as the original documents it."""

from __future__ import annotations

import builtins
import io
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from moseq2_extract import gui
from moseq2_extract.batch.jobs import DONE, SKIPPED
from moseq2_extract.config import read_config_file
from moseq2_extract.errors import ConfigError
from moseq2_extract.heading import download as flip_download
from moseq2_extract.heading.classifier import ForestClassifier, save_flip_classifier
from moseq2_extract.helpers import data as hdata
from moseq2_extract.helpers import extract as hextract
from moseq2_extract.helpers import wrappers as hwrap
from moseq2_extract.io.video import chunk_ranges, open_depth_video
from moseq2_extract.output.h5layout import scalar_attributes

N = 120


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from moseq2_extract.synthetic import SessionSpec, write_session

    root = tmp_path_factory.mktemp("api_template")
    write_session(root / "sessA", SessionSpec(n_frames=N, seed=5, session_name="sessA",
                                              subject_name="Mouse1"), fmt="dat")
    return root


@pytest.fixture
def experiment(template, tmp_path):
    root = tmp_path / "exp"
    shutil.copytree(template, root)
    config_file = tmp_path / "config.yaml"
    assert gui.generate_config_command(str(config_file)) == \
        "Configuration file has been successfully generated."
    return root, root / "sessA" / "depth.dat", config_file


def answer(monkeypatch, *replies):
    it = iter(replies)
    monkeypatch.setattr(builtins, "input", lambda prompt="": next(it))


def test_generate_config_command_asks_before_overwriting(tmp_path, monkeypatch):
    path = tmp_path / "config.yaml"
    assert gui.generate_config_command(str(path), camera_type="azure").startswith(
        "Configuration file has been successfully")
    data = read_config_file(path)
    assert data["bg_roi_depth_range"] == [550.0, 650.0] and data["spatial_filter_size"] == [5]
    assert data["crop_size"] == [80, 80] and data["camera_type"] == "auto"
    answer(monkeypatch, "n")
    assert gui.generate_config_command(str(path)) == "Configuration file has been retained"
    assert read_config_file(path)["spatial_filter_size"] == [5]
    answer(monkeypatch, "y")
    gui.generate_config_command(str(path))
    assert read_config_file(path)["spatial_filter_size"] == [3]


def test_session_selection(monkeypatch):
    assert gui.parse_selection("1,2,3", 5) == [0, 1, 2]
    assert gui.parse_selection("1-3", 5) == [0, 1, 2]
    assert gui.parse_selection("4", 5) == [3]
    assert gui.parse_selection("e 2-3", 5) == [0, 3, 4]
    assert gui.parse_selection("q", 5) is None
    with pytest.raises(ValueError):
        gui.parse_selection("7", 5)
    paths = ["a", "b", "c"]
    assert gui.get_selected_sessions(paths, extract_all=True) == paths
    answer(monkeypatch, "x", "2-3")
    assert gui.get_selected_sessions(paths, extract_all=False) == ["b", "c"]
    answer(monkeypatch, "q")
    assert gui.get_selected_sessions(paths, extract_all=False) == []


def test_extraction_api_chain(experiment, tmp_path):
    root, depth, config_file = experiment
    # run_local_extract: the batch of the notebooks, in this process
    results = hextract.run_local_extract([str(depth)], str(config_file))
    assert [r.status for r in results] == [DONE]
    proc = depth.parent / "proc"
    assert hdata.check_completion_status(proc / "results_00.yaml") is True
    assert hdata.check_completion_status(tmp_path / "missing.yaml") is False
    results = hextract.run_local_extract([str(depth)], str(config_file), skip_extracted=True)
    assert [r.status for r in results] == [SKIPPED]
    assert gui.extract_command(str(depth), None, str(config_file), skip=True) == \
        "Extraction completed."

    # extract_wrapper: returns the output folder (None when skipped)
    config_data = read_config_file(config_file)
    short = hwrap.extract_wrapper(str(depth), str(tmp_path / "short"), config_data,
                                  num_frames=40)
    assert short == str(tmp_path / "short")
    with h5py.File(tmp_path / "short" / "results_00.h5") as f:
        assert f["frames"].shape[0] == 40
    assert hwrap.extract_wrapper(str(depth), str(tmp_path / "short"), config_data,
                                 skip=True) is None

    # the original's step-by-step path: ROI, metadata, h5 skeleton, chunk loop
    config_data = read_config_file(config_file)
    roi, bground, first = hwrap.get_roi_wrapper(str(depth), config_data,
                                                output_dir=str(tmp_path / "manual"))
    assert roi.dtype == bool and roi.shape == (424, 512) and first.shape == (1, 424, 512)
    assert config_data["output_dir"] == str(tmp_path / "manual")
    assert config_data["finfo"]["nframes"] == N and config_data["finfo"]["dims"] == [512, 424]
    assert (tmp_path / "manual" / "bground.tiff").exists()
    metadata, timestamps, tar = hdata.handle_extract_metadata(str(depth), str(depth.parent))
    assert tar is None and metadata["SessionName"] == "sessA" and timestamps.shape == (N,)
    status = {"uuid": "0000-test", "parameters": {"fps": 30.0}, "complete": False}
    h5_path = tmp_path / "manual" / "results_00.h5"
    with h5py.File(h5_path, "w") as h5:
        hdata.create_extract_h5(h5, metadata, {**config_data, "timestamps": timestamps},
                                status, scalar_attributes(), N, roi, bground, first, 0, N)
        hextract.process_extract_batches(
            str(depth), config_data, bground, roi, chunk_ranges(0, N, 50), {},
            str(tmp_path / "manual" / "results_00.mp4"), h5_file=h5)
    assert (tmp_path / "manual" / "results_00.mp4").stat().st_size > 0
    with h5py.File(h5_path) as a, h5py.File(proc / "results_00.h5") as b:
        assert a["metadata/uuid"].asstr()[()] == "0000-test"
        assert np.array_equal(a["frames"][()], b["frames"][()])
        assert np.array_equal(a["frames_mask"][()], b["frames_mask"][()])
        for key in b["scalars"]:
            assert np.array_equal(a["scalars"][key][()], b["scalars"][key][()],
                                  equal_nan=True), key
        assert np.array_equal(a["timestamps"][()], b["timestamps"][()])


def test_chunk_helpers():
    rng = np.random.default_rng(0)
    results = {"depth_frames": rng.integers(0, 60, (6, 16, 16)).astype(np.uint8),
               "mask_frames": rng.normal(-50, 80, (6, 16, 16)).astype(np.float32),
               "chunk": rng.integers(0, 60, (6, 30, 40)).astype(np.uint8),
               "scalars": {"centroid_x_px": np.arange(6, dtype=np.float32)},
               "flips": np.array([0, 1, 0, 1, 0, 1], bool),
               "parameters": {"mean": np.arange(6)[:, None] * np.ones(3),
                              "cov": np.arange(6)[:, None, None] * np.ones((3, 3))}}
    out, mean, cov = hextract.set_tracking_model_parameters(
        dict(results), min_height=10, tracking_model_ll_clip=-100, chunk_overlap=2)
    masks = out["mask_frames"]
    assert masks.min() >= -100
    assert np.all(masks[results["depth_frames"] < 10] == -100)
    assert mean.tolist() == [3.0, 3.0, 3.0] and cov[0, 0] == 3.0
    same, m0, c0 = hextract.set_tracking_model_parameters(
        {**results, "parameters": None}, 10, -100, 0)
    assert m0 is None and c0 is None and same["mask_frames"] is results["mask_frames"]
    movie = hextract.make_output_movie(results, {"min_height": 10, "max_height": 100},
                                       offset=2)
    assert movie.shape == (4, 46, 56, 3) and movie.dtype == np.uint8


def test_write_chunk_rows_count_from_the_first_extracted_frame(tmp_path):
    """A trimmed start (first_frame_idx 10) writes frame i at row i - 10 (spec 7.1-6)."""
    roi = np.ones((424, 512), bool)
    with h5py.File(tmp_path / "r.h5", "w") as h5:
        hdata.create_extract_h5(h5, {}, {"crop_size": (16, 16), "flip_classifier": "x.npz",
                                     "true_depth": 673.0},
                                {"uuid": "u", "parameters": {}}, scalar_attributes(), 20, roi,
                                np.full((424, 512), 700.0), np.zeros((424, 512), np.uint16),
                                10, 30)
        results = {"depth_frames": np.full((8, 16, 16), 7, np.uint8),
                   "mask_frames": np.ones((8, 16, 16), bool),
                   "scalars": {k: np.full(8, 2.5, np.float32) for k in scalar_attributes()},
                   "flips": np.ones(8, bool)}
        hextract.write_extracted_chunk_to_h5(h5, results, {"flip_classifier": "x.npz"},
                                             list(scalar_attributes()), range(20, 28), 3)
        frames = h5["frames"][()]
        # frames 23..27 (offset 3 into 20..27) land on rows 13..17
        assert np.all(frames[13:18] == 7) and not frames[:13].any() and not frames[18:].any()
        assert h5["scalars/angle"][13:18].tolist() == [2.5] * 5
        assert h5["metadata/extraction/flips"][()].sum() == 5


def test_flip_classifier_checks_and_download(tmp_path, monkeypatch):
    forest = ForestClassifier(classes_=np.array([0, 1]), n_features_=6400,
                              tree_offsets=np.array([0, 1]), children_left=np.array([-1]),
                              children_right=np.array([-1]), feature=np.array([-2]),
                              threshold=np.array([0.0]), value=np.array([[0.5, 0.5]]), meta={})
    clf = save_flip_classifier(tmp_path / "clf.npz", forest)
    hwrap.validate_flip_classifier({"flip_classifier": str(clf), "crop_size": [80, 80]})
    hwrap.validate_flip_classifier({"flip_classifier": None})
    hwrap.validate_flip_classifier({"flip_classifier": str(tmp_path / "missing.npz")})
    with pytest.raises(ValueError, match="6400 features"):
        hwrap.validate_flip_classifier({"flip_classifier": str(clf), "crop_size": [64, 64]})

    payload = clf.read_bytes()
    fetched = []

    class Response(io.BytesIO):
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    def fake_urlopen(url, timeout=None):
        fetched.append(url)
        return Response(payload)

    monkeypatch.setattr(flip_download.urllib.request, "urlopen", fake_urlopen)
    config = tmp_path / "config.yaml"
    config.write_text("min_height: 5\n")
    path = hwrap.flip_file_wrapper(str(config), str(tmp_path / "dl"), selected_flip=0)
    assert fetched == [hwrap.FLIP_CLASSIFIERS[0][1]]
    assert Path(path).read_bytes() == payload and Path(path).name.endswith("fiber.npz")
    assert read_config_file(config) == {"min_height": 5,
                                        "flip_classifier": str(Path(path).resolve())}
    path = gui.download_flip_command(str(tmp_path / "dl"), str(config), selection=3)
    assert Path(path).name == "flip_classifier_azure_temp.npz"
    with pytest.raises(ConfigError):
        hwrap.flip_file_wrapper(str(config), str(tmp_path), selected_flip=9)


def test_notebook_commands_and_indexes(experiment, tmp_path, monkeypatch):
    root, depth, config_file = experiment
    # find_roi_command: images of the session, config updated but still shareable
    images, names = gui.find_roi_command(str(root), str(config_file))
    assert sorted(Path(n).name for n in names) == ["bground.tiff", "first_frame.tiff",
                                                   "roi_00.tiff"]
    assert len(images) == 3 and images[0].shape[-2:] == (424, 512)
    saved = read_config_file(config_file)
    assert "output_dir" not in saved or saved["output_dir"] == "proc"
    assert "finfo" not in saved and saved["movie_dtype"] == "<u2"
    assert gui.find_roi_command(str(tmp_path / "empty"), str(config_file)) is None

    # extract_found_sessions -> run_local_extract
    results = gui.extract_found_sessions(str(root), str(config_file), "dat")
    assert [r.status for r in results] == [DONE]
    with pytest.raises(OSError):
        gui.extract_found_sessions(str(root), str(tmp_path / "nope.yaml"), "dat")

    # aggregation and indexes
    index = gui.aggregate_extract_results_command(str(root), "{session_name}", "agg")
    assert index == str(root / "moseq2-index.yaml")
    agg = root / "agg"
    assert sorted(p.name for p in agg.iterdir()) == [
        "sess_a_results_00.h5", "sess_a_results_00.mp4", "sess_a_results_00.yaml"]
    assert hwrap.aggregate_extract_results_wrapper(
        str(root), "{subject_name}", str(tmp_path / "agg2")) == str(root / "moseq2-index.yaml")
    # the session is found twice (proc/ and agg/), copied once (same uuid)
    assert len(list((tmp_path / "agg2").glob("mouse1_*.h5"))) == 1
    out = gui.generate_index_command(str(root / "sessA"), str(tmp_path / "i1.yaml"))
    assert out == str(tmp_path / "i1.yaml")
    assert hwrap.generate_index_wrapper(str(agg), str(tmp_path / "i2.yaml")) == \
        str(tmp_path / "i2.yaml")
    i1 = yaml.safe_load(Path(out).read_text())
    i2 = yaml.safe_load((tmp_path / "i2.yaml").read_text())
    assert i1["files"][0]["uuid"] == i2["files"][0]["uuid"]
    assert hwrap.generate_index_from_agg_res_wrapper(str(agg)) is None
    assert len(yaml.safe_load((root / "moseq2-index.yaml").read_text())["files"]) == 1

    yml = agg / "sess_a_results_00.yaml"
    data = yaml.safe_load(yml.read_text())
    data["metadata"] = {}
    yml.write_text(yaml.safe_dump(data))
    hwrap.copy_h5_metadata_to_yaml_wrapper(str(agg), "/metadata/acquisition")
    assert yaml.safe_load(yml.read_text())["metadata"]["SubjectName"] == "Mouse1"

    # index shape built directly
    index = hdata.build_index_dict([(str(agg / "sess_a_results_00.h5"), str(yml), data)])
    assert index["files"][0]["group"] == "default" and index["pca_path"] == ""

    # manifest helpers
    loaded = hdata.load_extraction_meta_from_h5s([(data, str(agg / "sess_a_results_00.h5"))])
    manifest = hdata.build_manifest(loaded, "{subject_name}")
    hdata.copy_manifest_results(manifest, tmp_path / "agg3")
    assert (tmp_path / "agg3" / "mouse1_sess_a_results_00.h5").exists()


def test_slurm_script_mode_and_conversions(experiment, tmp_path):
    root, depth, config_file = experiment
    config = {**read_config_file(config_file), "slurm_submit": "script", "ncpus": 2,
              "partition": "main", "prefix": "module load x; "}
    lines = hextract.run_slurm_extract(str(root), [str(depth)], config)
    assert len(lines) == 1 and lines[0].startswith("sbatch -c 2 --mem=5GB -p main -t 3:00:00")
    assert (root / "extract_out.sh").read_text().splitlines() == lines
    assert "module load x; moseq2-extract extract --config-file" in lines[0]
    assert (depth.parent / "proc" / "config.yaml").exists()

    with open_depth_video(depth) as reader:
        frames = reader.read(0, 30)
    out = hwrap.copy_slice_wrapper(str(depth), str(tmp_path / "first.avi"), (0, 30), 16, 30,
                                   False, 2, "DEPTH")
    with open_depth_video(out) as reader:
        assert np.array_equal(reader.read(0, reader.nframes), frames)
    avi = hwrap.convert_raw_to_avi_wrapper(str(depth), None, 64, 30, False, 2, "DEPTH")
    assert avi == str(depth.with_suffix(".avi")) and depth.exists()
