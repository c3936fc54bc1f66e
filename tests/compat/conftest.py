"""One synthetic session and the arena of moseq2-app's widget, shared by the compat tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from moseq2_extract.config import generate_config_dict
from moseq2_extract.synthetic import GroundTruth, SessionSpec, SyntheticSession


@dataclass
class Arena:
    depth: Path
    truth: GroundTruth
    config: dict
    background: np.ndarray
    rois: list
    frames: np.ndarray  # rendered frames 0..N-1 (the generator's own)


N_FRAMES = 90
SPEC = {"n_frames": N_FRAMES, "seed": 3}


def session_config(depth: Path, truth: GroundTruth) -> dict:
    """The per-session config moseq2-app's arena widget keeps (spec 6.4)."""
    from moseq2_extract.util import check_filter_sizes, detect_and_set_camera_parameters

    config = check_filter_sizes(generate_config_dict())
    config = dict(detect_and_set_camera_parameters(config, str(depth)))
    d = truth.true_depth_mm
    config.update(manual_set_depth_range=True, bg_roi_depth_range=[d - 50, d + 50],
                  dilate_iterations=1, min_height=10, max_height=110)
    return config


@pytest.fixture(scope="session")
def arena(session_factory) -> Arena:
    from moseq2_extract.extract.proc import get_bground_im_file, get_roi
    from moseq2_extract.util import select_strel

    depth = session_factory("dat", **SPEC)
    truth = GroundTruth.load(depth.parent / "ground_truth.npz")
    config = session_config(depth, truth)
    background = get_bground_im_file(depth, frame_stride=1000)
    rois, _ = get_roi(background, **config,
                      strel_dilate=select_strel(config["bg_roi_shape"],
                                                tuple(config["bg_roi_dilate"])),
                      strel_erode=select_strel(config["bg_roi_shape"],
                                               tuple(config["bg_roi_erode"])),
                      get_all_data=False)
    frames = SyntheticSession(SessionSpec(**SPEC)).render(0, N_FRAMES)
    return Arena(depth, truth, config, background, rois, frames)


def box_origin(roi: np.ndarray) -> tuple[int, int]:
    """(x0, y0) of a mask's bounding box."""
    return int(np.flatnonzero(roi.any(axis=0))[0]), int(np.flatnonzero(roi.any(axis=1))[0])
