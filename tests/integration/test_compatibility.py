"""Files we write are read back the way moseq2-extract 1.4.0 wrote them and downstream reads.

``tests/data/reference_layout.json`` was recorded from a run of moseq2-extract 1.4.0
(``benchmarks/dump_reference_layout.py``); it holds facts about its output files only.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
import yaml

from moseq2_extract.config import make_config
from moseq2_extract.pipeline.session import extract_session

REFERENCE = json.loads((Path(__file__).parents[1] / "data" / "reference_layout.json")
                       .read_text())["extract"]
N = 120


@pytest.fixture(scope="module")
def outcome(session_factory):
    depth = session_factory("dat", n_frames=N, seed=11)
    return extract_session(depth, make_config({}))


def _dims(shape, n):
    return [n if s == "n" else s for s in shape]


def test_every_reference_h5_path_dtype_shape_and_description(outcome):
    with h5py.File(outcome.h5_path, "r") as f:
        for path, ref in REFERENCE["results_h5"].items():
            if "/parameters/" in path:
                continue
            assert path in f, path
            obj = f[path]
            if ref["kind"] == "group":
                assert isinstance(obj, h5py.Group), path
                continue
            assert obj.dtype.str == ref["dtype"], path
            if not ref.get("null_dataspace"):
                assert list(obj.shape) == _dims(ref["shape"], N), path
            assert obj.compression == ref["compression"], path
            if ref["compression"]:
                assert obj.compression_opts == ref["compression_opts"], path
            for key, value in ref["attrs"].items():
                assert obj.attrs[key] == value, (path, key)
            if ref.get("string"):
                assert h5py.check_string_dtype(obj.dtype).encoding == ref["string"]["encoding"]


def test_parameters_group_holds_every_reference_key(outcome):
    ref_keys = {p.rsplit("/", 1)[1] for p in REFERENCE["results_h5"]
                if "/parameters/" in p}
    with h5py.File(outcome.h5_path, "r") as f:
        ours = set(f["metadata/extraction/parameters"])
        assert ref_keys <= ours
        for key in ref_keys:
            assert "description" in f[f"metadata/extraction/parameters/{key}"].attrs


def test_downstream_reads(outcome):
    """The reads moseq2-pca / moseq2-viz perform on results_00.h5 and the yaml."""
    with h5py.File(outcome.h5_path, "r") as f:
        frames = f["frames"][:10]
        assert frames.dtype == np.uint8 and frames.shape == (10, 80, 80)
        assert f["frames_mask"][:10].dtype == bool
        ts = f["timestamps"][()] / 1000.0
        assert np.all(np.diff(ts) > 0)
        meta = {k: f["metadata/acquisition"][k][()] for k in f["metadata/acquisition"]}
        assert "SessionName" in meta
        uuid = f["metadata/uuid"][()]
        assert isinstance(uuid, bytes)
        roi = f["metadata/extraction/roi"][()]
        assert roi.dtype == bool and roi.shape == (424, 512)
        assert f["metadata/extraction/extract_version"][()] == b"1.4.0"
    status = yaml.safe_load(outcome.yaml_path.read_text())
    # the reference's keys, plus this implementation's record of how timestamps were read
    # and what was worked around (docs/compatibility.md)
    assert {"complete", "metadata", "parameters", "skip", "uuid"} <= set(status)
    assert set(status) - {"complete", "metadata", "parameters", "skip", "uuid"} <= {
        "timestamp_source", "warnings"}
    assert set(REFERENCE["results_yaml"]["parameters_keys"]) <= set(status["parameters"])


def test_tiffs_match_reference_conventions(outcome):
    for name, ref in REFERENCE["tiffs"].items():
        path = outcome.output_dir / name
        assert path.exists(), name
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            assert page.dtype.str == ref["dtype"], name
            desc = json.loads(page.description)
            assert sorted(desc) == ref["image_description_keys"], name
            assert list(tif.series[0].shape) == ref["series_shape"], name


def test_movie_matches_reference_encoding(outcome):
    import av

    ref = REFERENCE["results_mp4"]
    with av.open(str(outcome.movie_path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == ref["codec"]
        assert stream.codec_context.pix_fmt == ref["pix_fmt"]
        n = sum(1 for _ in container.decode(stream))
    assert n == N
