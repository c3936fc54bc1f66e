"""One block of frames from the file to per-frame results (pipeline/blocks.py): what it
reads, what it returns, how it travels to a worker process."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from moseq2_extract.config import make_config
from moseq2_extract.extract.chunk import BlockKernel, ChunkParams
from moseq2_extract.extract.intrusion import SURROUND_PX
from moseq2_extract.io.session import load_session
from moseq2_extract.pipeline.blocks import BlockExtractor
from moseq2_extract.synthetic import GroundTruth

BOX = (40, 380, 60, 440)

def _extractor(reader, truth: GroundTruth, params: ChunkParams, first: int = 0,
               last: int = 90) -> BlockExtractor:
    return BlockExtractor(reader, bbox=BOX, background=truth.background,
                          roi=truth.floor_mask, params=params, first=first, last=last)


def test_reads_the_roi_box_and_finds_the_mouse(session_factory):
    depth = session_factory("dat", n_frames=90, seed=6)
    truth = GroundTruth.load(depth.parent / "ground_truth.npz")
    with load_session(depth).open_reader() as reader:
        ex = _extractor(reader, truth, ChunkParams())
        raw = ex.read(10, 20, reuse_buffer=False)
        full = reader.read(10, 20)
        # the box and its surround (for the intrusion test), clipped to the frame
        m = SURROUND_PX
        y0, y1, x0, x1 = ex.read_bbox
        assert ex.read_bbox == (BOX[0] - m, min(424, BOX[1] + m), BOX[2] - m, BOX[3] + m)
        np.testing.assert_array_equal(raw, full[:, y0:y1, x0:x1])
        no_surround = _extractor(reader, truth, ChunkParams(ignore_intrusions=False))
        assert no_surround.read_bbox == BOX
        np.testing.assert_array_equal(no_surround.read(10, 20, reuse_buffer=False),
                                      full[:, BOX[0]:BOX[1], BOX[2]:BOX[3]])
        block = ex.extract(10, 40)
        whole = BlockExtractor(reader, bbox=(0, 424, 0, 512), background=truth.background,
                               roi=truth.floor_mask, params=ChunkParams(), first=0,
                               last=90).extract(10, 40)
    m, w = block.measures, whole.measures
    assert len(block) == 30 and np.isfinite(m.x).all()
    # box coordinates: the same mouse as in the whole frame, shifted by the box origin
    np.testing.assert_allclose(m.x + BOX[2], w.x, atol=1e-6)
    np.testing.assert_allclose(m.y + BOX[0], w.y, atol=1e-6)
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
        raw = reader.read(lo, hi)[:, BOX[0]:BOX[1], BOX[2]:BOX[3]]
        kernel = BlockKernel(ex.background, ex.roi, params)
        expected = kernel.extract(raw, lead=20 - lo, count=20)
    for name in ("x", "y", "orientation", "area", "height"):
        np.testing.assert_array_equal(getattr(got.measures, name),
                                      getattr(expected.measures, name), err_msg=name)
    np.testing.assert_array_equal(got.measures.crops, expected.measures.crops)


@pytest.fixture(scope="module")
def depth(session_factory):
    return session_factory("dat", n_frames=40, seed=7)


def extractor(reader, truth, *, first=0, last=40, **options):
    roi = truth.background > 300
    return BlockExtractor(reader, bbox=BOX, background=truth.background, roi=roi,
                          params=ChunkParams.from_config(make_config(options)),
                          first=first, last=last)


def truth_of(depth):
    return GroundTruth.load(depth.parent / "ground_truth.npz")


def test_the_box_of_background_and_roi_is_kept(depth):
    truth = truth_of(depth)
    with load_session(depth).open_reader() as reader:
        ex = extractor(reader, truth)
        y0, y1, x0, x1 = BOX
        np.testing.assert_array_equal(ex.background, truth.background[y0:y1, x0:x1])
        assert ex.background.dtype == np.float32 and ex.background.flags.c_contiguous
        assert ex.roi.shape == (y1 - y0, x1 - x0)
        frames = ex.read(3, 7)
        oy0, oy1, ox0, ox1 = ex.read_bbox  # the box and its surround
        np.testing.assert_array_equal(frames, reader.read(3, 7)[:, oy0:oy1, ox0:ox1])
        np.testing.assert_array_equal(ex.surround.inner(frames),
                                      reader.read(3, 7)[:, y0:y1, x0:x1])
        copy = ex.read(3, 7, reuse_buffer=False)
        np.testing.assert_array_equal(copy, frames)


@pytest.mark.parametrize(("sizes", "first", "last", "block", "span"), [
    ([0], 0, 40, (10, 20), (10, 20)),  # no temporal filter: the block alone
    ([3, 5], 0, 40, (10, 20), (7, 23)),  # halo 1 + 2 on each side
    ([3, 5], 0, 40, (0, 10), (0, 13)),  # ... not before the first frame
    ([3, 5], 5, 30, (20, 30), (17, 30)),  # ... nor beyond the last one
])
def test_span_adds_the_temporal_neighbours_within_the_range(depth, sizes, first, last,
                                                            block, span):
    with load_session(depth).open_reader() as reader:
        ex = extractor(reader, truth_of(depth), first=first, last=last,
                       temporal_filter_size=sizes)
        assert ex.span(*block) == span


def test_a_pickled_copy_drops_the_kernel_and_decodes_on_one_thread(session_factory):
    depth = session_factory("avi", n_frames=40, seed=7)
    truth = truth_of(depth)
    with load_session(depth).open_reader(threads=4) as reader:
        ex = extractor(reader, truth)
        first = ex.extract(0, 8)
        copy = pickle.loads(pickle.dumps(ex))
        assert copy.reader.threads == 1 and reader.threads == 4
        assert copy.kernel is not ex.kernel  # built afresh in the copy
        again = copy.extract(0, 8)
        copy.reader.close()
    np.testing.assert_array_equal(again.measures.x, first.measures.x)
    np.testing.assert_array_equal(again.box.dense(), first.box.dense())


@pytest.mark.parametrize("options", [{}, {"spatial_filter_size": [5], "fill_dropouts": True}])
def test_frames_are_let_go_of_as_the_block_goes(session_factory, monkeypatch, options):
    """A .dat block's mapped frames are released RELEASE_EVERY at a time, in order and
    each once, as the kernel finishes them; the results are those of a block released
    at its end."""
    import moseq2_extract.pipeline.blocks as blocks

    depth = session_factory("dat", n_frames=90, seed=6)
    truth = GroundTruth.load(depth.parent / "ground_truth.npz")
    params = ChunkParams.from_config(make_config(options))
    with load_session(depth).open_reader() as reader:
        calls: list[tuple[int, int]] = []
        release = reader.release
        monkeypatch.setattr(reader, "release",
                            lambda a, b: (calls.append((a, b)), release(a, b))[1])
        monkeypatch.setattr(blocks, "RELEASE_EVERY", 8)
        stepwise = _extractor(reader, truth, params).extract(5, 75)
        assert calls[0][0] == 5 and calls[-1][1] == 75
        assert all(a[1] == b[0] for a, b in zip(calls, calls[1:]))  # contiguous, once
        assert [b - a for a, b in calls[:-1]] == [8] * (len(calls) - 1)
        calls.clear()
        monkeypatch.setattr(blocks, "RELEASE_EVERY", 10**9)
        at_end = _extractor(reader, truth, params).extract(5, 75)
        assert calls == [(5, 75)]
    for name in ("x", "y", "orientation", "area", "height", "crops", "masks", "quality"):
        np.testing.assert_array_equal(getattr(stepwise.measures, name),
                                      getattr(at_end.measures, name))
    assert np.isfinite(stepwise.measures.x).all()
