"""Reading sampled rows of a results file chunk by chunk (output/h5skeleton.py)."""

from __future__ import annotations

import h5py
import numpy as np

from moseq2_extract.output.h5skeleton import read_rows, write_rows


def test_sampled_rows_read_chunk_by_chunk(tmp_path):
    rng = np.random.default_rng(2)
    data = rng.integers(0, 200, (70, 6, 5)).astype(np.uint8)  # 32-row chunks, a short last
    rows = np.array([0, 1, 31, 32, 40, 64, 69])
    with h5py.File(tmp_path / "x.h5", "w") as f:
        plain = f.create_dataset("plain", shape=data.shape, dtype=np.uint8,
                                 chunks=(32, 6, 5), compression="gzip")
        write_rows(plain, 0, data)  # raw deflate chunks, as the writer stores them
        shuffled = f.create_dataset("shuffled", data=data, chunks=(32, 6, 5),
                                    compression="gzip", shuffle=True)
        for dset in (plain, shuffled):
            np.testing.assert_array_equal(read_rows(dset, rows), data[rows])
            assert read_rows(dset, np.array([], np.int64)).shape == (0, 6, 5)
