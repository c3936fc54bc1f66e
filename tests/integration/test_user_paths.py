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


# --- 5, 6. damaged but usable inputs; the raw-data folder is never written ----------------
def status_of(depth: Path) -> dict:
    from moseq2_extract.output.status import read_status

    return read_status(depth.parent / "proc" / "results_00.yaml")


def warning_lines(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("Warning")]


def test_item6_no_metadata_json_written_beside_the_recording(session_factory):
    depth = session_factory("dat", n_frames=60, seed=3)
    (depth.parent / "metadata.json").unlink()
    before = sorted(p.name for p in depth.parent.iterdir())
    result = run("extract", depth)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in depth.parent.iterdir()) == sorted(before + ["proc"])
    import h5py

    with h5py.File(depth.parent / "proc" / "results_00.h5", "r") as f:  # defaults: outputs
        assert f["metadata/acquisition/SessionName"][()].decode() == depth.parent.name
    assert status_of(depth)["metadata"]["SessionName"] == depth.parent.name


def test_item6_failed_run_writes_nothing_beside_the_recording(tmp_path):
    (tmp_path / "depth.dat").write_bytes(b"")
    result = run("extract", tmp_path / "depth.dat")
    assert result.exit_code == 1
    assert [p.name for p in tmp_path.iterdir()] == ["depth.dat"]


def test_item5_missing_depth_ts_made_up_from_frame_rate(session_factory):
    import h5py
    import numpy as np

    depth = session_factory("dat", n_frames=60, seed=3)
    (depth.parent / "depth_ts.txt").unlink()
    result = run("extract", depth, "--fps", "30")
    assert result.exit_code == 0, result.output
    (line,) = warning_lines(result)
    assert "made up from the frame rate (30 frames/s" in line
    with h5py.File(depth.parent / "proc" / "results_00.h5", "r") as f:
        np.testing.assert_allclose(f["timestamps"][()], np.arange(60) * 1000 / 30)
    status = status_of(depth)
    assert status["timestamp_source"] == "frame rate" and status["warnings"] == [line[9:]]


def test_item5_bad_timestamp_lines_interpolated_counted_recorded(session_factory):
    import h5py
    import numpy as np

    depth = session_factory("dat", n_frames=60, seed=3)
    ts_file = depth.parent / "depth_ts.txt"
    lines = ts_file.read_text().splitlines()
    truth = np.array([float(x.split()[0]) for x in lines])
    lines[10], lines[11], lines[40] = "#####", "\x00\x00", "1.2.3 0"
    ts_file.write_text("\n".join(lines) + "\n")
    result = run("extract", depth)
    assert result.exit_code == 0, result.output
    (line,) = warning_lines(result)
    assert "3 unreadable line(s) (11, 12, 41)" in line
    with h5py.File(depth.parent / "proc" / "results_00.h5", "r") as f:
        np.testing.assert_allclose(f["timestamps"][()], truth, atol=2.0)  # camera jitter
    assert status_of(depth)["warnings"] == [line[9:]]


def test_item5_metadata_not_an_object_is_treated_as_missing(session_factory):
    depth = session_factory("dat", n_frames=60, seed=3)
    (depth.parent / "metadata.json").write_text('"just a string"')
    result = run("extract", depth)
    assert result.exit_code == 0, result.output
    (line,) = warning_lines(result)
    assert "metadata.json" in line and "treated as missing" in line
    assert status_of(depth)["metadata"]["SessionName"] == depth.parent.name


@pytest.mark.parametrize("fmt", ["avi", "mkv"])
def test_item5_truncated_video_extracts_the_frames_that_decode(session_factory, fmt):
    import h5py

    depth = session_factory(fmt, n_frames=90, seed=4)
    size = depth.stat().st_size
    with open(depth, "r+b") as fh:  # an interrupted copy
        fh.truncate(size * 6 // 10)
    result = run("extract", depth)
    assert result.exit_code == 0, result.output
    (line,) = warning_lines(result)
    assert "can be decoded" in line and "of 90 frames" in line
    usable = int(line.split("only the first ")[1].split()[0])
    assert 40 <= usable < 60
    with h5py.File(depth.parent / "proc" / "results_00.h5", "r") as f:
        assert len(f["frames"]) == usable == len(f["timestamps"])
    assert status_of(depth)["warnings"] == [line[9:]]


# --- 3. one rule for the index, backups, name collisions ----------------------------------
@pytest.fixture
def two_colliding(tmp_path):
    from tests.unit.batch.fake_results import META, fake_result

    root = tmp_path / "project"
    fake_result(root / "data" / "s1" / "proc", "u1", META)
    fake_result(root / "data" / "s2" / "proc", "u2", META)  # same names as s1
    return root


def test_item3_every_index_command_writes_the_same_place(two_colliding, monkeypatch):
    import yaml

    root = two_colliding
    monkeypatch.chdir(root)
    result = run("aggregate-results", "-i", "data")
    assert result.exit_code == 0, result.output
    assert f"Index file: {root / 'moseq2-index.yaml'} (beside the aggregate folder)" in \
        result.output
    assert not (root / "data" / "moseq2-index.yaml").exists()
    first = yaml.safe_load((root / "moseq2-index.yaml").read_text())
    assert len(first["files"]) == 2
    result = run("agg-to-index")
    assert result.exit_code == 0, result.output
    assert str(root / "moseq2-index.yaml") in result.output
    assert not list(root.glob("*.bak*"))  # same sessions: nothing to back up


def test_item3_index_with_other_sessions_is_backed_up_and_groups_kept(two_colliding,
                                                                      monkeypatch):
    import yaml

    root = two_colliding
    monkeypatch.chdir(root)
    assert run("aggregate-results", "-i", "data").exit_code == 0
    index = root / "moseq2-index.yaml"
    edited = yaml.safe_load(index.read_text())
    edited["files"][0]["group"] = "treated"  # the user's edit
    edited["files"].append({"group": "other", "metadata": {}, "path": ["x.h5", "x.yaml"],
                            "uuid": "from-another-project"})
    index.write_text(yaml.safe_dump(edited))
    before = index.read_text()
    result = run("generate-index", "-i", "data")
    assert result.exit_code == 0, result.output
    assert (root / "moseq2-index.yaml.bak").read_text() == before
    new = yaml.safe_load(index.read_text())
    groups = {f["uuid"]: f["group"] for f in new["files"]}
    assert "from-another-project" not in groups
    assert sorted(groups.values()) == ["default", "treated"]  # the user's group is kept


def test_item3_colliding_names_are_warned_about(two_colliding, monkeypatch, caplog):
    monkeypatch.chdir(two_colliding)
    result = run("aggregate-results", "-i", "data")
    assert result.exit_code == 0
    text = caplog.text
    assert "is taken by" in text and "s1" in text and "_2" in text
    assert "2 sessions share SessionName 'sessA' and SubjectName 'Mouse1'" in text


# --- 4. bad places: one line naming the path, non-zero exit, nothing lost -----------------
def _preload() -> None:
    """Import everything a command may import later: a child that has dropped root may
    no longer read the interpreter's own folder."""
    import importlib
    import pkgutil

    import av

    for info in pkgutil.walk_packages(av.__path__, "av."):
        try:
            importlib.import_module(info.name)
        except Exception:  # noqa: BLE001, S112 - optional parts of PyAV
            continue
    for name in ("moseq2_extract.pipeline.session", "moseq2_extract.output.h5writer",
                 "moseq2_extract.output.movie", "moseq2_extract.io.convert",
                 "moseq2_extract.roi.session", "tifffile", "h5py", "cv2", "numpy.random",
                 "tqdm", "yaml", "json", "zlib_ng"):
        with __import__("contextlib").suppress(ImportError):
            importlib.import_module(name)


def run_limited(cwd: Path, *args, nobody: bool = False, fsize: int | None = None):
    """Run a command in a forked child as user nobody (65534, no groups, like
    ``setpriv --reuid=65534 --regid=65534 --clear-groups``) and/or with RLIMIT_FSIZE
    (a disk that fills up), returning (exit code, output)."""
    import os
    import resource

    if nobody and os.geteuid() != 0:
        pytest.skip("dropping to another user needs root; permissions apply as they are")
    _preload()
    from moseq2_extract.pipeline.workers import opencv_threads

    read, write = os.pipe()
    # OpenCV's thread pool is stopped across the fork (as the pipeline forks its workers):
    # a forked copy of a running pool waits forever for threads the child does not have
    with opencv_threads(1):
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            os.close(read)
            if fsize is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
            if nobody:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            os.chdir(cwd)
            result = CliRunner().invoke(cli, [str(a) for a in args])
            out = result.output
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                import traceback

                out += "".join(traceback.format_exception(result.exception))
            os.write(write, out.encode())
            code = result.exit_code
        finally:
            os._exit(code)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode()


def error_line(output: str) -> str:
    lines = [ln for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error: " in ln]
    assert len(errors) == 1 and "Traceback" not in output, output
    return errors[0][errors[0].index("Error: "):]


def world_readable(folder: Path) -> None:
    import os

    for p in [folder, *folder.rglob("*")]:
        os.chmod(p, 0o777 if p.is_dir() else 0o666)


def fingerprint(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("results_00.*"))}


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".*") if "partial" in p.name)


@pytest.fixture
def shared(session_factory):
    """``make(fmt, **spec) -> depth file`` in a folder user nobody can reach (pytest's own
    temporary folders are private to their owner)."""
    import shutil
    import tempfile

    made: list[Path] = []

    def make(fmt: str = "dat", **fields) -> Path:
        src = session_factory(fmt, **fields)
        folder = Path(tempfile.mkdtemp(prefix="moseq2-shared-"))
        made.append(folder)
        folder.chmod(0o777)
        dst = folder / "session"
        shutil.copytree(src.parent, dst)
        world_readable(dst)
        return dst / src.name

    yield make
    for folder in made:
        for p in [folder, *folder.rglob("*")]:
            if p.is_dir():
                p.chmod(0o777)
        shutil.rmtree(folder)


def test_item4_read_only_proc(shared):
    depth = shared("dat", n_frames=60, seed=5)
    (depth.parent / "proc").mkdir(mode=0o555)
    (depth.parent / "proc").chmod(0o555)
    code, out = run_limited(depth.parent, "extract", "depth.dat", nobody=True)
    assert code == 1
    assert error_line(out) == ("Error: proc/results_00.yaml: cannot write (Permission "
                               "denied) (check the folder's permissions, or write elsewhere)")


def test_item4_read_only_session_folder(shared):
    depth = shared("dat", n_frames=60, seed=5)
    depth.parent.chmod(0o555)
    try:
        code, out = run_limited(depth.parent, "extract", "depth.dat", nobody=True)
    finally:
        depth.parent.chmod(0o755)
    assert code == 1
    assert error_line(out).startswith("Error: proc: Permission denied")
    assert not (depth.parent / "proc").exists()


@pytest.mark.parametrize("command", ["copy-slice", "convert-raw-to-avi"])
def test_item4_output_in_a_folder_that_cannot_be_made(shared, command):
    depth = shared("dat", n_frames=40, seed=5)
    locked = depth.parent / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    extra = ["-c", "0", "10"] if command == "copy-slice" else []
    code, out = run_limited(depth.parent, command, "depth.dat", "-o",
                            locked / "missing" / "clip.avi", *extra, nobody=True)
    assert code == 1
    assert error_line(out).startswith(f"Error: {locked / 'missing'}: Permission denied")


@pytest.mark.parametrize("command", ["copy-slice", "convert-raw-to-avi"])
def test_item4_output_in_a_missing_folder_is_created(session_factory, command):
    depth = session_factory("dat", n_frames=40, seed=5)
    extra = ["-c", "0", "10"] if command == "copy-slice" else []
    result = run(command, depth, "-o", depth.parent / "missing" / "clip.avi", *extra)
    assert result.exit_code == 0, result.output
    assert (depth.parent / "missing" / "clip.avi").is_file()


@pytest.mark.parametrize("limit", [300_000, 460_000])  # a picture, then the h5 file
def test_item4_disk_full_keeps_the_earlier_complete_result(session_factory, limit):
    depth = session_factory("dat", n_frames=120, seed=5)  # an h5 larger than a picture
    assert run("extract", depth).exit_code == 0
    proc = depth.parent / "proc"
    before = fingerprint(proc)
    code, out = run_limited(depth.parent, "extract", "depth.dat", fsize=limit)
    assert code == 1
    line = error_line(out)
    assert line.startswith("Error: proc/") and ("cannot write" in line or
                                                "File too large" in line)
    assert fingerprint(proc) == before and leftovers(proc) == []


def test_item4_disk_full_during_conversion(session_factory):
    depth = session_factory("dat", n_frames=40, seed=5)
    code, out = run_limited(depth.parent, "convert-raw-to-avi", "depth.dat", "-o",
                            "out/depth.avi", fsize=100_000)
    assert code == 1
    assert error_line(out).startswith("Error: out/depth.avi: cannot write (File too large)")
    assert list((depth.parent / "out").iterdir()) == []


# --- 7. outputs follow the umask ------------------------------------------------------------
@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_item7_outputs_follow_the_umask(session_factory, tmp_path, monkeypatch, umask):
    import os

    depth = session_factory("dat", n_frames=60, seed=5)
    old = os.umask(umask)
    try:
        assert run("extract", depth).exit_code == 0
        monkeypatch.chdir(tmp_path)
        assert run("aggregate-results", "-i", depth.parent).exit_code == 0
    finally:
        os.umask(old)
    files = [p for p in (depth.parent / "proc").iterdir()] + \
        [p for p in (tmp_path / "aggregate_results").iterdir()]
    assert any(p.name == "results_00.yaml" for p in files)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in files}
    assert set(modes.values()) == {oct(0o666 & ~umask)}, modes


# --- 8. Ctrl-C ------------------------------------------------------------------------------
def test_item8_ctrl_c_exits_130_with_one_line_and_keeps_only_what_resumes(tmp_path):
    import os
    import signal
    import subprocess

    from moseq2_extract.synthetic import SessionSpec, write_session

    depth = write_session(tmp_path / "s", SessionSpec(n_frames=3000, seed=1))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "moseq2_extract.cli", "extract", str(depth), "--workers", "1",
         "-p"],  # the bar into the pipe: it says when blocks are being written
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # noqa: PLW1509
    assert proc.stderr is not None
    import re

    seen = b""
    while not re.search(rb"\| *[1-9]\d*/3000 \[", seen):  # blocks are being written
        chunk = proc.stderr.read1(4096)  # type: ignore[attr-defined]
        assert chunk, seen.decode(errors="replace")
        seen += chunk
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: every process of the job
    _, rest = proc.communicate(timeout=120)
    err = (seen + rest).decode(errors="replace")
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Aborted!" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("Interrupted")]
    assert len(lines) == 1 and "run the same command again" in lines[0]
    proc_dir = depth.parent / "proc"
    assert not (proc_dir / "results_00.h5").exists()
    # an unfinished extraction keeps its progress only with a snapshot to resume from
    # (item 9, tests/integration/test_resume.py); never a partial movie
    kept = sorted(p.name for p in proc_dir.iterdir() if p.name.startswith(".results"))
    assert kept in ([], [".results_00.h5.partial", ".results_00.mp4.segments",
                         ".results_00.resume"]), kept
