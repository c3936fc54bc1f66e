"""Session paths and the one atomic-write helper (moseq2_extract.paths)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from moseq2_extract.paths import (
    ResultsPaths,
    archive_stem,
    atomic_path,
    copy_atomic,
    is_archive,
    partial_path,
    resolve_output_dir,
    results_stem,
    session_stem,
    write_text_atomic,
    write_yaml_atomic,
)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("name, stem", [
    ("session_20200101.tar.gz", "session_20200101"),
    ("session_1.TAR.GZ", "session_1"),
    ("Session_2.Tgz", "Session_2"),
    ("depth.dat", None),
    ("depth.avi", None),
    ("archive.gz", None),
])
def test_archive_rule_is_case_insensitive(name, stem):
    assert archive_stem(Path("/data") / name) == stem
    assert is_archive(name) is (stem is not None)


def test_session_stem_strips_both_archive_suffixes():
    assert session_stem("/x/session_3.tar.gz") == "session_3"
    assert session_stem("/x/depth.dat") == "depth"
    assert session_stem("/x/a.b.avi") == "a.b"


def test_results_names():
    assert results_stem(0) == "results_00"
    assert results_stem(12) == "results_12"
    paths = ResultsPaths.of("/out/proc", 3)
    assert paths.h5 == Path("/out/proc/results_03.h5")
    assert paths.yaml == Path("/out/proc/results_03.yaml")
    assert paths.movie == Path("/out/proc/results_03.mp4")
    assert paths.output_dir == Path("/out/proc")


def test_resolve_output_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    session = tmp_path / "raw" / "s1" / "depth.dat"
    assert resolve_output_dir(session, None) == session.parent / "proc"
    assert resolve_output_dir(session, "") == session.parent / "proc"
    assert resolve_output_dir(session, "out") == session.parent / "out"
    assert resolve_output_dir(session, tmp_path / "abs") == tmp_path / "abs"
    # an existing relative path with a folder part is taken from the working directory
    (tmp_path / "here" / "proc").mkdir(parents=True)
    assert resolve_output_dir(session, "here/proc") == Path("here/proc")
    archive = tmp_path / "raw" / "session_9.TGZ"
    assert resolve_output_dir(archive, None) == tmp_path / "raw" / "session_9" / "proc"


def test_partial_names():
    assert partial_path("/o/results_00.h5") == Path("/o/.results_00.h5.partial")
    assert partial_path("/o/roi.png", keep_suffix=True) == Path("/o/.roi.png.partial.png")


def test_atomic_write_follows_umask_and_leaves_no_temporary(tmp_path, umask_022):
    target = write_yaml_atomic(tmp_path / "sub" / "results_00.yaml", {"b": [1, 2], "a": 1})
    assert _mode(target) == 0o644
    assert yaml.safe_load(target.read_text()) == {"a": 1, "b": [1, 2]}
    assert target.read_text().splitlines()[0] == "a: 1"  # sorted keys, as the original
    assert sorted(p.name for p in target.parent.iterdir()) == ["results_00.yaml"]
    os.umask(0o077)
    private = write_text_atomic(tmp_path / "private.txt", "x")
    assert _mode(private) == 0o600


def test_failed_write_keeps_the_previous_file(tmp_path):
    target = write_text_atomic(tmp_path / "status.yaml", "old\n")
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["status.yaml"]


def test_atomic_path_refuses_an_empty_write(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing was written"), \
            atomic_path(tmp_path / "never.bin"):
        pass
    assert not (tmp_path / "never.bin").exists()


def test_copy_takes_mode_from_umask_not_source(tmp_path, umask_022):
    src = tmp_path / "raw.bin"
    src.write_bytes(b"\x00\x01" * 1000)
    src.chmod(0o400)
    dst = copy_atomic(src, tmp_path / "agg" / "copy.bin")
    assert dst.read_bytes() == src.read_bytes()
    assert _mode(dst) == 0o644
    assert _mode(src) == 0o400
