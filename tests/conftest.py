"""Shared fixtures: synthetic sessions written under pytest's temporary folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from moseq2_extract.synthetic import SessionSpec, write_session


@pytest.fixture(scope="session")
def session_factory(tmp_path_factory):
    """Write (and cache) a synthetic session: ``factory(fmt="dat", **spec_fields) -> Path``.

    Each call returns the depth file of a fresh copy, so tests may write next to it.
    """
    cache: dict[tuple, Path] = {}

    def make(fmt: str = "dat", **fields) -> Path:
        key = (fmt, tuple(sorted(fields.items())))
        if key not in cache:
            folder = tmp_path_factory.mktemp("session")
            cache[key] = write_session(folder, SessionSpec(**fields), fmt=fmt)
        src = cache[key]
        dst = tmp_path_factory.mktemp("copy")
        for item in src.parent.iterdir():
            if item.is_file():
                shutil.copy2(item, dst / item.name)
        return dst / src.name

    return make


@pytest.fixture(scope="session")
def extracted_batch(session_factory, tmp_path_factory):
    """A folder of three extracted sessions (300 frames; the second with a hand reaching
    in, so that its quality record has flags): ``(folder, [results_00.h5, ...])``.

    Tests may read them; tests that change a file work on a copy.
    """
    from moseq2_extract.config import make_config
    from moseq2_extract.pipeline.session import extract_session

    folder = tmp_path_factory.mktemp("batch")
    h5s = []
    for i, case in enumerate(("clean", "hand", "clean")):
        depth = session_factory("dat", n_frames=300, seed=11 + i, case=case,
                                session_name=f"session_{i}")
        target = folder / f"s{i}"
        shutil.copytree(depth.parent, target)
        out = extract_session(target / depth.name, make_config({"workers": 1}))
        h5s.append(out.h5_path)
    return folder, h5s
