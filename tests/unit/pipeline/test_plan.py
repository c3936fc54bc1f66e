"""What one extraction will do (pipeline/plan.py): frame range, camera, workers, uuid."""

from __future__ import annotations

import logging
import os
import uuid

import numpy as np
import pytest

from moseq2_extract.config import make_config, parameter_snapshot
from moseq2_extract.errors import ConfigError
from moseq2_extract.paths import ResultsPaths
from moseq2_extract.pipeline.plan import available_cores, frame_range, plan_session
from moseq2_extract.synthetic import GroundTruth


@pytest.mark.parametrize(("options", "expected"), [
    ({}, (0, 100)),
    ({"frame_trim": [5, 10]}, (5, 90)),
    ({"num_frames": 50}, (0, 50)),
    ({"num_frames": 50, "frame_trim": [5, 10]}, (5, 40)),  # trims apply to the first 50
    ({"frame_trim": [0, 100]}, (0, 0)),
    ({"frame_trim": [60, 50]}, (60, 60)),  # nothing left: an empty range, never negative
    ({"frame_trim": [150, 0]}, (100, 100)),
])
def test_frame_range(options, expected):
    assert frame_range(100, make_config(options)) == expected


def test_num_frames_beyond_the_recording_is_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="moseq2_extract.pipeline.plan"):
        assert frame_range(100, make_config({"num_frames": 250})) == (0, 100)
    assert "num_frames 250 exceeds the 100 frames" in caplog.text


def test_available_cores():
    n = available_cores()
    assert 1 <= n <= (os.cpu_count() or 1)
    if hasattr(os, "sched_getaffinity"):
        assert n == len(os.sched_getaffinity(0))


@pytest.fixture(scope="module")
def dat_session(session_factory):
    depth = session_factory("dat", n_frames=30, seed=3)
    return depth, GroundTruth.load(depth.parent / "ground_truth.npz")


def test_plan_of_a_kinect_session(dat_session, tmp_path):
    depth, truth = dat_session
    paths = ResultsPaths.of(tmp_path, 0)
    config = make_config({"frame_trim": [4, 6], "workers": 3})
    plan = plan_session(depth, config, paths)
    assert plan.input_file == depth and plan.paths == paths
    assert plan.camera.name == "kinect"
    assert (plan.config.pixel_format, plan.config.movie_dtype) == ("gray16le", "<u2")
    assert (plan.first, plan.last, plan.n_frames) == (4, 24, 20)
    np.testing.assert_allclose(plan.timestamps, truth.timestamps_ms[4:24])
    assert plan.timestamps.dtype == np.float64
    assert plan.workers == 3
    assert uuid.UUID(plan.uuid).version == 4
    assert plan.parameters == parameter_snapshot(plan.config)
    assert plan.parameters["frame_trim"] == [4, 6] and plan.parameters["workers"] == 3
    assert plan.session.nframes == 30 and plan.session.warnings == []


def test_each_plan_has_its_own_uuid_and_zero_workers_means_every_core(dat_session,
                                                                      tmp_path):
    depth, _ = dat_session
    paths = ResultsPaths.of(tmp_path, 0)
    a, b = (plan_session(depth, make_config({"workers": 0}), paths) for _ in range(2))
    assert a.uuid != b.uuid
    assert a.workers == available_cores()


def test_azure_video_records_its_big_endian_decoding(session_factory, tmp_path):
    depth = session_factory("mkv", n_frames=6, seed=1, camera="azure")
    plan = plan_session(depth, make_config({}), ResultsPaths.of(tmp_path, 0))
    assert plan.camera.name == "azure"
    assert (plan.camera.width, plan.camera.height) == (640, 576)
    assert (plan.config.pixel_format, plan.config.movie_dtype) == ("gray16be", ">u2")
    assert plan.parameters["pixel_format"] == "gray16be"


def test_trims_leaving_no_frame_are_an_error_naming_the_file(dat_session, tmp_path):
    depth, _ = dat_session
    with pytest.raises(ConfigError, match=rf"{depth}: no frames left to extract"):
        plan_session(depth, make_config({"frame_trim": [20, 10]}),
                     ResultsPaths.of(tmp_path, 0))
