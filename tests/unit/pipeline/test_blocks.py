"""One block of frames from the file (pipeline/blocks.py): what it reads, what it returns,
how it travels to a worker process."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from moseq2_extract.config import make_config
from moseq2_extract.extract.chunk import BlockKernel, ChunkParams
from moseq2_extract.io.session import load_session
from moseq2_extract.pipeline.blocks import BlockExtractor
from moseq2_extract.synthetic import GroundTruth

BBOX = (40, 390, 80, 430)


@pytest.fixture(scope="module")
def depth(session_factory):
    return session_factory("dat", n_frames=40, seed=7)


def extractor(reader, truth, *, first=0, last=40, **options):
    roi = truth.background > 300
    return BlockExtractor(reader, bbox=BBOX, background=truth.background, roi=roi,
                          params=ChunkParams.from_config(make_config(options)),
                          first=first, last=last)


def truth_of(depth):
    return GroundTruth.load(depth.parent / "ground_truth.npz")


def test_the_box_of_background_and_roi_is_kept(depth):
    truth = truth_of(depth)
    with load_session(depth).open_reader() as reader:
        ex = extractor(reader, truth)
        y0, y1, x0, x1 = BBOX
        np.testing.assert_array_equal(ex.background, truth.background[y0:y1, x0:x1])
        assert ex.background.dtype == np.float32 and ex.background.flags.c_contiguous
        assert ex.roi.shape == (y1 - y0, x1 - x0)
        frames = ex.read(3, 7)
        np.testing.assert_array_equal(frames, reader.read(3, 7)[:, y0:y1, x0:x1])
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


def test_extract_equals_the_kernel_on_the_frames_read(depth):
    truth = truth_of(depth)
    with load_session(depth).open_reader() as reader:
        ex = extractor(reader, truth, temporal_filter_size=[3])
        block = ex.extract(10, 20)
        y0, y1, x0, x1 = BBOX
        raw = reader.read(9, 21)[:, y0:y1, x0:x1]
        kernel = BlockKernel(ex.background, ex.roi, ex.params)
        expected = kernel.extract(np.ascontiguousarray(raw), lead=1, count=10)
    assert len(block) == 10
    for name in block.measures.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(block.measures, name),
                                      getattr(expected.measures, name), err_msg=name)
    # the mouse is found where the generator put it (box pixels + box corner)
    np.testing.assert_allclose(block.measures.x + x0, truth.centroid_x[10:20], atol=1.0)
    np.testing.assert_allclose(block.measures.y + y0, truth.centroid_y[10:20], atol=1.0)


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
