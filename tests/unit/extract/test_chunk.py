"""The frame-by-frame kernel against the stage-by-stage functions, and BoxWindows."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from moseq2_extract.config import make_config
from moseq2_extract.extract.chunk import (
    BlockKernel,
    ChunkParams,
    measure_frames,
    prepare_heights,
)
from moseq2_extract.extract.frames import HeightSubtractor
from moseq2_extract.extract.results import BoxWindows
from moseq2_extract.synthetic import SessionSpec, SyntheticSession

from .shapes import ellipse_image


@pytest.fixture(scope="module")
def box_frames():
    """40 rendered Kinect frames cut to a box around the arena, with its background."""
    session = SyntheticSession(SessionSpec(n_frames=40, seed=5, noise_mm=2.0))
    frames = session.render(0, 40)
    y0, y1, x0, x1 = 40, 390, 80, 430
    background = session._scene.background[y0:y1, x0:x1].astype(np.float32)
    roi = background > 300  # where the scene has a background (outside is 0)
    roi[:, :6] = False
    return np.ascontiguousarray(frames[:, y0:y1, x0:x1]), background, roi


@pytest.mark.parametrize("options", [
    {},
    {"frame_dtype": "uint16"},
    {"compute_raw_scalars": True},
    {"spatial_filter_size": [5], "cable_filter_iters": 1, "tail_filter_size": [7, 7]},
    {"min_height": 25, "max_height": 60, "crop_size": [64, 64]},
])
def test_kernel_equals_stagewise_functions(box_frames, options):
    raw, background, roi = box_frames
    params = ChunkParams.from_config(make_config(options))
    heights, filtered = prepare_heights(raw, background, roi, params)
    expected = measure_frames(heights, filtered, params)
    kernel = BlockKernel(background, roi, params)
    block = kernel.extract(raw)
    for name in expected.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(block.measures, name), getattr(expected, name),
                                      err_msg=name)
    np.testing.assert_array_equal(block.box.dense(), heights)
    assert np.isfinite(block.measures.x).sum() >= 38  # the mouse was found


@pytest.mark.parametrize("sizes", [[3], [5, 3]])
def test_kernel_temporal_filter_uses_the_neighbours_it_is_given(box_frames, sizes):
    """With a temporal filter the block's frames are measured on the median over their
    neighbours: extracting frames 10-29 from frames 10-halo .. 30+halo equals extracting
    all 40 and keeping those rows (so results do not depend on the block size)."""
    raw, background, roi = box_frames
    params = ChunkParams.from_config(make_config({"temporal_filter_size": sizes}))
    halo = params.temporal_halo
    assert halo == sum(k // 2 for k in sizes)
    kernel = BlockKernel(background, roi, params)
    whole = kernel.extract(raw)
    part = kernel.extract(raw[10 - halo:30 + halo], lead=halo, count=20)
    assert len(part) == 20
    for name in whole.measures.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(part.measures, name),
                                      getattr(whole.measures, name)[10:30], err_msg=name)
    np.testing.assert_array_equal(part.box.dense(), whole.box.dense()[10:30])
    # the median really ran: the measured heights differ from the unfiltered path's
    plain = BlockKernel(background, roi, ChunkParams.from_config(make_config({})))
    assert not np.array_equal(plain.extract(raw).measures.filtered_crops,
                              whole.measures.filtered_crops)
    assert np.isfinite(whole.measures.x).sum() >= 38


def test_integer_and_float_height_paths_agree(box_frames):
    raw, background, roi = box_frames
    sub = HeightSubtractor(background, roi, min_height=10, max_height=120)
    assert sub.integer
    fast = np.empty(raw.shape[1:], np.uint8)
    slow = np.empty(raw.shape[1:], np.uint8)
    scratch = sub.new_scratch()
    for frame in raw[:5]:
        sub(frame, fast, scratch)
        sub.integer = False
        sub(frame, slow, scratch)
        sub.integer = True
        np.testing.assert_array_equal(fast, slow)
        assert fast.max() > 10


def test_box_windows_round_trip():
    rng = np.random.default_rng(0)
    box = np.zeros((5, 30, 40), np.uint8)
    box[0, 3:9, 10:20] = rng.integers(1, 100, (6, 10))
    box[2, 0:30, 39] = 7  # a column on the edge
    box[3, 12, 5] = 200  # one pixel
    windows = BoxWindows.from_dense(box)
    assert len(windows) == 5 and windows.shape == (30, 40) and windows.dtype == np.uint8
    assert windows.rects[1].tolist() == [0, 0, 0, 0]  # an empty frame
    assert windows.rects[3].tolist() == [5, 12, 1, 1]
    np.testing.assert_array_equal(windows.dense(), box)
    np.testing.assert_array_equal(np.asarray(windows), box)
    np.testing.assert_array_equal(windows.frame(0), box[0])
    np.testing.assert_array_equal(windows[1:4].dense(), box[1:4])
    copy = pickle.loads(pickle.dumps(windows))
    np.testing.assert_array_equal(copy.dense(), box)
    # the compact form is what makes blocks cheap to send between processes
    assert sum(w.nbytes for w in windows.windows) < box.nbytes / 10
    with pytest.raises(TypeError):
        windows[2]
    with pytest.raises(ValueError):
        BoxWindows((3, 3), np.zeros((2, 4)), [np.zeros((0, 0))])


def test_measure_frames_block_independent():
    rng = np.random.default_rng(0)
    frames = []
    for i in range(6):
        img = ellipse_image(centre=(60 + 3 * i, 60), angle_deg=10 * i, value=0)
        frames.append(img)
    bg = np.full((120, 160), 700, np.float32)
    raw = np.stack([np.where(ellipse_image(centre=(60 + 3 * i, 60), angle_deg=10 * i) > 0,
                             660, 700) for i in range(6)]).astype(np.uint16)
    raw = raw + rng.integers(0, 2, raw.shape).astype(np.uint16)
    params = ChunkParams(crop_size=40)
    roi = np.ones((120, 160), bool)
    h, f = prepare_heights(raw, bg, roi, params)
    whole = measure_frames(h, f, params)
    halves = [measure_frames(h[s], f[s], params) for s in (slice(0, 3), slice(3, 6))]
    np.testing.assert_array_equal(whole.x, np.concatenate([p.x for p in halves]))
    np.testing.assert_array_equal(whole.crops, np.concatenate([p.crops for p in halves]))
    assert np.allclose(whole.x, 60 + 3 * np.arange(6), atol=0.3)
    assert np.allclose(whole.height, 40, atol=1)


