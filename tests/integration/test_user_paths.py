"""Issue 11: every path a user walks (install, discovery, indexes, bad places, bad files,
interrupted work).  Each test names the item of the issue it checks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import tomllib
from click.testing import CliRunner

from moseq2_extract.batch.runners import require_dask
from moseq2_extract.cli import cli
from moseq2_extract.errors import ConfigError
from moseq2_extract.output.status import write_status

ROOT = Path(__file__).resolve().parents[2]


def run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], **kw)


def touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def finished(folder: Path, depth: str) -> Path:
    """A session folder whose extraction is complete (so batch-extract runs nothing)."""
    touch(folder / depth)
    touch(folder / "metadata.json", "{}")
    write_status(folder / "proc" / "results_00.yaml", complete=True, metadata={},
                 parameters={}, uuid=folder.name)
    touch(folder / "proc" / "results_00.h5")
    return folder / depth


# --- 1. install and batch ----------------------------------------------------------------
def test_item1_dask_is_a_regular_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {d.split(">")[0].split("=")[0].split("[")[0].strip().lower()
             for d in project["dependencies"]}
    assert {"dask", "distributed", "dask-jobqueue"} <= names


def test_item1_missing_dask_is_one_line_not_a_traceback(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import raises ImportError
    with pytest.raises(ConfigError, match="distributed.*--local-workers 1"):
        require_dask()


# --- 2. every input kind found -----------------------------------------------------------
@pytest.fixture
def mixed(tmp_path):
    root = tmp_path / "exp"
    finished(root / "a", "depth.dat")
    finished(root / "b", "depth.avi")
    finished(root / "c", "rec.mkv")
    touch(root / "d" / "session_20200101.tar.gz")
    write_status(root / "d" / "session_20200101" / "proc" / "results_00.yaml",
                 complete=True, metadata={}, parameters={}, uuid="d")
    touch(root / "d" / "session_20200101" / "proc" / "results_00.h5")
    finished(root / "e", "depth.dat")
    touch(root / "e" / "depth.avi")  # its converted copy: the same session
    return root


def test_item2_every_kind_found_by_default_and_printed_by_kind(mixed):
    result = run("batch-extract", mixed)
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith("Found 5 session(s)")
    assert "(2 .dat, 1 .avi, 1 .mkv, 1 .tar.gz)" in first
    assert "depth.dat and depth.avi are one session; using depth.dat" in result.output


@pytest.mark.parametrize("args", [
    ["--extensions", ".dat", ".avi"],            # several values after one flag
    ["--extensions", ".dat,.avi"],
    ["--extensions", ".dat", "--extensions", "avi"],
])
def test_item2_extensions_take_several_values(mixed, args):
    # the folder after the values is not swallowed by the option
    result = run("batch-extract", *args, mixed)
    assert result.exit_code == 0, result.output
    assert "(2 .dat, 1 .avi, 1 .tar.gz)" in result.output.splitlines()[0]
    result = run("batch-extract", mixed, *args)
    assert "(2 .dat, 1 .avi, 1 .tar.gz)" in result.output.splitlines()[0]


def test_item2_help_says_extensions_take_several_values():
    result = run("batch-extract", "--help")
    assert "--extensions .dat .avi" in " ".join(result.output.split())
