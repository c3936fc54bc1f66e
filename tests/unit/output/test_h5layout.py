"""The results_XX.h5 layout, read back with plain h5py and compared with the original's.

``tests/data/reference_layout.json`` describes a file written by moseq2-extract 1.4.0
(dtype, shape, compression, chunking, string type and description of every path); the
file written here must match it entry by entry.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import numpy as np
import pytest

from moseq2_extract.config import PARAM_BY_KEY
from moseq2_extract.extract.results import SCALAR_NAMES, ChunkResult
from moseq2_extract.output.h5layout import (
    LAYOUT,
    SCALAR_DESCRIPTIONS,
    encode_acquisition_value,
    read_group,
)
from moseq2_extract.output.h5writer import ResultsWriter, create_extract_h5

REFERENCE = json.loads(
    (Path(__file__).parents[2] / "data" / "reference_layout.json").read_text())
REF_H5 = REFERENCE["extract"]["results_h5"]
N, C, H, W = 10, 80, 424, 512
UUID = "0f3c9c4e-2a8e-4d0b-9a51-6f1d2f7c1e11"

KINECT_METADATA = {
    "ColorDataType": "Byte[]",
    "ColorResolution": [1920, 1080],
    "DepthDataType": "UInt16[]",
    "DepthResolution": [512, 424],
    "IsLittleEndian": True,
    "NidaqChannels": 4,
    "NidaqSamplingRate": 1000.0,
    "SessionName": "sessA",
    "StartTime": "2019-03-20T14:29:23.1234567-04:00",
    "SubjectName": "Mouse1",
}


def inputs(rng: np.random.Generator) -> dict:
    roi = np.zeros((H, W), bool)
    roi[100:330, 120:400] = True
    return {
        "roi": roi,
        "background": rng.uniform(600.0, 700.0, (H, W)),
        "first_frame": rng.integers(0, 1000, (H, W)).astype(np.uint16),
    }


def chunk(rng: np.random.Generator, start: int, stop: int, *, flips: bool = True,
          dtype=np.uint8) -> ChunkResult:
    k = stop - start
    return ChunkResult(
        frame_index=np.arange(start, stop),
        frames=rng.integers(0, 120, (k, C, C)).astype(dtype),
        masks=rng.random((k, C, C)) > 0.5,
        scalars={name: rng.normal(size=k).astype(np.float32) for name in SCALAR_NAMES},
        box=np.zeros((k, 4, 4), np.uint8),
        flips=(rng.random(k) > 0.5) if flips else None,
        heading_confidence=None,
    )


def describe(dset: h5py.Dataset) -> dict:
    """The same fields as the reference JSON."""
    out = {
        "chunked": dset.chunks is not None,
        "compression": dset.compression,
        "compression_opts": dset.compression_opts,
        "dtype": dset.dtype.str,
        "kind": "dataset",
        "null_dataspace": dset.shape is None,
        "shape": None if dset.shape is None else list(dset.shape),
        "shuffle": dset.shuffle,
    }
    info = h5py.check_string_dtype(dset.dtype)
    if info is not None:
        out["string"] = {"encoding": info.encoding, "length": info.length}
    return out


def expected_shape(ref_shape):
    return None if ref_shape is None else [N if d == "n" else d for d in ref_shape]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, dict]:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("layout") / "results_00.h5"
    arrays = inputs(rng)
    params = dict(REFERENCE["extract"]["results_yaml"]["parameters_values"])
    timestamps = np.arange(N) * 33.3 + 1000.0
    chunks = [chunk(rng, 0, 6), chunk(rng, 6, N)]
    with ResultsWriter(path, n_frames=N, crop_size=(C, C), frame_dtype="uint8",
                       acquisition_metadata=KINECT_METADATA, parameters=params, uuid=UUID,
                       first_frame_idx=0, last_frame_idx=N, true_depth=673.5,
                       timestamps=timestamps, with_flips=True, **arrays) as writer:
        for result in chunks:
            writer.write(result, int(result.frame_index[0]))
    truth = dict(arrays, chunks=chunks, timestamps=timestamps, params=params)
    return path, truth


def test_every_reference_path_matches(written):
    path, _ = written
    with h5py.File(path, "r") as h5:
        for ref_path, ref in REF_H5.items():
            assert ref_path in h5, ref_path
            item = h5[ref_path]
            if ref["kind"] == "group":
                assert isinstance(item, h5py.Group), ref_path
                continue
            got = describe(item)
            for key in ("chunked", "compression", "compression_opts", "dtype",
                        "null_dataspace", "shuffle", "string"):
                assert got.get(key) == ref.get(key), (ref_path, key, got.get(key))
            assert got["shape"] == expected_shape(ref["shape"]), ref_path
            if ref_path.startswith("/metadata/extraction/parameters/"):
                key = ref_path.rsplit("/", 1)[1]
                assert item.attrs["description"] == PARAM_BY_KEY[key].full_help
                if "value" in ref:
                    value = item.asstr()[()] if "string" in ref else item[()]
                    value = value.tolist() if hasattr(value, "tolist") else value
                    assert value == ref["value"], ref_path
            else:
                assert dict(item.attrs) == ref["attrs"], ref_path


def test_no_unexpected_paths(written):
    path, _ = written
    found = []
    with h5py.File(path, "r") as h5:
        h5.visit(lambda name: found.append("/" + name))
    extra = set(found) - set(REF_H5)
    # flips: written because a flip decision was recorded (the reference had none); spine:
    # this implementation's addition (documented in docs/compatibility.md)
    assert extra == {"/metadata/extraction/flips", "/metadata/extraction/spine"}


def test_spine_profiles_are_the_crops_centre_rows(written):
    path, truth = written
    frames = np.concatenate([c.frames for c in truth["chunks"]])
    with h5py.File(path, "r") as h5:
        spine = h5["metadata/extraction/spine"][()]
        assert "added by this implementation" in h5["metadata/extraction/spine"].attrs[
            "description"]
    centre = frames[:, C // 2 - 3:C // 2 + 3, :].astype(np.float64).mean(axis=1)  # 37..42
    assert spine.shape == (N, C) and spine.dtype == np.uint8
    np.testing.assert_array_equal(spine, np.rint(centre).astype(np.uint8))


def test_values_read_back_like_downstream(written):
    path, truth = written
    frames = np.concatenate([c.frames for c in truth["chunks"]])
    masks = np.concatenate([c.masks for c in truth["chunks"]])
    flips = np.concatenate([c.flips for c in truth["chunks"]])
    with h5py.File(path, "r") as h5:
        np.testing.assert_array_equal(h5["frames"][()], frames)
        np.testing.assert_array_equal(h5["frames_mask"][()], masks)
        for name in SCALAR_NAMES:
            expected = np.concatenate([c.scalars[name] for c in truth["chunks"]])
            np.testing.assert_array_equal(h5["scalars/" + name][()], expected)
        np.testing.assert_array_equal(h5["timestamps"][()], truth["timestamps"])
        assert h5["metadata/uuid"][()] == UUID.encode()  # h5py 3 returns bytes
        assert h5["metadata/uuid"].asstr()[()] == UUID
        ext = h5["metadata/extraction"]
        assert ext["true_depth"][()] == 673.5
        np.testing.assert_array_equal(ext["roi"][()], truth["roi"])
        np.testing.assert_array_equal(ext["background"][()], truth["background"])
        np.testing.assert_array_equal(ext["first_frame"][()], truth["first_frame"])
        assert ext["first_frame_idx"][()].tolist() == [0]
        assert ext["last_frame_idx"][()].tolist() == [N]
        assert ext["extract_version"][()] == b"1.4.0"
        np.testing.assert_array_equal(ext["flips"][()], flips)
        assert ext["flips"].dtype == bool
        assert ext["flips"].attrs["description"] == (
            "Output from flip classifier, false=no flip, true=flip")
        assert ext["flips"].compression == "gzip"
        assert "true_depth" not in ext["parameters"]
        acq = read_group(h5["metadata/acquisition"])
    assert acq == KINECT_METADATA


def test_scalar_descriptions_and_order():
    assert tuple(SCALAR_DESCRIPTIONS) == SCALAR_NAMES
    scalar_specs = [s.path.split("/", 1)[1] for s in LAYOUT if s.path.startswith("scalars/")]
    assert scalar_specs == list(SCALAR_NAMES)
    for name, desc in SCALAR_DESCRIPTIONS.items():
        assert REF_H5["/scalars/" + name]["attrs"]["description"] == desc


def test_acquisition_encodings_match_reference(tmp_path):
    ref = REFERENCE["acquisition_metadata_types"]
    path = tmp_path / "results_00.h5"
    rng = np.random.default_rng(1)
    with ResultsWriter(path, n_frames=0, crop_size=(C, C), frame_dtype="uint8",
                       acquisition_metadata=ref["metadata_json"], parameters={}, uuid=UUID,
                       first_frame_idx=0, last_frame_idx=0, true_depth=670.0,
                       timestamps=None, with_flips=False, **inputs(rng)):
        pass
    with h5py.File(path, "r") as h5:
        acq = h5["metadata/acquisition"]
        assert set(acq) == set(ref["metadata_json"])
        for key in ref["metadata_json"]:
            got, want = describe(acq[key]), ref["datasets"][key]
            for field in ("chunked", "compression", "dtype", "null_dataspace", "shape",
                          "string"):
                assert got.get(field) == want.get(field), (key, field)
            assert dict(acq[key].attrs) == {}
        assert acq["ProbeStrList"][()].tolist() == [b"a", b"bc"]  # ASCII byte strings
        assert acq["ProbeStr"].asstr()[()] == "abc"
        assert acq["ProbeNull"].shape is None


def test_acquisition_nested_object_is_stored_as_json(caplog):
    with caplog.at_level(logging.WARNING):
        data = encode_acquisition_value({"a": [1, 2]})
    assert json.loads(data[()]) == {"a": [1, 2]}
    assert "JSON" in caplog.text
    mixed = encode_acquisition_value([1, "a"])
    assert json.loads(mixed[()]) == [1, "a"]
    assert encode_acquisition_value(["é", "b"]).dtype == h5py.string_dtype("utf-8")


def test_parameters_group_encodings(tmp_path):
    params = {
        "config_file": None,
        "crop_size": (80, 80),
        "bg_roi_depth_range": [650.0, 750.0],
        "spatial_filter_size": [3],
        "use_cc": True,
        "chunk_size": 3000,
        "fps": 30.0,
        "camera_type": "auto",
        "extensions": [".dat", ".avi"],
        "session": {"inner": 1, "deeper": {"flag": False}},
        "not_an_option": "x",
        "true_depth": 673.0,
    }
    path = tmp_path / "results_00.h5"
    rng = np.random.default_rng(2)
    with ResultsWriter(path, n_frames=1, crop_size=(8, 8), frame_dtype="uint16",
                       acquisition_metadata={}, parameters=params, uuid=UUID,
                       first_frame_idx=0, last_frame_idx=1, true_depth=673,
                       timestamps=None, with_flips=False, **inputs(rng)) as writer:
        writer.write(ChunkResult(
            frame_index=np.arange(1), frames=np.full((1, 8, 8), 300, np.uint16),
            masks=np.ones((1, 8, 8), bool),
            scalars={s: np.ones(1, np.float32) for s in SCALAR_NAMES},
            box=np.zeros((1, 2, 2), np.uint8)), 0)
    with h5py.File(path, "r") as h5:
        grp = h5["metadata/extraction/parameters"]
        assert grp["config_file"].shape is None
        assert h5py.check_string_dtype(grp["config_file"].dtype).encoding == "utf-8"
        assert grp["crop_size"].dtype == np.int64 and grp["crop_size"][()].tolist() == [80, 80]
        assert grp["bg_roi_depth_range"].dtype == np.float64
        assert grp["spatial_filter_size"].shape == (1,)
        assert grp["use_cc"].dtype == bool and grp["use_cc"][()] is np.True_
        assert grp["chunk_size"].dtype == np.int64 and grp["chunk_size"].shape == ()
        assert grp["fps"].dtype == np.float64
        assert grp["camera_type"].asstr()[()] == "auto"
        assert grp["extensions"].asstr()[()].tolist() == [".dat", ".avi"]
        assert isinstance(grp["session"], h5py.Group)
        assert grp["session/inner"][()] == 1
        assert grp["session/deeper/flag"][()] is np.False_
        assert grp["not_an_option"].attrs["description"] == ""
        assert grp["fps"].attrs["description"] == PARAM_BY_KEY["fps"].full_help
        assert "true_depth" not in grp
        # int override of the floor depth is stored as int64; frames keep their dtype
        assert h5["metadata/extraction/true_depth"].dtype == np.int64
        assert h5["frames"].dtype == np.uint16 and h5["frames"][0, 0, 0] == 300
        decoded = read_group(grp)
    assert decoded["crop_size"] == [80, 80]
    assert decoded["config_file"] is None
    assert decoded["session"] == {"inner": 1, "deeper": {"flag": False}}


def test_create_extract_h5_api(tmp_path):
    """The spec 6.1 helper: EM masks, float ROI, full-length timestamps sliced."""
    rng = np.random.default_rng(3)
    arrays = inputs(rng)
    full_ts = np.arange(30, dtype=np.float64) * 10.0
    config = {"timestamps": full_ts, "crop_size": [40, 40], "frame_dtype": "uint8",
              "use_tracking_model": True, "flip_classifier": "clf.pkl", "true_depth": 650.25}
    status = {"uuid": UUID, "parameters": {"fps": 30.0}}
    attrs = dict(SCALAR_DESCRIPTIONS, angle="custom angle text")
    with h5py.File(tmp_path / "r.h5", "w") as h5:
        create_extract_h5(h5, {"SessionName": "s"}, config, status, attrs, 20,
                          arrays["roi"].astype(np.float64), arrays["background"],
                          arrays["first_frame"][None], 5, 25)
    with h5py.File(tmp_path / "r.h5", "r") as h5:
        assert h5["frames_mask"].dtype == np.float32
        assert h5["frames_mask"].shape == (20, 40, 40)
        assert h5["frames_mask"].attrs["description"] == (
            "Log-likelihood values from the tracking model (nframes x w x h)")
        assert h5["metadata/extraction/roi"].dtype == np.float64
        np.testing.assert_array_equal(h5["timestamps"][()], full_ts[5:25])
        assert h5["metadata/extraction/flips"].shape == (20,)
        assert h5["scalars/angle"].attrs["description"] == "custom angle text"
        assert h5["metadata/extraction/first_frame"].shape == (H, W)
        assert h5["metadata/extraction/first_frame_idx"][0] == 5
        assert h5["metadata/extraction/last_frame_idx"][0] == 25
        assert h5["metadata/uuid"].asstr()[()] == UUID
