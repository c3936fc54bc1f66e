"""moseq2-index.yaml: building, skipping unfinished sessions, agg-to-index (batch/index.py)."""

from __future__ import annotations

import os

import pytest
import yaml

from moseq2_extract.batch.aggregate import (
    aggregate_results,
)
from moseq2_extract.batch.index import (
    build_index_dict,
    copy_h5_metadata_to_yaml,
    generate_index,
    index_from_aggregate,
)
from moseq2_extract.output.status import read_status

from .fake_results import META, fake_result


def test_index_dict_shape_and_duplicates():
    files = [("a.h5", "a.yaml", {"uuid": "u1", "metadata": {"SessionName": "s1"}}),
             ("b.h5", "b.yaml", {"uuid": "u1", "metadata": {}}),
             ("c.h5", "c.yaml", {"uuid": "u2"})]
    index = build_index_dict(files)
    assert index["pca_path"] == ""
    assert [e["uuid"] for e in index["files"]] == ["u1", "u2"]
    assert index["files"][0]["metadata"] == {"SessionName": "s1", "SubjectName": "default_0"}
    assert index["files"][1]["metadata"] == {"SessionName": "default_2",
                                             "SubjectName": "default_2"}
    assert index["files"][0]["path"] == (os.path.abspath("a.h5"), os.path.abspath("a.yaml"))


def test_generate_index_skips_unfinished_and_fills_metadata(tmp_path):
    fake_result(tmp_path / "a" / "proc", "u1", META)
    fake_result(tmp_path / "b" / "proc", "u2", META, complete=False)
    c = fake_result(tmp_path / "c" / "proc", "u3", META)
    data = read_status(c.with_suffix(".yaml"))
    del data["metadata"]
    (c.with_suffix(".yaml")).write_text(yaml.safe_dump(data))
    out = generate_index(tmp_path, tmp_path / "moseq2-index.yaml")
    idx = yaml.safe_load(out.read_text())
    assert [e["uuid"] for e in idx["files"]] == ["u1", "u3"]
    assert idx["files"][1]["metadata"]["SubjectName"] == "Mouse1"  # from the h5


@pytest.mark.parametrize("slash", ["", "/"])
def test_agg_to_index_writes_next_to_the_folder(tmp_path, slash):
    agg = tmp_path / "aggregate_results"
    fake_result(tmp_path / "s" / "proc", "u1", META)
    aggregate_results(tmp_path, output_dir=agg)
    (tmp_path / "moseq2-index.yaml").unlink()
    (tmp_path / "_pca").mkdir()
    (tmp_path / "_pca" / "pca_scores.h5").write_bytes(b"")
    path = index_from_aggregate(str(agg) + slash)
    assert path == tmp_path / "moseq2-index.yaml"
    idx = yaml.safe_load(path.read_text())
    assert idx["pca_path"] == str(tmp_path / "_pca" / "pca_scores.h5")
    (entry,) = idx["files"]
    assert entry["path"][0].endswith(".h5") and entry["path"][0][:-3] == entry["path"][1][:-5]


def test_copy_h5_metadata_to_yaml(tmp_path):
    h5 = fake_result(tmp_path / "a" / "proc", "u1", META)
    fake_result(tmp_path / "b" / "proc", "u2", META, complete=False)
    yml = h5.with_suffix(".yaml")
    data = read_status(yml)
    data["metadata"] = {}
    yml.write_text(yaml.safe_dump(data))
    updated = copy_h5_metadata_to_yaml(tmp_path)
    assert updated == [yml]
    assert read_status(yml)["metadata"] == META
