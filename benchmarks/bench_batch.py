"""Throughput of ``batch-extract``: each batch plan against one session at a time.

Writes synthetic Kinect sessions once, then for each mode runs the real command line on a
fresh copy of them and reports wall time and frames per second::

    python benchmarks/bench_batch.py --sessions 8 --frames 900 --repeats 3 \
        --modes sequential default plan-2x1 dask-2x1 dask-2x2

Modes (all ``moseq2-extract batch-extract DIR ...``):

* ``sequential``  ``--local-workers 1``: in this process, one session at a time, each
  extraction using every core (``workers`` = cores);
* ``default``     no option: the plan ``batch-extract`` chooses (printed with the run);
* ``plan-SxW``    the session-process runner forced to S sessions at a time with W
  workers each (e.g. ``plan-2x2``, ``plan-2x1``, ``plan-3x1``), whatever the machine;
* ``dask-2x1``    ``--local-workers 2 --workers 1``: a local Dask cluster of two workers,
  one thread each (the default plan before issue 13);
* ``dask-2x2``    ``--local-workers 2 --workers 2``.

Every run reports the QC pages too (the default ``--report``), as a user's run does.
The sessions share one recording (hard links; one file in the page cache, one on disk):
each is extracted in full, so the work is that of N different sessions.  Our modules are
byte-compiled first (as an installed package is), so no run pays for compiling them.

Not part of the test suite.  Timings on a shared machine are noisy: the load average is
printed with each run, and ``--repeats`` alternates the modes (reversed every other
round); the table gives the best and the median run of each mode.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = {
    "sequential": ["--local-workers", "1"],
    "default": [],
    "dask-2x1": ["--local-workers", "2", "--workers", "1"],
    "dask-2x2": ["--local-workers", "2", "--workers", "2"],
}
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import byte_compile  # noqa: E402

PLAN_MODE = re.compile(r"plan-(\d+)x(\d+)$")


def mode_name(text: str) -> str:
    if text in MODES or PLAN_MODE.match(text):
        return text
    raise argparse.ArgumentTypeError(f"unknown mode {text!r}: one of {', '.join(MODES)} "
                                     "or plan-SxW")


def write_sessions(root: Path, n: int, frames: int) -> None:
    """``n`` session folders sharing one recording (hard links), each with its own
    metadata; written once, reused while the request is the same."""
    from moseq2_extract.synthetic import SessionSpec, write_session

    marker = root / "sessions.json"
    request = {"n": n, "frames": frames}
    if marker.exists() and json.loads(marker.read_text()) == request:
        return
    if root.exists():
        shutil.rmtree(root)
    first = root / "session00"
    write_session(first, SessionSpec(n_frames=frames, seed=100, session_name="s0",
                                     subject_name="m0"), fmt="dat")
    for i in range(1, n):
        folder = root / f"session{i:02d}"
        folder.mkdir(parents=True)
        for item in first.iterdir():
            if item.name == "depth.dat":
                os.link(item, folder / item.name)
            elif item.name == "metadata.json":
                meta = json.loads(item.read_text())
                meta.update(SessionName=f"s{i}", SubjectName=f"m{i}")
                (folder / item.name).write_text(json.dumps(meta))
            elif item.is_file():
                shutil.copy2(item, folder / item.name)
    marker.write_text(json.dumps(request))


def forced_plan(argv: list[str]) -> None:
    """``--run-plan S W DIR [options]``: ``batch-extract DIR`` with the session-process
    plan forced to S sessions at a time x W workers (for the ``plan-SxW`` modes)."""
    import contextlib
    import importlib

    from moseq2_extract.batch import runners
    from moseq2_extract.cli.main import cli
    from moseq2_extract.pipeline.plan import available_cores

    at_once, workers, folder = int(argv[0]), int(argv[1]), argv[2]

    def plan(n_sessions, **kwargs):
        kind = "processes" if at_once > 1 else "in-process"
        return runners.BatchPlan(kind, at_once, workers, available_cores(), n_sessions,
                                 "forced")

    runners.plan_batch = plan
    with contextlib.suppress(ImportError):  # planning's module since 2026-12-06
        importlib.import_module("moseq2_extract.batch.plan").plan_batch = plan
    cli.main(["batch-extract", folder, *argv[3:]], prog_name="moseq2-extract")


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


def run_mode(mode: str, data: Path) -> tuple[float, float, str, str]:
    """Wall seconds, CPU seconds of the whole process tree (user + system), summary line,
    plan line."""
    forced = PLAN_MODE.match(mode)
    if forced:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--run-plan", forced[1],
               forced[2], str(data)]
    else:
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
    plan = [line for line in proc.stdout.splitlines() if line.startswith("Plan:")]
    return wall, cpu, summary[-1] if summary else "", plan[0] if plan else ""


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--run-plan":
        forced_plan(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--frames", type=int, default=900)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--modes", nargs="+", default=["sequential", "default"],
                        type=mode_name, help=f"{', '.join(MODES)} or plan-SxW")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="where sessions are written (kept between runs)")
    args = parser.parse_args()

    byte_compile()  # as an installed package is: no run pays for compiling our modules
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
            wall, cpu, summary, plan = run_mode(mode, data)
            rows.append((mode, rep, wall, cpu, load))
            print(f"{mode:<11} rep {rep}: {wall:7.1f} s  {total / wall:7.1f} frames/s  "
                  f"cpu {cpu:6.1f} s  (load before {load:.1f})  {summary}"
                  + (f"\n            {plan}" if plan and rep == 0 else ""), flush=True)
            shutil.rmtree(data)
    print()
    print(f"{'mode':<11} {'best s':>7} {'median s':>9} {'frames/s':>9} {'vs sequential':>14} "
          f"{'(median)':>9} {'cpu s':>7} {'load':>5}")
    best = {m: min(r[2] for r in rows if r[0] == m) for m in args.modes}
    med = {m: statistics.median(r[2] for r in rows if r[0] == m) for m in args.modes}
    for mode in args.modes:
        cpu = min(r[3] for r in rows if r[0] == mode)
        load = statistics.median(r[4] for r in rows if r[0] == mode)
        ratio = best["sequential"] / best[mode] if "sequential" in best else float("nan")
        ratio_med = med["sequential"] / med[mode] if "sequential" in med else float("nan")
        print(f"{mode:<11} {best[mode]:7.1f} {med[mode]:9.1f} {total / best[mode]:9.1f} "
              f"{ratio:13.2f}x {ratio_med:8.2f}x {cpu:7.1f} {load:5.1f}")


if __name__ == "__main__":
    main()
