"""Session discovery: which files are sessions, where their results go, which are done."""

from __future__ import annotations

from pathlib import Path

import pytest

from moseq2_extract.batch.discovery import (
    COMPLETE,
    NEW,
    PARTIAL,
    describe_session,
    find_sessions,
    is_depth_file_name,
    kind_counts,
    load_found_session_paths,
    normalize_extensions,
    recursive_find_unextracted_dirs,
)
from moseq2_extract.errors import ConfigError
from moseq2_extract.output.status import write_status


def touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def finish(out_dir: Path, *, complete: bool = True, h5: bool = True) -> None:
    write_status(out_dir / "results_00.yaml", complete=complete, metadata={}, parameters={},
                 uuid="u")
    if h5:
        touch(out_dir / "results_00.h5")


@pytest.fixture
def tree(tmp_path):
    """A folder with every kind of input and the files that must be ignored."""
    root = tmp_path / "data"
    for name in ("a", "b", "c"):
        touch(root / name / "depth.dat")
        touch(root / name / "metadata.json", "{}")
        touch(root / name / "nidaq.dat")
    touch(root / "azure" / "depth.avi")
    touch(root / "azure" / "ir.avi")
    touch(root / "azure" / "metadata.json", "{}")
    touch(root / "multi" / "rec.cam1.depth.avi")
    touch(root / "multi" / "rec.cam1.ir.avi")
    touch(root / "k4a" / "rec.mkv")
    touch(root / "arch" / "session_20200101.tar.gz")
    touch(root / "arch" / "session_20200101.json", "{}")
    touch(root / "arch" / "other.tar.gz")  # not a session name
    touch(root / "a" / "proc" / ".results_00.h5.partial")
    touch(root / "a" / ".depth.1234.partial.avi")
    touch(root / ".hidden" / "depth.dat")
    return root


def names(sessions, root):
    return [str(s.depth_file.relative_to(root.resolve())) for s in sessions]


def test_finds_every_input_kind_and_nothing_else(tree):
    found = find_sessions(tree, [".dat", "avi", ".mkv"])
    assert names(found, tree) == [
        "a/depth.dat", "arch/session_20200101.tar.gz", "azure/depth.avi", "b/depth.dat",
        "c/depth.dat", "k4a/rec.mkv", "multi/rec.cam1.depth.avi"]
    kinds = {s.depth_file.name: s.kind for s in found}
    assert kinds["session_20200101.tar.gz"] == "tar" and kinds["rec.mkv"] == "mkv"
    assert all(s.depth_file.is_absolute() and s.output_dir.is_absolute() for s in found)


def test_default_finds_every_supported_kind(tree):
    # issue 11 item 2: .avi, .mkv and archives are found without --extensions
    found = find_sessions(tree)
    assert names(found, tree) == names(find_sessions(tree, [".dat", "avi", ".mkv"]), tree)
    assert kind_counts(found) == {".dat": 3, ".avi": 2, ".mkv": 1, ".tar.gz": 1}


def test_kind_counts_leave_out_second_copies(tmp_path):
    touch(tmp_path / "s" / "depth.dat")
    touch(tmp_path / "s" / "depth.avi")
    assert kind_counts(find_sessions(tmp_path)) == {".dat": 1}


def test_archive_results_live_in_their_own_folder(tree):
    arch = next(s for s in find_sessions(tree) if s.kind == "tar")
    assert arch.name == "session_20200101"
    assert arch.output_dir == (tree / "arch" / "session_20200101" / "proc").resolve()
    assert arch.has_metadata


@pytest.mark.parametrize(("complete", "h5", "expected"), [
    (True, True, COMPLETE), (True, False, PARTIAL), (False, True, PARTIAL),
])
def test_complete_needs_status_and_h5(tree, complete, h5, expected):
    finish(tree / "b" / "proc", complete=complete, h5=h5)
    status = {s.depth_file.parent.name: s.status for s in find_sessions(tree, ".dat")}
    assert status == {"a": NEW, "arch": NEW, "b": expected, "c": NEW}


def test_archive_counts_as_done(tree):
    finish(tree / "arch" / "session_20200101" / "proc")
    arch = next(s for s in find_sessions(tree) if s.kind == "tar")
    assert arch.complete


def test_two_files_writing_one_output_folder_conflict(tmp_path):
    touch(tmp_path / "s" / "depth.dat")
    touch(tmp_path / "s" / "depth.avi")
    first = find_sessions(tmp_path, [".avi", ".dat"])
    assert [(s.depth_file.name, s.conflict is None) for s in first] == [
        ("depth.avi", True), ("depth.dat", False)]
    assert first[1].conflict == first[0].depth_file
    second = find_sessions(tmp_path, [".dat", ".avi"])
    assert [(s.depth_file.name, s.conflict is None) for s in second] == [
        ("depth.avi", False), ("depth.dat", True)]


def test_output_dir_and_roi_index_name_the_status_file(tmp_path):
    depth = touch(tmp_path / "s" / "depth.dat")
    s = describe_session(depth, output_dir="out", bg_roi_index=2)
    assert s.yaml_path == (tmp_path / "s" / "out" / "results_02.yaml").resolve()
    assert s.h5_path.name == "results_02.h5" and s.status == NEW
    absolute = describe_session(depth, output_dir=tmp_path / "elsewhere")
    assert absolute.output_dir == (tmp_path / "elsewhere").resolve()


def test_file_name_rules():
    assert is_depth_file_name("depth.dat", (".dat",))
    assert is_depth_file_name("DEPTH.DAT", (".dat",))
    for name in ("nidaq.dat", "ir.avi", "ir_depth.dat", "x.ir.avi", ".depth.dat",
                 "depth.dat.partial", "rgb.avi"):
        assert not is_depth_file_name(name, (".dat", ".avi")), name
    assert is_depth_file_name("session_123.tgz", (".dat",))
    assert not is_depth_file_name("session_abc.tgz", (".dat",))


def test_normalize_extensions():
    assert normalize_extensions(["dat", ".AVI", ".dat"]) == (".dat", ".avi")
    assert normalize_extensions("mkv") == (".mkv",)
    with pytest.raises(ConfigError, match="mp4"):
        normalize_extensions([".mp4"])
    with pytest.raises(ConfigError):
        find_sessions("/nonexistent/folder/x")


def test_recursive_find_unextracted_dirs(tree):
    finish(tree / "b" / "proc")
    (tree / "c" / "metadata.json").unlink()
    found = recursive_find_unextracted_dirs(tree)
    rel = sorted(str(Path(p).relative_to(tree)) for p in found)
    # b is complete, c lacks metadata; nidaq.dat never counts (spec 7.1 item 20)
    assert rel == ["a/depth.dat", "arch/session_20200101.tar.gz"]
    everything = recursive_find_unextracted_dirs(tree, skip_checks=True)
    assert len(everything) == 4
    finish(tree / "arch" / "session_20200101" / "proc")
    assert [Path(p).name for p in recursive_find_unextracted_dirs(tree)] == ["depth.dat"]


def test_load_found_session_paths_is_one_level_deep(tree):
    touch(tree / "a" / "deeper" / "depth.dat")
    found = load_found_session_paths(tree, ["dat", "avi"])
    rel = [str(Path(p).relative_to(tree)) for p in found]
    assert rel == ["a/depth.dat", "azure/depth.avi", "b/depth.dat", "c/depth.dat",
                   "multi/rec.cam1.depth.avi"]
