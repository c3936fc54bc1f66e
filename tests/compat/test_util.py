"""``moseq2_extract.util``, ``io.image`` and ``io.video``'s info functions, as moseq2-app
and users' scripts call them."""

from __future__ import annotations

import inspect
import json
import warnings

import h5py
import numpy as np
import pytest

from moseq2_extract import util
from moseq2_extract.io.image import read_image, read_tiff_files, write_image
from moseq2_extract.io.video import (
    get_movie_info,
    get_raw_info,
    get_stream_names,
    get_video_info,
    load_timestamps_from_movie,
    read_frames,
    read_frames_raw,
)


def test_filter_warnings_silences_and_keeps_the_signature():
    @util.filter_warnings
    def noisy(a, b=2):
        """Doc."""
        warnings.warn("loud", UserWarning, stacklevel=1)
        return a + b

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert noisy(1) == 3
    assert list(inspect.signature(noisy).parameters) == ["a", "b"]
    assert noisy.__doc__ == "Doc." and noisy.__name__ == "noisy"


def test_read_yaml_and_check_filter_sizes(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("frame_trim: &id001 [0, 0]\nmodel_smoothing_clips: *id001\n"
                    "spatial_filter_size: [4]\ntemporal_filter_size: [2, 3]\n")
    data = util.read_yaml(path)
    assert data["model_smoothing_clips"] == [0, 0]
    (tmp_path / "empty.yaml").write_text("")
    assert util.read_yaml(tmp_path / "empty.yaml") == {}
    with pytest.warns(UserWarning):
        out = util.check_filter_sizes(data)
    assert out is data
    assert out["spatial_filter_size"] == [5] and out["temporal_filter_size"] == [3, 3]
    with pytest.warns(UserWarning, match="temporal"):
        util.check_filter_sizes({"temporal_filter_size": (4,)})  # tuples work
    with pytest.raises(OSError, match="missing.yaml"):
        util.read_yaml(tmp_path / "missing.yaml")


def test_h5_dict_round_trip(tmp_path):
    data = {"a": 1, "b": [1.5, 2.5], "c": "text", "d": {"e": True, "f": None}}
    with h5py.File(tmp_path / "x.h5", "w") as f:
        util.dict_to_h5(f, data, root="/params", annotations={"a": "the a"})
        assert f["params/a"].attrs["description"] == "the a"
    assert util.h5_to_dict(tmp_path / "x.h5", "/params") == data
    with h5py.File(tmp_path / "x.h5", "r") as f:
        assert util.h5_to_dict(f, "params/d") == {"e": True, "f": None}


def test_timestamps_and_metadata(arena, tmp_path):
    ts = util.load_timestamps(arena.depth.parent / "depth_ts.txt")
    np.testing.assert_allclose(ts, arena.truth.timestamps_ms)
    (tmp_path / "two.txt").write_text("1 10\n2 20\n3 30\n")
    np.testing.assert_array_equal(util.load_timestamps(tmp_path / "two.txt", col=1),
                                  [10, 20, 30])
    np.testing.assert_array_equal(util.load_timestamps(tmp_path / "two.txt",
                                                       alternate=True), [10, 20, 30])
    (tmp_path / "timestamps.csv").write_text("0.5,1\n1.0,2\n")
    np.testing.assert_array_equal(util.load_timestamps(tmp_path / "timestamps.csv"),
                                  [500, 1000])
    meta = util.load_metadata(arena.depth.parent / "metadata.json")
    assert meta == json.loads((arena.depth.parent / "metadata.json").read_text())
    assert "SubjectName" in meta


def test_frames_and_names():
    assert util.get_frame_range_indices(10, 5, 100) == (10, 95)
    assert util.get_frame_range_indices(0, 0, 100) == (0, 100)
    windows = util.strided_app(np.arange(10), 4, 3)
    np.testing.assert_array_equal(windows, [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    assert util.camel_to_snake("SessionName") == "session_name"
    assert util.clean_file_str('d<a:t\\t"a') == "d-a-t-t-a"
    assert util.time_str_for_filename("2019-03-20T14:29:23.078-04:00") == "2019-03-20_14-29-23"
    assert util.build_path({"subject_name": "MouseA", "session_name": "s1"},
                           "{subject_name}_{session_name}") == "mouse_a_s1"
    assert list(util.scalar_attributes())[:2] == ["centroid_x_px", "centroid_y_px"]
    assert util.clean_dict({"a": np.float32(1.5), "b": (1, 2), "c": np.arange(2)}) == {
        "a": 1.5, "b": [1, 2], "c": [0, 1]}


def test_convert_pxs_to_mm_pinhole():
    mm = util.convert_pxs_to_mm(np.array([[256, 212], [356, 212], [256, 312]]))
    assert mm.shape == (3, 2)
    np.testing.assert_allclose(mm[0], 0, atol=1e-9)
    fx = 512 / (2 * np.tan(np.radians(70.6) / 2))
    fy = 424 / (2 * np.tan(np.radians(60) / 2))
    np.testing.assert_allclose(mm[1], [100 * 673.1 / fx, 0])
    np.testing.assert_allclose(mm[2], [0, 100 * 673.1 / fy])


def test_camera_of_an_avi():
    assert util.detect_avi_file({"dims": (512, 424)}) == "kinect"
    assert util.detect_avi_file({"dims": (640, 576)}) == "azure"
    assert util.detect_avi_file({"dims": (640, 480)}) == "realsense"
    assert util.detect_avi_file({"dims": (100, 100)}) == "kinect"


def test_plane_background(tmp_path):
    plane = np.array([0.0, 0.0, -1.0, 700.0])
    bg = util.set_bground_to_plane_fit(np.zeros((4, 5)), plane, tmp_path)
    np.testing.assert_allclose(bg, 700)
    np.testing.assert_allclose(read_image(tmp_path / "bground.tiff"), 700, atol=0.02)


def test_discovery(arena, tmp_path):
    from moseq2_extract.config import make_config
    from moseq2_extract.pipeline.session import extract_session

    found = util.recursive_find_unextracted_dirs(arena.depth.parent.parent)
    assert str(arena.depth) in found
    outcome = extract_session(arena.depth, make_config({"num_frames": 30}))
    h5s, dicts, yamls = util.recursive_find_h5s(arena.depth.parent)
    assert h5s == [str(outcome.h5_path)] and dicts[0]["complete"] is True
    assert util.mouse_threshold_filter(h5s[0], thresh=0.5)
    assert str(arena.depth) not in util.recursive_find_unextracted_dirs(
        arena.depth.parent.parent)
    # viewers read the preview movie's size (8-bit H.264)
    info = get_video_info(outcome.output_dir / "results_00.mp4")
    assert info["nframes"] == 30 and info["dims"][0] % 2 == 0 and info["fps"] == 30


def test_tuple_scale_factor_and_read_tiff_files(tmp_path):
    image = np.linspace(650, 750, 20).reshape(4, 5)
    write_image(tmp_path / "a.tiff", image, True, (650, 750))
    stored = read_image(tmp_path / "a.tiff", scale=False)
    assert stored.dtype == np.uint16 and stored.min() == 0 and stored.max() == 65535
    np.testing.assert_allclose(read_image(tmp_path / "a.tiff"), image, atol=100 / 65535)
    write_image(tmp_path / "b.tiff", image, compress=6)
    np.testing.assert_allclose(read_image(tmp_path / "b.tiff"), image, atol=1 / 87)
    images, names = read_tiff_files(tmp_path)
    assert [n.rsplit("/", 1)[-1] for n in names] == ["a.tiff", "b.tiff"] and len(images) == 2


def test_video_info_functions(session_factory, arena):
    raw = get_raw_info(arena.depth)
    assert raw == {"bytes": 90 * 512 * 424 * 2, "nframes": 90, "dims": (512, 424),
                   "bytes_per_frame": 512 * 424 * 2}
    assert get_movie_info(arena.depth)["nframes"] == 90
    np.testing.assert_array_equal(read_frames_raw(arena.depth, [0, 5]), arena.frames[[0, 5]])
    mkv = session_factory("mkv", n_frames=12, seed=2, camera="azure")
    info = get_video_info(mkv)
    assert info["dims"] == (640, 576) and info["nframes"] == 12
    assert get_stream_names(mkv)["DEPTH"] >= 0
    ts = load_timestamps_from_movie(mkv)
    assert ts.shape == (12,) and np.allclose(np.diff(ts), 1000 / 30, atol=1)
    frames = read_frames(mkv, [3, 7])
    assert frames.shape == (2, 576, 640) and frames.dtype == np.uint16
    avi = session_factory("avi", n_frames=12, seed=3)
    from moseq2_extract.synthetic import SessionSpec, SyntheticSession

    expected = SyntheticSession(SessionSpec(n_frames=12, seed=3)).render(5, 6)[0]
    np.testing.assert_array_equal(read_frames(avi, range(0, 12))[5], expected)
