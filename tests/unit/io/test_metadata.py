"""metadata.json: defaults, flattening, errors."""

from __future__ import annotations

import json
import logging

import pytest

from moseq2_extract.errors import InputFileError
from moseq2_extract.io.metadata import DEFAULT_METADATA, load_metadata, metadata_from_text


def test_missing_file_gives_defaults_and_writes_nothing(tmp_path):
    path = tmp_path / "metadata.json"
    warnings: list[str] = []
    meta = load_metadata(path, session_name="session_1", warnings=warnings)
    expected = {**DEFAULT_METADATA, "SessionName": "session_1"}
    assert meta == expected
    assert list(tmp_path.iterdir()) == []  # issue 11 item 6: the raw folder is not written
    assert warnings == []
    assert expected["DepthResolution"] == [512, 424] and expected["NidaqSamplingRate"] == 0.0
    assert DEFAULT_METADATA["SessionName"] == ""  # the module default is not mutated


def test_existing_file_is_read_as_is(tmp_path):
    path = tmp_path / "metadata.json"
    data = {"SubjectName": "m1", "SessionName": "s", "StartTime": "2019-03-20T14:29:23.07",
            "DepthResolution": [640, 576], "IsLittleEndian": True, "Note": None}
    path.write_text(json.dumps(data))
    assert load_metadata(path, session_name="other") == data


def test_nested_objects_are_flattened_with_a_warning(tmp_path, caplog):
    path = tmp_path / "metadata.json"
    path.write_text(json.dumps({"SubjectName": "m", "Camera": {"Serial": "A1",
                                                               "Mode": {"fps": 30}},
                                "Tags": [{"a": 1}], "Grid": [[1, 2], [3, 4]]}))
    with caplog.at_level(logging.WARNING, logger="moseq2_extract.io.metadata"):
        meta = load_metadata(path, session_name="x")
    assert meta == {"SubjectName": "m", "Camera.Serial": "A1", "Camera.Mode.fps": 30,
                    "Tags": '[{"a": 1}]', "Grid": [[1, 2], [3, 4]]}
    assert "Camera" in caplog.text and str(path) in caplog.text


def test_broken_json_is_an_error_a_non_object_is_missing(tmp_path):
    path = tmp_path / "metadata.json"
    path.write_text('{\n  "SubjectName": "m",\n  "SessionName": \n}\n')
    with pytest.raises(InputFileError, match=rf"{path}: invalid JSON at line 4"):
        load_metadata(path, session_name="x")
    path.write_text("[1, 2]")
    with pytest.raises(InputFileError, match="must be a JSON object"):
        metadata_from_text("[1, 2]", source=str(path))
    warnings: list[str] = []  # issue 11 item 5: a non-object file is taken as missing
    assert load_metadata(path, session_name="x", warnings=warnings)["SessionName"] == "x"
    assert len(warnings) == 1 and "must be a JSON object, got list" in warnings[0]
    with pytest.raises(InputFileError, match="a.tgz:metadata.json"):
        metadata_from_text("", source="a.tgz:metadata.json")
