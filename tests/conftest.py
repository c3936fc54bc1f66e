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
