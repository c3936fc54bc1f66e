"""Rendered depth frames shared by the extract tests."""

import numpy as np
import pytest

from moseq2_extract.synthetic import SessionSpec, SyntheticSession


@pytest.fixture(scope="session")
def box_frames():
    """40 rendered Kinect frames cut to a box around the arena, with its background."""
    session = SyntheticSession(SessionSpec(n_frames=40, seed=5, noise_mm=2.0))
    frames = session.render(0, 40)
    y0, y1, x0, x1 = 40, 390, 80, 430
    background = session.ground_truth().background[y0:y1, x0:x1].astype(np.float32)
    roi = background > 300  # where the scene has a background (outside is 0)
    roi[:, :6] = False
    return np.ascontiguousarray(frames[:, y0:y1, x0:x1]), background, roi
