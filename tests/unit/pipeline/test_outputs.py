"""The output files of one extraction (pipeline/outputs.py): the results h5 and the preview
movie, written under temporary names, renamed by finish, removed by abort."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
import pytest

from moseq2_extract import __version__
from moseq2_extract.config import make_config
from moseq2_extract.extract.results import SCALAR_NAMES, ChunkResult
from moseq2_extract.output.h5read import read_results
from moseq2_extract.paths import ResultsPaths
from moseq2_extract.pipeline.outputs import SessionOutputs
from moseq2_extract.pipeline.plan import plan_session
from moseq2_extract.roi.session import SessionRoi

C = 32  # crop size
BBOX = (100, 160, 120, 200)  # a 60 x 80 box


@pytest.fixture(scope="module")
def depth(session_factory):
    return session_factory("dat", n_frames=30, seed=2)


def make_plan(depth, tmp_path, **options):
    config = make_config({"crop_size": [C, C], "frame_trim": [4, 2], **options})
    return plan_session(depth, config, ResultsPaths.of(tmp_path / "proc", 0))


def make_arena():
    roi = np.zeros((424, 512), bool)
    y0, y1, x0, x1 = BBOX
    roi[y0:y1, x0:x1] = True
    return SessionRoi(roi=roi, background=np.full((424, 512), 670.0, np.float32),
                      first_frame=np.full((424, 512), 660, np.uint16), true_depth=668.5,
                      depth_range=(620.0, 720.0), plane=np.array([0.0, 0.0, -1.0, 670.0]),
                      bbox=BBOX, files=[])


def result(frames: range) -> ChunkResult:
    """Rows whose values encode their frame index."""
    idx = np.arange(frames.start, frames.stop)
    k = len(idx)
    crops = np.broadcast_to((idx % 50 + 20)[:, None, None], (k, C, C)).astype(np.uint8)
    box = np.zeros((k, 60, 80), np.uint8)
    box[:, 20:40, 30:50] = crops[:, :20, :20]
    return ChunkResult(frame_index=idx, frames=crops, masks=crops > 40,
                       scalars={n: (idx + i / 100).astype(np.float32)
                                for i, n in enumerate(SCALAR_NAMES)},
                       box=box, flips=idx % 2 == 0,
                       heading_confidence=np.full(k, 0.9, np.float32))


def files_in(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_written_rows_land_at_their_frame_and_both_files_are_renamed(depth, tmp_path):
    plan = make_plan(depth, tmp_path)
    assert (plan.first, plan.last) == (4, 28)
    with ThreadPoolExecutor(2) as pool:
        outputs = SessionOutputs.open(plan, make_arena(), pool, max_pending=2)
        assert outputs.movie is not None
        assert files_in(plan.paths.output_dir) and not plan.paths.h5.exists()
        outputs.write([result(range(4, 14))], plan.first)
        outputs.write([result(range(14, 20)), result(range(20, 28))], plan.first)
        outputs.finish(pool)
    assert files_in(plan.paths.output_dir) == ["results_00.h5", "results_00.mp4"]
    data = read_results(plan.paths.h5, frames=True)
    assert data["uuid"] == plan.uuid and data["n_frames"] == 24
    assert (data["first_frame_idx"], data["last_frame_idx"]) == (4, 28)
    assert data["true_depth"] == 668.5 and data["extract_version"] == __version__
    assert data["rows_written"] == 24 and data["crop_size"] == (C, C)
    np.testing.assert_array_equal(data["frames"][:, 0, 0], np.arange(4, 28) % 50 + 20)
    np.testing.assert_array_equal(data["scalars"]["centroid_x_px"], np.arange(4, 28))
    np.testing.assert_array_equal(data["flips"], np.arange(4, 28) % 2 == 0)
    np.testing.assert_allclose(data["timestamps"], plan.timestamps)
    assert data["parameters"]["crop_size"] == [C, C]
    with av.open(str(plan.paths.movie)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 24


def test_without_a_movie_only_the_h5_is_written(depth, tmp_path):
    plan = make_plan(depth, tmp_path, write_movie=False)
    with ThreadPoolExecutor(1) as pool:
        outputs = SessionOutputs.open(plan, make_arena(), pool, max_pending=1)
        assert outputs.movie is None
        outputs.write([result(range(4, 28))], plan.first)
        outputs.finish(pool)
    assert files_in(plan.paths.output_dir) == ["results_00.h5"]


def test_abort_removes_both_temporary_files(depth, tmp_path):
    plan = make_plan(depth, tmp_path)
    with ThreadPoolExecutor(2) as pool:
        outputs = SessionOutputs.open(plan, make_arena(), pool, max_pending=2)
        outputs.write([result(range(4, 14))], plan.first)
        assert files_in(plan.paths.output_dir)  # the partial files
        outputs.abort()
    assert files_in(plan.paths.output_dir) == []


def test_finish_refuses_missing_rows(depth, tmp_path):
    plan = make_plan(depth, tmp_path, write_movie=False)
    with ThreadPoolExecutor(1) as pool:
        outputs = SessionOutputs.open(plan, make_arena(), pool, max_pending=1)
        outputs.write([result(range(4, 14))], plan.first)
        with pytest.raises(ValueError, match="only 10 of 24 rows"):
            outputs.finish(pool)
        outputs.abort()
    assert files_in(plan.paths.output_dir) == []


def test_a_failed_finish_leaves_no_movie_behind(depth, tmp_path):
    plan = make_plan(depth, tmp_path)
    with ThreadPoolExecutor(2) as pool:
        outputs = SessionOutputs.open(plan, make_arena(), pool, max_pending=2)
        outputs.write([result(range(4, 14))], plan.first)
        with pytest.raises(ValueError, match="only 10 of 24 rows"):
            outputs.finish(pool)
        outputs.abort()
    assert files_in(plan.paths.output_dir) == []
