"""Throughput of ``batch-extract``: a local Dask cluster against one session at a time.

Writes N synthetic Kinect sessions once, then for each mode runs the real command line on a
fresh copy of them and reports wall time and frames per second::

    python benchmarks/bench_batch.py --sessions 8 --frames 900

Modes (all ``moseq2-extract batch-extract DIR ...``):

* ``sequential``  ``--local-workers 1``: in this process, one session at a time, each
  extraction using every core (``workers`` = cores);
* ``dask``        default: a local Dask cluster sized to the machine (one worker process
  per core, one thread per extraction);
* ``dask-2x1``    ``--local-workers 2 --workers 1`` (explicit, for other machines);
* ``dask-2x2``    ``--local-workers 2 --workers 2`` (two sessions at once, each with two
  threads: overlaps one session's single-threaded stages with the other's work).

Not part of the test suite.  Timings on a shared machine are noisy: the load average is
printed with each run, and ``--repeats`` alternates the modes.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {
    "sequential": ["--local-workers", "1"],
    "dask": [],
    "dask-2x1": ["--local-workers", "2", "--workers", "1"],
    "dask-2x2": ["--local-workers", "2", "--workers", "2"],
}


def write_sessions(root: Path, n: int, frames: int) -> None:
    from moseq2_extract.synthetic import SessionSpec, write_session

    for i in range(n):
        folder = root / f"session{i:02d}"
        if (folder / "depth.dat").exists():
            continue
        write_session(folder, SessionSpec(n_frames=frames, seed=100 + i,
                                          session_name=f"s{i}", subject_name=f"m{i}"),
                      fmt="dat")


def fresh_copy(src: Path, dst: Path) -> None:
    """A run folder whose depth files are symbolic links to the written sessions (the
    small files are copied; results go to ``dst/<session>/proc``), so every mode reads the
    same files, equally cached, and no gigabytes are copied between runs."""
    if dst.exists():
        shutil.rmtree(dst)
    for session in sorted(p for p in src.iterdir() if p.is_dir()):
        target = dst / session.name
        target.mkdir(parents=True)
        for item in session.iterdir():
            if item.name == "depth.dat":
                (target / item.name).symlink_to(item.resolve())
            elif item.is_file():
                shutil.copy2(item, target / item.name)


def run_mode(mode: str, data: Path) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds of the whole process tree (user + system), summary."""
    cmd = [sys.executable, "-m", "moseq2_extract.cli", "batch-extract", str(data),
           *MODES[mode]]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{proc.stdout}\n{proc.stderr}")
    summary = [line for line in proc.stdout.splitlines() if "frames extracted" in line]
    return wall, cpu, summary[-1] if summary else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--frames", type=int, default=900)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--modes", nargs="+", default=["sequential", "dask"],
                        choices=sorted(MODES))
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where sessions are written (kept between runs)")
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.gettempdir()) / "moseq2_bench_batch"
    source = work / f"sessions_{args.sessions}x{args.frames}"
    t0 = time.perf_counter()
    write_sessions(source, args.sessions, args.frames)
    print(f"# {args.sessions} sessions x {args.frames} frames in {source} "
          f"(written/checked in {time.perf_counter() - t0:.0f} s); {os.cpu_count()} cores")
    total = args.sessions * args.frames
    rows = []
    for rep in range(args.repeats):
        order = args.modes if rep % 2 == 0 else list(reversed(args.modes))
        for mode in order:
            data = work / f"run_{mode}"
            fresh_copy(source, data)
            load = os.getloadavg()[0]
            wall, cpu, summary = run_mode(mode, data)
            rows.append((mode, rep, wall, cpu, load, summary))
            print(f"{mode:<11} rep {rep}: {wall:7.1f} s  {total / wall:7.1f} frames/s  "
                  f"cpu {cpu:6.1f} s  (load before {load:.1f})  {summary}", flush=True)
    print()
    print(f"{'mode':<11} {'best s':>8} {'frames/s':>9} {'vs sequential':>14} "
          f"{'cpu s (min)':>12}")
    best = {m: min(r[2] for r in rows if r[0] == m) for m in args.modes}
    cpu = {m: min(r[3] for r in rows if r[0] == m) for m in args.modes}
    for mode in args.modes:
        ratio = (best["sequential"] / best[mode]) if "sequential" in best else float("nan")
        print(f"{mode:<11} {best[mode]:8.1f} {total / best[mode]:9.1f} {ratio:13.2f}x "
              f"{cpu[mode]:12.1f}")


if __name__ == "__main__":
    main()
