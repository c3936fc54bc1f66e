"""Fake extraction results for the batch tests."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from moseq2_extract.output.h5layout import write_acquisition_metadata
from moseq2_extract.output.status import write_status

META = {"SessionName": "sessA", "SubjectName": "Mouse1",
        "StartTime": "2019-03-20T14:29:23.0780000-04:00", "DepthResolution": [512, 424]}


def fake_result(folder: Path, uuid: str, meta: dict | None = None, *, n: int = 30,
                value: int = 40, complete: bool = True, mp4: bool = True, **extra) -> Path:
    """A results_00.{h5,yaml,mp4} triple like an extraction writes (small frames)."""
    folder.mkdir(parents=True, exist_ok=True)
    h5 = folder / "results_00.h5"
    with h5py.File(h5, "w") as f:
        f.create_dataset("frames", data=np.full((n, 8, 8), value, np.uint8))
        f.create_dataset("metadata/uuid", data=uuid, dtype=h5py.string_dtype())
        if meta is not None:
            write_acquisition_metadata(f.require_group("metadata/acquisition"), meta)
    write_status(folder / "results_00.yaml", complete=complete, metadata=meta or {},
                 parameters={"fps": 30.0}, uuid=uuid, extra=extra or None)
    if mp4:
        (folder / "results_00.mp4").write_bytes(b"movie-" + uuid.encode())
    return h5
