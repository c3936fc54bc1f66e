"""The per-block kernel (extract/chunk.py) against the stage-by-stage functions, and the
per-frame measures' independence of the block."""

from __future__ import annotations

import numpy as np
import pytest

from moseq2_extract.config import make_config
from moseq2_extract.extract.chunk import (
    BlockKernel,
    ChunkParams,
    measure_frames,
    prepare_heights,
)

from .shapes import ellipse_image


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
    for name in expected.row_fields():
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
    for name in whole.measures.row_fields():
        if getattr(whole.measures, name) is None:  # the EM likelihood, tracker off
            assert getattr(part.measures, name) is None
            continue
        np.testing.assert_array_equal(getattr(part.measures, name),
                                      getattr(whole.measures, name)[10:30], err_msg=name)
    np.testing.assert_array_equal(part.box.dense(), whole.box.dense()[10:30])
    # the median really ran: the measured heights differ from the unfiltered path's
    plain = BlockKernel(background, roi, ChunkParams.from_config(make_config({})))
    assert not np.array_equal(plain.extract(raw).measures.filtered_crops,
                              whole.measures.filtered_crops)
    assert np.isfinite(whole.measures.x).sum() >= 38


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
