"""What one extraction will do, decided once (pipeline/plan.py)."""

from __future__ import annotations

import numpy as np
import pytest

from moseq2_extract.config import make_config
from moseq2_extract.errors import ConfigError
from moseq2_extract.paths import ResultsPaths
from moseq2_extract.pipeline.plan import available_cores, frame_range, plan_session


@pytest.mark.parametrize("options, expected", [
    ({}, (0, 100)),
    ({"frame_trim": [10, 5]}, (10, 95)),
    ({"num_frames": 40}, (0, 40)),
    ({"num_frames": 40, "frame_trim": [10, 5]}, (10, 35)),
    ({"num_frames": 500}, (0, 100)),           # more than there are: all (a warning)
    ({"frame_trim": [120, 0]}, (100, 100)),    # nothing left
])
def test_frame_range(options, expected):
    assert frame_range(100, make_config(options)) == expected


def test_plan_of_a_session(session_factory, tmp_path):
    depth = session_factory("dat", n_frames=60, seed=2)
    config = make_config({"frame_trim": [5, 5], "workers": 3})
    plan = plan_session(depth, config, ResultsPaths.of(tmp_path, 0))
    assert (plan.first, plan.last, plan.n_frames) == (5, 55, 50)
    assert plan.workers == 3
    assert plan.camera.name == "kinect"
    assert plan.config.pixel_format == plan.camera.pixel_format
    assert plan.parameters["frame_trim"] == [5, 5]
    truth_ts = np.loadtxt(depth.parent / "depth_ts.txt")[:, 0]
    np.testing.assert_allclose(plan.timestamps, truth_ts[5:55])
    assert len(plan.uuid) == 36 and plan.uuid != plan_session(
        depth, config, ResultsPaths.of(tmp_path, 0)).uuid
    assert plan_session(depth, make_config({}), ResultsPaths.of(tmp_path, 0)).workers == \
        available_cores()


def test_no_frames_left_is_a_clear_error(session_factory, tmp_path):
    depth = session_factory("dat", n_frames=60, seed=2)
    with pytest.raises(ConfigError, match="no frames left"):
        plan_session(depth, make_config({"frame_trim": [40, 30]}),
                     ResultsPaths.of(tmp_path, 0))
