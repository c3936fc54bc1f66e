"""Shared helpers of the benchmark scripts: sessions, fresh run folders, process measurement.

Not part of the package and not imported by the tests. Linux only (reads ``/proc``).
"""

from __future__ import annotations

import compileall
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

FPS = 30.0
DEPTH_SUFFIXES = (".dat", ".avi", ".mkv")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class RunResult:
    """One measured command.

    Attributes
    ----------
    tool, fmt : str
        Which program ran (``reference`` / ``ours``) and on which depth format.
    frames : int
        Frames in the written ``proc/results_00.h5`` (0 when it is missing).
    seconds : float
        Wall-clock time of the whole command, process start to exit.
    peak_tree_rss_mb : float
        Highest sum of resident memory over the child and all its descendants
        (ffmpeg included), sampled every ``poll`` seconds, in MiB. Includes mapped file
        pages (e.g. a memory-mapped input).
    peak_tree_anon_mb : float
        Same, counting anonymous (non file-backed) pages only, in MiB.
    peak_tree_pss_mb : float
        Highest sum of proportional set size (``Pss`` of ``/proc/PID/smaps_rollup``) over
        the tree, in MiB: pages shared by several processes (forked workers, libraries)
        count once in total instead of once per process; NaN where the kernel has no
        ``smaps_rollup``.
    max_single_rss_mb : float
        ``ru_maxrss`` of the child from ``wait4``: the largest single process in its tree.
    returncode : int
    run_dir : str
    """

    tool: str
    fmt: str
    frames: int
    seconds: float
    peak_tree_rss_mb: float
    peak_tree_anon_mb: float
    peak_tree_pss_mb: float
    max_single_rss_mb: float
    returncode: int
    run_dir: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.frames > 0

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else float("nan")

    @property
    def peak_rss_mb(self) -> float:
        """Peak memory of the run: the larger of the tree sample and the single-process max."""
        return max(self.peak_tree_rss_mb, self.max_single_rss_mb)

    @property
    def peak_memory_mb(self) -> float:
        """Peak memory really held by the run: PSS of the tree where known, else RSS."""
        if not math.isnan(self.peak_tree_pss_mb):
            return self.peak_tree_pss_mb
        return self.peak_rss_mb

    def as_dict(self) -> dict:
        return {**asdict(self), "fps": self.fps, "peak_rss_mb": self.peak_rss_mb,
                "peak_memory_mb": self.peak_memory_mb}


def _tree(root: int) -> list[int]:
    """``root`` and its descendants, from ``/proc/PID/task/TID/children`` (cheap: no scan
    of every process on the machine, which would take CPU from the measured run)."""
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{pid}/task/{tid}/children", "rb") as f:
                    stack.extend(int(c) for c in f.read().split())
            except OSError:
                pass
    return out


def tree_rss_bytes(root: int) -> tuple[int, int]:
    """Resident memory of ``root`` and all its descendants, in bytes.

    Returns ``(total, anonymous)``: total RSS counts file pages mapped by the processes
    (a memory-mapped ``depth.dat`` shows up there although the kernel can drop it at any
    time); anonymous RSS (total minus file-backed and shared pages) is the memory the
    processes really hold.
    """
    total = anon = 0
    for pid in _tree(root):
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                fields = f.read().split()
            total += int(fields[1]) * _PAGE
            anon += (int(fields[1]) - int(fields[2])) * _PAGE
        except (OSError, IndexError, ValueError):
            pass
    return total, anon


def tree_pss_bytes(root: int) -> float:
    """Sum of ``Pss`` over ``root`` and its descendants, in bytes (NaN if unavailable)."""
    total = 0
    seen = False
    for pid in _tree(root):
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as f:
                for line in f:
                    if line.startswith(b"Pss:"):
                        total += int(line.split()[1]) * 1024
                        seen = True
                        break
        except (OSError, ValueError):
            pass
    return float(total) if seen else float("nan")


def measure(
    cmd: list[str], *, cwd: Path, log_dir: Path, env: dict | None = None, poll: float = 0.05,
    on_poll: Callable[[int], None] | None = None,
    on_exit: Callable[[os.struct_rusage], None] | None = None,
) -> tuple[float, float, float, float, float, int]:
    """Run ``cmd`` and measure it.

    Returns ``(seconds, peak_tree_rss_mb, peak_tree_anon_mb, peak_tree_pss_mb,
    max_single_rss_mb, returncode)``. stdout and stderr go to ``log_dir/stdout.txt`` and
    ``log_dir/stderr.txt``.  ``on_poll(pid)`` is called at every sample while the child
    runs (a caller's own readings of ``/proc/PID``); ``on_exit(rusage)`` once with the
    child's ``wait4`` usage, which includes the descendants it reaped.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "stdout.txt", "wb") as out, open(log_dir / "stderr.txt", "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
        peak = peak_anon = 0
        peak_pss = float("nan")
        last_pss = -1.0
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid == proc.pid:
                break
            total, anon = tree_rss_bytes(proc.pid)
            # PSS costs the kernel a walk over every page (tens of ms of CPU for a large
            # tree, taken from the measured run): sampled when resident memory reaches a
            # new high, and once a second
            now = time.perf_counter()
            if total > peak or now - last_pss >= 1.0:
                pss = tree_pss_bytes(proc.pid)
                last_pss = now
                peak_pss = float(np.fmax(peak_pss, pss))  # NaN only while nothing is known
            peak, peak_anon = max(peak, total), max(peak_anon, anon)
            if on_poll is not None:
                on_poll(proc.pid)
            time.sleep(poll)
        seconds = time.perf_counter() - t0
    if on_exit is not None:
        on_exit(ru)
    proc.returncode = os.waitstatus_to_exitcode(status)  # already reaped by wait4
    return (seconds, peak / 2**20, peak_anon / 2**20, peak_pss / 2**20, ru.ru_maxrss / 1024,
            proc.returncode)


def find_depth_file(session: Path) -> Path:
    """The depth recording of a session folder (``depth.dat`` / ``.avi`` / ``.mkv``, or a
    ``.tar.gz`` session archive)."""
    if session.is_file():
        return session
    found = sorted(p for p in session.iterdir()
                   if p.is_file() and p.suffix in DEPTH_SUFFIXES and p.stem == "depth")
    if not found:
        found = sorted(p for p in session.iterdir() if p.name.endswith((".tar.gz", ".tgz")))
    if not found:
        found = sorted(p for p in session.iterdir() if p.suffix in DEPTH_SUFFIXES
                       and not p.name.startswith(("nidaq", "ir")))
    if not found:
        raise FileNotFoundError(f"{session}: no depth recording found")
    return found[0]


def make_session(root: Path, n_frames: int, fmt: str, *, seed: int = 0) -> Path:
    """Generate (or reuse) a synthetic Kinect session; return its depth file.

    A session is reused when ``root/bench_session.json`` records the same request.
    """
    request = {"n_frames": n_frames, "fmt": fmt, "seed": seed, "camera": "kinect", "fps": FPS}
    marker = root / "bench_session.json"
    if marker.exists() and json.loads(marker.read_text()) == request:
        return find_depth_file(root)
    from moseq2_extract.synthetic import SessionSpec, write_session

    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    spec = SessionSpec(n_frames=n_frames, fps=FPS, camera="kinect", seed=seed)
    written = Path(write_session(root, spec, fmt=fmt))
    depth = find_depth_file(written if written.exists() else root)
    marker.write_text(json.dumps(request))
    return depth


def fresh_run_dir(depth: Path, run_dir: Path) -> Path:
    """A new session folder with the recording hard-linked (no copy) and the rest copied.

    Each run gets its own ``proc/`` so that no tool reuses a cached background.
    """
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    for p in sorted(depth.parent.iterdir()):
        if not p.is_file() or p.name == "bench_session.json":
            continue
        dst = run_dir / p.name
        if p == depth:
            try:
                os.link(p, dst)
            except OSError:
                shutil.copy2(p, dst)
        else:
            shutil.copy2(p, dst)
    return run_dir / depth.name


def warm_cache(path: Path) -> None:
    """Read a file once so that neither tool pays for the first cold read."""
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def count_frames(h5_path: Path) -> int:
    """Frames in ``results_00.h5`` (0 if it is missing or unreadable)."""
    try:
        import h5py

        with h5py.File(h5_path, "r") as f:
            return int(f["frames"].shape[0])
    except (OSError, KeyError):
        return 0


def package_dir(env: dict | None = None) -> Path:
    """The ``moseq2_extract`` folder a Python started with ``env`` imports."""
    out = subprocess.run([sys.executable, "-c", "import moseq2_extract, os; "
                          "print(os.path.dirname(moseq2_extract.__file__))"],
                         env=env, capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def byte_compile(env: dict | None = None) -> Path:
    """Byte-compile the ``moseq2_extract`` that ``env`` imports, as installing it does.

    Where ``PYTHONDONTWRITEBYTECODE`` is set (as on the project's machines), a checkout run
    from source compiles every one of its modules again in each process: about a quarter
    of a second of CPU that an installed package never pays.  Returns the folder.
    """
    folder = package_dir(env)
    compileall.compile_dir(folder, quiet=1)
    return folder


def ours_command(override: str | None) -> list[str]:
    """Our CLI: ``--ours-cmd`` if given, else this interpreter's console script or ``-m``."""
    if override:
        return shlex.split(override)
    script = Path(sys.executable).parent / "moseq2-extract"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "moseq2_extract.cli"]


def run_tool(
    tool: str, base_cmd: list[str], depth: Path, run_dir: Path, fmt: str,
    *, env: dict | None = None, extra_args: tuple[str, ...] = (),
) -> RunResult:
    """Extract ``depth`` (default options) with one tool in a fresh folder and measure it."""
    run_depth = fresh_run_dir(depth, run_dir)
    cmd = [*base_cmd, "extract", str(run_depth), *extra_args]
    seconds, tree_mb, anon_mb, pss_mb, single_mb, rc = measure(
        cmd, cwd=run_dir, log_dir=run_dir / "logs", env=env)
    frames = count_frames(run_dir / "proc" / "results_00.h5") if rc == 0 else 0
    return RunResult(tool, fmt, frames, seconds, tree_mb, anon_mb, pss_mb, single_mb, rc,
                     str(run_dir))


def stderr_tail(result: RunResult, n: int = 15) -> str:
    path = Path(result.run_dir) / "logs" / "stderr.txt"
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def drop_outputs(result: RunResult) -> None:
    """Delete a run folder's big files (the hard link, proc/) but keep its logs."""
    run_dir = Path(result.run_dir)
    for p in run_dir.iterdir():
        if p.name == "logs":
            continue
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
