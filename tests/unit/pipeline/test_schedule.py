"""The block loop (pipeline/schedule.py): order, progress, failure."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from moseq2_extract.camera import KINECT
from moseq2_extract.extract.chunk import ChunkParams
from moseq2_extract.io.session import load_session
from moseq2_extract.pipeline.blocks import BlockExtractor
from moseq2_extract.pipeline.schedule import BLOCK, block_size, stream_blocks
from moseq2_extract.pipeline.sequence import SequenceAssembler
from moseq2_extract.pipeline.workers import open_workers
from moseq2_extract.synthetic import GroundTruth


def test_block_size():
    assert block_size(3000) == BLOCK
    assert block_size(100) == 100
    assert block_size(0) == 1


def _run(depth, *, first, last, block, workers=2, fail_at=None):
    written, progress = [], []
    truth = GroundTruth.load(depth.parent / "ground_truth.npz")
    with load_session(depth).open_reader() as reader, ThreadPoolExecutor(1) as writer:
        shape = reader.frame_shape
        extractor = BlockExtractor(reader, bbox=(0, shape[0], 0, shape[1]),
                                   background=truth.background, roi=truth.floor_mask,
                                   params=ChunkParams(), first=first, last=last)
        assembler = SequenceAssembler(camera=KINECT, true_depth=670.0, box_origin=(0, 0))

        def write(ready):
            for r in ready:
                if fail_at is not None and r.frame_index[0] >= fail_at:
                    raise OSError("disk full")
                written.append(r)

        with open_workers(workers, extractor) as pool:
            stream_blocks(pool, assembler, first=first, last=last, block=block,
                          writer=writer, write=write,
                          progress=lambda done, total: progress.append((done, total)))
    return written, progress


def test_every_frame_once_in_order_with_progress(session_factory):
    depth = session_factory("dat", n_frames=150, seed=9)
    truth = GroundTruth.load(depth.parent / "ground_truth.npz")
    written, progress = _run(depth, first=7, last=143, block=32)
    index = np.concatenate([r.frame_index for r in written])
    np.testing.assert_array_equal(index, np.arange(7, 143))
    dones = [d for d, _ in progress]
    assert dones == sorted(dones) and progress[-1] == (136, 136)
    x = np.concatenate([r.scalars["centroid_x_px"] for r in written])
    assert np.nanmedian(np.abs(x - truth.centroid_x[7:143])) < 2.0


def test_a_failed_write_stops_the_loop(session_factory):
    depth = session_factory("dat", n_frames=150, seed=9)
    with pytest.raises(OSError, match="disk full"):
        _run(depth, first=0, last=150, block=16, fail_at=64)
