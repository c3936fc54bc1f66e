"""One block of frames from the file to per-frame results (pipeline/blocks.py)."""

from __future__ import annotations

import numpy as np

from moseq2_extract.extract.chunk import BlockKernel, ChunkParams
from moseq2_extract.io.session import load_session
from moseq2_extract.pipeline.blocks import BlockExtractor
from moseq2_extract.synthetic import GroundTruth

BBOX = (40, 380, 60, 440)


def _extractor(reader, truth: GroundTruth, params: ChunkParams, first: int = 0,
               last: int = 90) -> BlockExtractor:
    return BlockExtractor(reader, bbox=BBOX, background=truth.background,
                          roi=truth.floor_mask, params=params, first=first, last=last)


def test_reads_the_roi_box_and_finds_the_mouse(session_factory):
    depth = session_factory("dat", n_frames=90, seed=6)
    truth = GroundTruth.load(depth.parent / "ground_truth.npz")
    with load_session(depth).open_reader() as reader:
        ex = _extractor(reader, truth, ChunkParams())
        raw = ex.read(10, 20, reuse_buffer=False)
        full = reader.read(10, 20)
        np.testing.assert_array_equal(raw, full[:, BBOX[0]:BBOX[1], BBOX[2]:BBOX[3]])
        block = ex.extract(10, 40)
        whole = BlockExtractor(reader, bbox=(0, 424, 0, 512), background=truth.background,
                               roi=truth.floor_mask, params=ChunkParams(), first=0,
                               last=90).extract(10, 40)
    m, w = block.measures, whole.measures
    assert len(block) == 30 and np.isfinite(m.x).all()
    # box coordinates: the same mouse as in the whole frame, shifted by the box origin
    np.testing.assert_allclose(m.x + BBOX[2], w.x, atol=1e-6)
    np.testing.assert_allclose(m.y + BBOX[0], w.y, atol=1e-6)
    np.testing.assert_allclose(m.crops, w.crops, atol=1)  # the warp rounds differently
    # the blob is the mouse: its size, within the filters' erosion of the edges
    np.testing.assert_allclose(m.area, truth.area_px[10:40], rtol=0.2)


def test_temporal_neighbours_stop_at_the_range(session_factory):
    depth = session_factory("dat", n_frames=90, seed=6)
    truth = GroundTruth.load(depth.parent / "ground_truth.npz")
    params = ChunkParams(temporal_filter_size=(5,))
    with load_session(depth).open_reader() as reader:
        ex = _extractor(reader, truth, params, first=5, last=80)
        assert ex.halo == 2
        assert ex.span(5, 20) == (5, 22) and ex.span(60, 80) == (58, 80)
        got = ex.extract(20, 40)
        # the same frames, extracted by the kernel from exactly the frames span() names
        lo, hi = ex.span(20, 40)
        raw = reader.read(lo, hi)[:, BBOX[0]:BBOX[1], BBOX[2]:BBOX[3]]
        kernel = BlockKernel(ex.background, ex.roi, params)
        expected = kernel.extract(raw, lead=20 - lo, count=20)
    for name in ("x", "y", "orientation", "area", "height"):
        np.testing.assert_array_equal(getattr(got.measures, name),
                                      getattr(expected.measures, name), err_msg=name)
    np.testing.assert_array_equal(got.measures.crops, expected.measures.crops)
