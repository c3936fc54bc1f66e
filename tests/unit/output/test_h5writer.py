"""ResultsWriter: temporary name, atomic rename, abort, resume, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np
import pytest

from moseq2_extract.errors import InputFileError
from moseq2_extract.extract.results import SCALAR_NAMES, ChunkResult
from moseq2_extract.output.h5read import read_results
from moseq2_extract.output.h5writer import (
    ResultsWriter,
    partial_path,
    write_rows,
)

N, C, H, W = 10, 16, 40, 48
UUID = "5b7d1c2e-0000-4000-8000-000000000001"


def make_writer(path, *, n=N, with_flips=False, **over) -> ResultsWriter:
    roi = np.zeros((H, W), bool)
    roi[5:30, 5:40] = True
    kwargs = dict(n_frames=n, crop_size=(C, C), frame_dtype="uint8",
                  acquisition_metadata={"SessionName": "s"}, parameters={"fps": 30.0},
                  uuid=UUID, roi=roi, background=np.full((H, W), 670.0),
                  first_frame=np.full((H, W), 660, np.uint16), first_frame_idx=0,
                  last_frame_idx=n, true_depth=670.0, timestamps=np.arange(n) * 33.0,
                  with_flips=with_flips)
    kwargs.update(over)
    return ResultsWriter(path, **kwargs)


def make_chunk(start: int, stop: int, *, heading: bool = False) -> ChunkResult:
    """Rows whose content encodes their absolute row index."""
    rows = np.arange(start, stop)
    k = len(rows)
    frames = np.broadcast_to((rows + 1)[:, None, None], (k, C, C)).astype(np.uint8)
    return ChunkResult(
        frame_index=rows,
        frames=frames,
        masks=frames % 2 == 1,
        scalars={name: (rows * 10 + i).astype(np.float32)
                 for i, name in enumerate(SCALAR_NAMES)},
        box=np.zeros((k, 4, 4), np.uint8),
        flips=rows % 3 == 0,
        heading_confidence=(rows / 100).astype(np.float32) if heading else None,
    )


def assert_rows(path, stop: int = N) -> None:
    data = read_results(path, frames=True)
    rows = np.arange(stop)
    np.testing.assert_array_equal(data["frames"][:stop, 3, 7], rows + 1)
    np.testing.assert_array_equal(data["scalars"]["centroid_y_px"][:stop], rows * 10 + 1)
    np.testing.assert_array_equal(data["frames_mask"][:stop, 0, 0], (rows + 1) % 2 == 1)


def test_partial_name_until_finalize(tmp_path):
    final = tmp_path / "proc" / "results_00.h5"
    writer = make_writer(final)
    tmp = partial_path(final)
    assert tmp == tmp_path / "proc" / ".results_00.h5.partial"
    assert tmp.is_file() and not final.exists()
    writer.write(make_chunk(0, 4), 0)
    writer.write(make_chunk(4, N), 4)
    assert not final.exists()
    assert writer.finalize() == final
    assert final.is_file() and not tmp.exists()
    assert_rows(final)
    data = read_results(final)
    assert data["rows_written"] == N
    assert data["uuid"] == UUID
    assert data["parameters"] == {"fps": 30.0}
    assert data["acquisition"] == {"SessionName": "s"}


def test_finalize_refuses_missing_rows(tmp_path):
    final = tmp_path / "results_00.h5"
    writer = make_writer(final)
    writer.write(make_chunk(0, 4), 0)
    with pytest.raises(ValueError, match="only 4 of 10 rows"):
        writer.finalize()
    assert not final.exists()
    writer.write(make_chunk(4, N), 4)
    writer.finalize()
    assert_rows(final)


def test_abort_removes_partial_and_keeps_old_result(tmp_path):
    final = tmp_path / "results_00.h5"
    final.write_bytes(b"previous complete result")
    writer = make_writer(final)
    writer.write(make_chunk(0, 4), 0)
    writer.abort()
    assert not partial_path(final).exists()
    assert final.read_bytes() == b"previous complete result"
    writer.abort()  # idempotent


def test_exception_in_with_block_leaves_nothing(tmp_path):
    final = tmp_path / "results_00.h5"
    with pytest.raises(RuntimeError, match="boom"), make_writer(final) as writer:
        writer.write(make_chunk(0, 4), 0)
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_clean_with_exit_finalizes(tmp_path):
    final = tmp_path / "results_00.h5"
    with make_writer(final) as writer:
        writer.write(make_chunk(0, N), 0)
    assert final.is_file() and not partial_path(final).exists()


def test_clean_exit_with_missing_rows_keeps_partial(tmp_path):
    final = tmp_path / "results_00.h5"
    with pytest.raises(ValueError, match="rows written"), make_writer(final) as writer:
        writer.write(make_chunk(0, 4), 0)
    assert not final.exists()
    writer2, done = ResultsWriter.resume(final)
    assert done == 4
    writer2.abort()


def test_resume_continues_after_close(tmp_path):
    final = tmp_path / "results_00.h5"
    writer = make_writer(final, with_flips=True)
    writer.write(make_chunk(0, 3), 0)
    writer.write(make_chunk(3, 6), 3)
    writer.close()
    assert not final.exists()
    resumed, done = ResultsWriter.resume(final)
    assert done == 6
    assert resumed.uuid == UUID and resumed.n_frames == N and resumed.with_flips
    assert resumed.crop_size == (C, C) and resumed.frame_dtype == "uint8"
    resumed.write(make_chunk(6, N), done)
    resumed.finalize()
    assert_rows(final)
    assert read_results(final)["flips"].tolist() == (np.arange(N) % 3 == 0).tolist()


def test_out_of_order_writes_count_only_contiguous_prefix(tmp_path):
    final = tmp_path / "results_00.h5"
    writer = make_writer(final)
    writer.write(make_chunk(6, N), 6)
    assert writer.rows_written == 0
    writer.write(make_chunk(0, 3), 0)
    assert writer.rows_written == 3
    assert writer.h5["metadata/extraction"].attrs["rows_written"] == 3
    writer.write(make_chunk(3, 6), 3)
    assert writer.rows_written == N
    writer.finalize()
    assert_rows(final)


def test_resume_errors(tmp_path):
    final = tmp_path / "results_00.h5"
    with pytest.raises(InputFileError, match="no partial results file"):
        ResultsWriter.resume(final)
    partial_path(final).write_bytes(b"\x89HDF garbage")
    with pytest.raises(InputFileError, match="unreadable"):
        ResultsWriter.resume(final)
    # a fresh writer replaces the unusable partial file
    with make_writer(final) as writer:
        writer.write(make_chunk(0, N), 0)
    assert_rows(final)


def test_killed_process_never_leaves_final_file(tmp_path):
    """SIGKILL in the middle of writing: only the partial file exists, and it resumes."""
    final = tmp_path / "results_00.h5"
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_h5writer import make_writer, make_chunk
        w = make_writer({str(final)!r})
        w.write(make_chunk(0, 4), 0)
        w.write(make_chunk(4, 7), 4)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert not final.exists()
    writer, done = ResultsWriter.resume(final)
    assert done == 7
    writer.write(make_chunk(done, N), done)
    writer.finalize()
    assert_rows(final)


def test_heading_confidence_dataset(tmp_path):
    final = tmp_path / "results_00.h5"
    with make_writer(final) as writer:
        writer.write(make_chunk(0, 4), 0)
        writer.write(make_chunk(4, N, heading=True), 4)
    with h5py.File(final, "r") as h5:
        dset = h5["metadata/extraction/heading_confidence"]
        assert dset.dtype == np.float32 and dset.shape == (N,)
        assert "heading" in dset.attrs["description"]
        values = dset[()]
    assert np.isnan(values[:4]).all()
    np.testing.assert_allclose(values[4:], np.arange(4, N) / 100, rtol=1e-6)


def test_write_validation(tmp_path):
    final = tmp_path / "results_00.h5"
    writer = make_writer(final, with_flips=True)
    with pytest.raises(ValueError, match="outside"):
        writer.write(make_chunk(0, 4), 8)
    bad = make_chunk(0, 4)
    bad.frames = bad.frames[:, :8]
    with pytest.raises(ValueError, match="frames shape"):
        writer.write(bad, 0)
    no_scalar = make_chunk(0, 4)
    del no_scalar.scalars["angle"]
    with pytest.raises(ValueError, match="angle"):
        writer.write(no_scalar, 0)
    no_flips = make_chunk(0, 4)
    no_flips.flips = None
    with pytest.raises(ValueError, match="flips"):
        writer.write(no_flips, 0)
    assert writer.rows_written == 0
    writer.abort()
    with pytest.raises(ValueError, match="timestamps"):
        make_writer(final, timestamps=np.arange(3.0))
    assert not partial_path(final).exists()
    with pytest.raises(ValueError, match="same shape"):
        make_writer(final, roi=np.ones((H, W + 1), bool))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, bool, np.float32])
def test_write_rows_matches_plain_writes(tmp_path, dtype):
    """Direct compressed chunks + edge writes read back exactly, at any alignment."""
    rng = np.random.default_rng(4)
    n, per = 53, 8  # short edge chunk at the end
    truth = (rng.random((n, 5, 6)) * 200).astype(dtype)
    with h5py.File(tmp_path / "x.h5", "w") as h5:
        dset = h5.create_dataset("a", shape=truth.shape, dtype=truth.dtype,
                                 compression="gzip", chunks=(per, 5, 6))
        with ThreadPoolExecutor(2) as pool:
            for start, stop in [(0, 3), (3, 21), (21, 40), (45, 53), (40, 45)]:
                write_rows(dset, start, truth[start:stop], pool)
        assert dset.compression_opts == 4
    with h5py.File(tmp_path / "x.h5", "r") as h5:
        np.testing.assert_array_equal(h5["a"][()], truth)


def test_resume_rejects_unfinished_skeleton(tmp_path):
    final = tmp_path / "results_00.h5"
    with h5py.File(partial_path(final), "w") as h5:  # killed while creating the layout
        h5.create_dataset("frames", shape=(N, C, C), dtype=np.uint8)
        h5.create_group("metadata/extraction")
    with pytest.raises(InputFileError, match="incomplete"):
        ResultsWriter.resume(final)


def test_resume_after_saved_rows_rewrites_the_rest_and_checks_the_kept_ones(tmp_path):
    final = tmp_path / "results_00.h5"
    writer = make_writer(final, with_flips=True)
    writer.write(make_chunk(0, 4, heading=True), 0)
    saved = writer.checksums  # what a snapshot after row 4 records
    assert saved is not None and set(saved) >= {"frames", "frames_mask", "flips",
                                                  "scalars/angle", "heading_confidence"}
    bad = make_chunk(4, 8, heading=True)
    bad.frames[:] = 99  # rows written after the snapshot: written again on resume
    writer.write(bad, 4)
    writer.flush(durable=True)
    writer.close()
    resumed, done = ResultsWriter.resume(final, rows=4, checksums=saved,
                                         parameters={"fps": 15.0})
    assert done == 4 and resumed.checksums == saved
    resumed.write(make_chunk(4, N, heading=True), 4)
    whole = resumed.checksums
    resumed.finalize()
    assert_rows(final)
    with h5py.File(final, "r") as f:
        assert f["metadata/extraction/parameters/fps"][()] == 15.0
    # the checksums are those of an uninterrupted run
    other = make_writer(tmp_path / "other.h5", with_flips=True)
    other.write(make_chunk(0, N, heading=True), 0)
    assert other.checksums == whole
    other.abort()


def test_resume_refuses_kept_rows_that_changed(tmp_path):
    final = tmp_path / "results_00.h5"
    writer = make_writer(final)
    writer.write(make_chunk(0, 6), 0)
    saved = writer.checksums
    writer.close()
    with h5py.File(partial_path(final), "r+") as f:  # a row damaged since
        f["scalars/angle"][2] = -1
    with pytest.raises(InputFileError, match=r"first 6 rows differ.*scalars/angle"):
        ResultsWriter.resume(final, rows=6, checksums=saved)
    with pytest.raises(InputFileError, match="7 rows asked, 6 vouched for"):
        ResultsWriter.resume(final, rows=7)
    assert partial_path(final).exists()  # left for a fresh start to replace
