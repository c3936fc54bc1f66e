"""aggregate-results: naming, copies, manifests (batch/aggregate.py)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from moseq2_extract.batch.aggregate import (
    aggregate_results,
    build_manifest,
    build_path,
    camel_to_snake,
    clean_file_str,
    load_extraction_meta_from_h5s,
    load_textdata,
    mouse_threshold_filter,
    recursive_find_h5s,
    time_str_for_filename,
)
from moseq2_extract.output.status import read_status

from .fake_results import META, fake_result


def test_naming_helpers():
    assert camel_to_snake("SessionName") == "session_name"
    assert camel_to_snake("sessA") == "sess_a" and camel_to_snake("Mouse1") == "mouse1"
    assert clean_file_str('d<a:t\\t"a') == "d-a-t-t-a"
    assert time_str_for_filename("12:12:12") == "12-12-12"
    assert time_str_for_filename("2019-03-20T14:29:23.0780000-04:00") == "2019-03-20_14-29-23"
    meta = {"start_time": META["StartTime"], "session_name": "sessA",
            "subject_name": "Mouse1"}
    assert build_path(meta, "{start_time}_{session_name}_{subject_name}_results_00") == \
        "2019-03-20_14-29-23_sess_a_mouse1_results_00"
    with pytest.raises(KeyError):
        build_path({"session_name": "x"}, "{start_time}")


def test_find_and_threshold(tmp_path):
    fake_result(tmp_path / "a" / "proc", "u1", META, value=0)
    fake_result(tmp_path / "b" / "proc", "u2", META, value=5)
    (tmp_path / "c").mkdir()
    with h5py.File(tmp_path / "c" / "other.h5", "w") as f:  # no yaml: not a result
        f.create_dataset("frames", data=np.zeros(3))
    h5s, dicts, yamls = recursive_find_h5s(tmp_path)
    assert [Path(h).relative_to(tmp_path).as_posix() for h in h5s] == [
        "a/proc/results_00.h5", "b/proc/results_00.h5"]
    assert [d["uuid"] for d in dicts] == ["u1", "u2"]
    assert all(y.endswith("results_00.yaml") for y in yamls)
    assert not mouse_threshold_filter(h5s[0], 0.0) and mouse_threshold_filter(h5s[1], 4.9)
    assert not mouse_threshold_filter(h5s[1], 5.0)


def test_realtime_text_files(tmp_path):
    path = tmp_path / "pc_scores.txt"
    path.write_text("100 1.5,2.5\n133 3.5,4.5\n")
    data, stamps = load_textdata(path, dtype=np.float32)
    assert data.dtype == np.float32 and data.tolist() == [[1.5, 2.5], [3.5, 4.5]]
    assert stamps.tolist() == [100.0, 133.0]
    path.write_text("10 1\n20 0\n")
    data, _ = load_textdata(path, dtype=np.bool_)
    assert data.tolist() == [True, False]


def test_aggregate_names_copies_and_indexes(tmp_path):
    root = tmp_path / "exp"
    fake_result(root / "s1" / "proc", "u1", META)
    fake_result(root / "s2" / "proc", "u2", {**META, "SessionName": "sessB"}, mp4=False)
    fake_result(root / "s3" / "proc", "u3", META, complete=False)
    fake_result(root / "s4" / "proc", "u4", META, skip=True)
    fake_result(root / "s5" / "proc", "u5", META, sample=True)
    fake_result(root / "s6" / "proc", "u6", None)  # no metadata: session_000
    fake_result(root / "s7" / "proc", "u7", META, value=0)  # no mouse
    (root / "s1" / "feedback_ts.txt").write_text("1000 1\n1033 0\n")
    (root / "s1" / "predictions.txt").write_text("1000 3\n1033 4\n")
    out = root / "aggregate_results"
    index = aggregate_results(root, output_dir=out, mouse_threshold=1.0)
    assert index == root / "moseq2-index.yaml"
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "2019-03-20_14-29-23_sess_a_mouse1_results_00.h5",
        "2019-03-20_14-29-23_sess_a_mouse1_results_00.mp4",
        "2019-03-20_14-29-23_sess_a_mouse1_results_00.yaml",
        "2019-03-20_14-29-23_sess_b_mouse1_results_00.h5",
        "2019-03-20_14-29-23_sess_b_mouse1_results_00.yaml",
        "session_000.h5", "session_000.mp4", "session_000.yaml"]
    a = out / "2019-03-20_14-29-23_sess_a_mouse1_results_00"
    status = read_status(a.with_suffix(".yaml"))
    assert status["uuid"] == "u1" and status["feedback_timestamps"] == [[1000.0, True],
                                                                        [1033.0, False]]
    assert a.with_suffix(".mp4").read_bytes() == b"movie-u1"
    with h5py.File(a.with_suffix(".h5")) as f:
        assert f["metadata/misc/realtime_predictions/data"][()].tolist() == [3, 4]
        assert f["metadata/misc/realtime_feedback/timestamps"][()].tolist() == [1000, 1033]
        assert f["frames"].shape == (30, 8, 8)
    idx = yaml.safe_load(index.read_text())
    assert sorted(idx) == ["files", "pca_path"] and idx["pca_path"] == ""
    assert sorted(e["uuid"] for e in idx["files"]) == ["u1", "u2", "u6"]
    entry = next(e for e in idx["files"] if e["uuid"] == "u1")
    assert entry["group"] == "default" and entry["metadata"]["SessionName"] == "sessA"
    assert entry["path"] == [str(a.with_suffix(".h5")), str(a.with_suffix(".yaml"))]
    assert "  path: [" in index.read_text()
    # a second run copies nothing again and keeps the same index
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    aggregate_results(root, output_dir=out, mouse_threshold=1.0)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


def test_same_names_do_not_overwrite_each_other(tmp_path):
    root = tmp_path / "exp"
    fake_result(root / "a" / "proc", "u1", META)
    fake_result(root / "b" / "proc", "u2", META)
    out = tmp_path / "agg"
    aggregate_results(root, output_dir=out)
    stem = "2019-03-20_14-29-23_sess_a_mouse1_results_00"
    assert sorted(p.name for p in out.glob("*.yaml")) == [f"{stem}.yaml", f"{stem}_2.yaml"]
    # a session added later with the same name gets a free name too
    fake_result(root / "0" / "proc", "u0", META)
    aggregate_results(root, output_dir=out)
    uuids = {p.stem: read_status(p)["uuid"] for p in out.glob("*.yaml")}
    assert uuids == {stem: "u1", f"{stem}_2": "u2", f"{stem}_3": "u0"}


def test_interrupted_copy_is_completed_not_duplicated(tmp_path):
    root = tmp_path / "exp"
    fake_result(root / "a" / "proc", "u1", META)
    out = tmp_path / "agg"
    aggregate_results(root, output_dir=out)
    stem = "2019-03-20_14-29-23_sess_a_mouse1_results_00"
    (out / f"{stem}.yaml").unlink()  # killed after the h5 copy, before the yaml
    aggregate_results(root, output_dir=out)
    assert sorted(p.name for p in out.iterdir()) == [f"{stem}.h5", f"{stem}.mp4",
                                                     f"{stem}.yaml"]


def test_manifest_and_meta_loading(tmp_path):
    h5 = fake_result(tmp_path / "s" / "proc", "u1", META)
    loaded = load_extraction_meta_from_h5s([({"uuid": "u1"}, str(h5))])
    (entry, path), = loaded
    assert path == str(h5)
    assert entry["extraction_metadata"]["session_name"] == "sessA"
    assert entry["extraction_metadata"]["depth_resolution"] == "[512, 424]"
    manifest = build_manifest(loaded, "{subject_name}")
    assert manifest[str(h5)]["copy_path"] == "mouse1_results_00"
    assert "extraction_metadata" not in manifest[str(h5)]["yaml_dict"]
    assert build_manifest(loaded, "{nope}")[str(h5)]["copy_path"] == "session_000"


