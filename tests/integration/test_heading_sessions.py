"""Heading on whole generated sessions with known truth, through ``extract_session``.

Each session walks, pauses, turns in place and rears (the generator visits every state in
its first ~9 s); one starts curled and motionless (nearly symmetric, no movement).
"""

import click
import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from moseq2_extract.config import make_config
from moseq2_extract.pipeline.session import extract_session
from moseq2_extract.synthetic import (
    PAUSE,
    REAR,
    TURN,
    WALK,
    GroundTruth,
    SessionSpec,
    write_session,
)
from moseq2_extract.synthetic.demo import compare_to_truth

SESSIONS = {
    "walk_pause_turn_rear": SessionSpec(n_frames=360, seed=11),
    "ambiguous_start": SessionSpec(n_frames=390, seed=12, ambiguous_start_frames=60,
                                   mouse_scale=1.2),
    "small_noisy": SessionSpec(n_frames=360, seed=13, noise_mm=3.0, mouse_scale=0.8),
    "clean": SessionSpec(n_frames=300, seed=14, noise_mm=0.5),
}
CONFIG = {"write_movie": False}


def _extract(root, spec, config=None):
    depth = write_session(root, spec)
    outcome = extract_session(depth, make_config({**CONFIG, **(config or {})}))
    return outcome.h5_path, GroundTruth.load(root / "ground_truth.npz")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    root = tmp_path_factory.mktemp("heading")
    return {name: _extract(root / name, spec) for name, spec in SESSIONS.items()}


@pytest.mark.parametrize("name", list(SESSIONS))
def test_heading_error_at_most_one_percent(extracted, name):
    h5_path, truth = extracted[name]
    assert set(np.unique(truth.state)) == {WALK, PAUSE, TURN, REAR}
    acc = compare_to_truth(h5_path, truth)
    assert acc.n_frames == len(truth) and acc.missing == 0
    assert acc.heading_flip_rate <= 0.01


@pytest.mark.parametrize("name", list(SESSIONS))
def test_crops_face_east(extracted, name):
    """The rump (left) carries more height than the head (right) and is wider."""
    h5_path, truth = extracted[name]
    with h5py.File(h5_path, "r") as f:
        frames = f["frames"][()].astype(np.float64)
        masks = f["frames_mask"][()]
    c = frames.shape[-1]
    heights = np.where(masks, frames, 0)
    left = heights[:, :, : c // 2].sum(axis=(1, 2))
    right = heights[:, :, c - c // 2:].sum(axis=(1, 2))
    # the posture relaxes over ~half a second after a rearing bout ends
    recent_rear = np.convolve(truth.state == REAR, np.ones(16), mode="full")[:len(truth)] > 0
    upright = ~recent_rear
    assert np.mean((left > right)[upright]) >= 0.99
    # while rearing the front is higher, but the rump is still the wider (left) end
    width = masks.sum(axis=1)  # (n, c) mask pixels per column
    rear = truth.state == REAR
    assert np.mean((width[:, c // 2 - 16: c // 2 - 8].mean(1) >
                    width[:, c // 2 + 8: c // 2 + 16].mean(1))[rear]) >= 0.99


def test_decisions_and_confidence_are_stored(extracted):
    h5_path, truth = extracted["ambiguous_start"]
    with h5py.File(h5_path, "r") as f:
        flips = f["metadata/extraction/flips"][()]
        conf = f["metadata/extraction/heading_confidence"][()]
    assert flips.dtype == bool and flips.shape == (len(truth),)
    assert conf.dtype == np.float32 and conf.shape == (len(truth),)
    assert np.all((conf >= 0.5) & (conf <= 1.0))
    assert np.mean(conf > 0.99) > 0.95


def test_self_trained_classifier(extracted, tmp_path):
    from moseq2_extract.cli.flip import register

    @click.group()
    def group():
        pass

    register(group)
    source = extracted["walk_pause_turn_rear"][0].parent
    out = tmp_path / "mine.npz"
    result = CliRunner().invoke(group, ["train-flip-classifier", str(source), "-o", str(out),
                                        "--n-trees", "16", "--max-frames", "400"])
    assert result.exit_code == 0, result.output
    assert "Held-out accuracy:" in result.output and out.exists()
    accuracy = float(result.output.split("Held-out accuracy:")[1].split("%")[0])
    assert accuracy > 95
    h5_path, truth = _extract(tmp_path / "clean", SESSIONS["clean"],
                              {"flip_classifier": str(out)})
    assert compare_to_truth(h5_path, truth).heading_flip_rate <= 0.01
