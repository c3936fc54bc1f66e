import pytest
import yaml

from moseq2_extract.config import (
    PARAM_BY_KEY,
    generate_config_dict,
    make_config,
    read_config_file,
)
from moseq2_extract.errors import ConfigError


def test_defaults_match_spec():
    c = make_config()
    assert c.chunk_size == 3000 and c.crop_size == (80, 80)
    assert c.bg_roi_depth_range == (650.0, 750.0)
    assert c.spatial_filter_size == [3] and c.temporal_filter_size == [0]
    assert c.min_height == 10 and c.max_height == 120
    assert c.frame_stride == 500 and c.iters == 1000  # honoured extra keys


def test_unknown_key_suggests_closest():
    with pytest.raises(ConfigError, match="did you mean 'min_height'"):
        make_config({"min_hieght": 5})


@pytest.mark.parametrize("key,value,match", [
    ("chunk_size", 0, "chunk_size"),
    ("spatial_filter_size", [4], "odd"),
    ("crop_size", [80, 60], "square"),
    ("frame_dtype", "float32", "one of"),
    ("bg_roi_depth_range", [700, 600], "lower bound"),
    ("use_cc", "maybe", "true or false"),
])
def test_invalid_values_name_the_key(key, value, match):
    with pytest.raises(ConfigError, match=match) as err:
        make_config({key: value})
    assert key in str(err.value)


def test_generated_config_loads_back(tmp_path):
    from moseq2_extract.paths import write_yaml_atomic

    path = tmp_path / "config.yaml"
    write_yaml_atomic(path, generate_config_dict("azure"))
    data = read_config_file(path)
    assert data["crop_size"] == [120, 120] and data["camera_type"] == "azure"
    c = make_config(data)
    assert c.crop_size == (120, 120)
    assert list(data) == sorted(data)


def test_reference_config_file_is_accepted(tmp_path):
    """A config.yaml written by moseq2-extract 1.4.0 (with its YAML alias) loads."""
    text = ("frame_trim: &id001 [0, 0]\nmodel_smoothing_clips: *id001\n"
            "bg_roi_shape: e\nmin_height: 5\n")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    c = make_config(read_config_file(path))
    assert c.model_smoothing_clips == (0.0, 0.0) and c.bg_roi_shape == "ellipse"
    assert c.min_height == 5


def test_every_param_has_help_and_valid_default():
    for p in PARAM_BY_KEY.values():
        assert p.help
    make_config({p.key: p.default for p in PARAM_BY_KEY.values()})
    assert yaml.safe_load(yaml.safe_dump(generate_config_dict()))


def test_config_written_by_reference_tool_loads():
    from pathlib import Path

    path = Path(__file__).parents[1] / "data" / "reference_config.yaml"
    data = read_config_file(path)
    c = make_config(data)
    # only this implementation's own options are new
    assert set(generate_config_dict()) - set(data) == {"seed", "workers", "fill_dropouts",
                                                       "ignore_intrusions",
                                                       "remove_thin_structures",
                                                       "choose_by_continuity", "resume"}
    assert c.bg_roi_weights == (1.0, 0.1, 1.0)
