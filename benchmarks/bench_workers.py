"""How one session's extraction scales with worker processes: frames/s against ``--workers``.

Generates one synthetic Kinect session, then runs ``moseq2-extract extract SESSION
--workers W`` (default options otherwise: tracking defaults, movie and report on) for each
``W``, the worker counts alternated within each round, each run in a fresh session folder::

    python benchmarks/bench_workers.py --minutes 10 --workers 1 2 4 8 16 --rounds 2

Besides wall time, frames/s and peak PSS (``_common.measure``) it samples, every 50 ms,
the CPU time of every thread of the main process (``/proc/PID/task/TID/stat``), and takes
the whole tree's CPU from ``wait4``.  The busiest
main-process thread's CPU over the run's wall time says where scaling stops: near 1.0, that
thread (the sequence step -- heading, scalars -- or the writer thread -- h5 compression,
muxing) is the serial part every worker waits for.  "tree CPU / wall" is the number of cores
the run kept busy.  Results also go to ``<out>/workers.json`` and ``<out>/workers.md``.
Not part of the test suite: meant for a machine with many cores (the device tool's 16-core
machine); on two cores only 1 and 2 are meaningful.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    FPS,
    byte_compile,
    count_frames,
    fresh_run_dir,
    make_session,
    measure,
    ours_command,
    warm_cache,
)

_TICK = os.sysconf("SC_CLK_TCK")


def _thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of each thread of ``pid``."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            out[int(tid)] = (int(fields[11]) + int(fields[12])) / _TICK
        except (OSError, IndexError, ValueError):
            pass
    return out


def run_once(cmd: list[str], run_dir: Path) -> dict:
    """Run ``cmd`` in ``run_dir``; wall time, the main process's per-thread CPU, tree CPU."""
    threads: dict[int, float] = {}
    usage = []
    wall, _, _, pss_mb, _, rc = measure(
        cmd, cwd=run_dir, log_dir=run_dir / "logs",
        on_poll=lambda pid: threads.update(_thread_cpu(pid)), on_exit=usage.append)
    frames = count_frames(run_dir / "proc" / "results_00.h5") if rc == 0 else 0
    return {"rc": rc, "frames": frames, "wall_s": wall, "fps": frames / wall if wall else 0.0,
            "tree_cpu_s": usage[0].ru_utime + usage[0].ru_stime,
            "main_cpu_s": sum(threads.values()),
            "busiest_thread_cpu_s": max(threads.values(), default=float("nan")),
            "peak_pss_mb": pss_mb}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("/tmp/bench_workers"))
    ap.add_argument("--ours-cmd", default=None)
    ap.add_argument("--extra", default="", help="more extract options, one string")
    ap.add_argument("--keep", action="store_true", help="keep the session and run folders")
    args = ap.parse_args(argv)

    n_frames = int(round(args.minutes * 60 * FPS))
    args.out.mkdir(parents=True, exist_ok=True)
    byte_compile()
    depth = make_session(args.out / "session", n_frames, "dat")
    warm_cache(depth)
    base = ours_command(args.ours_cmd)
    runs: dict[int, list[dict]] = {w: [] for w in args.workers}
    for r in range(args.rounds):
        order = args.workers if r % 2 == 0 else list(reversed(args.workers))
        for w in order:
            run_dir = args.out / f"run_w{w}"
            run_depth = fresh_run_dir(depth, run_dir)
            cmd = [*base, "extract", str(run_depth), "--workers", str(w), *args.extra.split()]
            res = run_once(cmd, run_dir)
            runs[w].append(res)
            print(f"round {r + 1} workers {w:2d}: {res['fps']:7.1f} frames/s "
                  f"({res['wall_s']:.2f} s, rc {res['rc']}, tree CPU {res['tree_cpu_s']:.1f} s, "
                  f"busiest main thread {res['busiest_thread_cpu_s']:.1f} s)", flush=True)
            if res["rc"] != 0:
                print((run_dir / "logs" / "stderr.txt").read_text()[-2000:], file=sys.stderr)
            if not args.keep:
                shutil.rmtree(run_dir / "proc", ignore_errors=True)
                run_depth.unlink(missing_ok=True)

    def med(w: int, key: str) -> float:
        return statistics.median(x[key] for x in runs[w])

    one = med(args.workers[0], "fps")
    cpu = platform.processor() or platform.machine()
    lines = [f"{n_frames} frames, {os.cpu_count()} CPUs ({cpu}), medians of {args.rounds} "
             f"alternated rounds, options: defaults {args.extra}".rstrip(),
             "",
             "| workers | frames/s | speed-up | efficiency | wall s | tree CPU / wall | "
             "busiest main thread / wall | main process CPU s | peak PSS MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for w in args.workers:
        fps, wall = med(w, "fps"), med(w, "wall_s")
        lines.append(
            f"| {w} | {fps:.0f} | {fps / one:.2f}x | {fps / one / (w / args.workers[0]):.0%} | "
            f"{wall:.2f} | {med(w, 'tree_cpu_s') / wall:.2f} | "
            f"{med(w, 'busiest_thread_cpu_s') / wall:.2f} | {med(w, 'main_cpu_s'):.1f} | "
            f"{med(w, 'peak_pss_mb'):.0f} |")
    table = "\n".join(lines)
    print("\n" + table)
    (args.out / "workers.json").write_text(json.dumps({str(k): v for k, v in runs.items()},
                                                      indent=1))
    (args.out / "workers.md").write_text(table + "\n")
    if not args.keep:
        shutil.rmtree(args.out / "session", ignore_errors=True)
    return 0 if all(x["rc"] == 0 for v in runs.values() for x in v) else 1


if __name__ == "__main__":
    raise SystemExit(main())
