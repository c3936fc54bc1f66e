"""results_XX.yaml: sorted keys, flow-style lists, atomic writes, completion check."""

from __future__ import annotations

import numpy as np
import yaml

from moseq2_extract.output.status import is_complete, read_status, write_status

UUID = "9e0d7a1c-1111-4222-8333-444455556666"
METADATA = {"SessionName": "sessA", "SubjectName": "Mouse1", "DepthResolution": [512, 424]}
PARAMS = {"crop_size": (80, 80), "bg_roi_depth_range": [650.0, 750.0], "fps": 30.0,
          "flip_classifier": None, "use_cc": True, "true_depth": np.float64(673.25),
          "spatial_filter_size": [3], "bg_roi_index": np.int64(0)}


def test_round_trip_and_layout(tmp_path):
    path = tmp_path / "proc" / "results_00.yaml"
    assert write_status(path, complete=False, metadata=METADATA, parameters=PARAMS,
                        uuid=UUID) == path
    data = read_status(path)
    assert data == {
        "complete": False,
        "metadata": METADATA,
        "parameters": {"crop_size": [80, 80], "bg_roi_depth_range": [650.0, 750.0],
                       "fps": 30.0, "flip_classifier": None, "use_cc": True,
                       "true_depth": 673.25, "spatial_filter_size": [3], "bg_roi_index": 0},
        "skip": False,
        "uuid": UUID,
    }
    assert type(data["parameters"]["true_depth"]) is float
    text = path.read_text()
    top = [line.split(":")[0] for line in text.splitlines() if line and line[0] not in " #"]
    assert top == ["complete", "metadata", "parameters", "skip", "uuid"]
    assert "  crop_size: [80, 80]\n" in text
    assert "  DepthResolution: [512, 424]\n" in text
    assert "  bg_roi_depth_range: [650.0, 750.0]\n" in text
    params_block = text.split("parameters:\n", 1)[1].split("skip:", 1)[0]
    keys = [line.split(":")[0].strip() for line in params_block.splitlines()]
    assert keys == sorted(keys)
    assert "!!" not in text  # plain YAML, no python tags
    assert yaml.safe_load(text) == data


def test_rewrite_completes_and_extra_keys(tmp_path):
    path = tmp_path / "results_00.yaml"
    write_status(path, complete=False, metadata={}, parameters={}, uuid=UUID)
    assert not is_complete(path)
    write_status(path, complete=True, metadata={}, parameters={}, uuid=UUID,
                 extra={"feedback_timestamps": [[1.5, 1], [2.5, 0]]})
    assert is_complete(path)
    assert read_status(path)["feedback_timestamps"] == [[1.5, 1], [2.5, 0]]
    # innermost lists in flow style (PyYAML default_flow_style=None, like the original)
    assert "feedback_timestamps:\n- [1.5, 1]\n- [2.5, 0]\n" in path.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["results_00.yaml"]  # no temp files


def test_skip_flag(tmp_path):
    path = tmp_path / "results_00.yaml"
    write_status(path, complete=True, metadata={}, parameters={}, uuid=UUID, skip=True)
    assert read_status(path)["skip"] is True


def test_is_complete_false_when_missing_or_broken(tmp_path):
    assert not is_complete(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("complete: [unclosed\n")
    assert not is_complete(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("true\n")
    assert not is_complete(scalar)
    stringy = tmp_path / "stringy.yaml"
    stringy.write_text("complete: 'yes'\n")
    assert not is_complete(stringy)
