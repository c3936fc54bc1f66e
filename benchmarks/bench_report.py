"""What the QC report costs next to the extraction it reports on.

For each session length (default 1 and 10 minutes at 30 fps) a synthetic session is
written, then ``moseq2-extract extract`` runs on it in a fresh folder, alternately with
the report (the default) and with ``--no-report``, ``--repeat`` times each.  The headline
figure is the difference of the two commands' median wall times (process start to exit):
what the report costs a user (its imports, reading the results, drawing and writing the
page), as a share of the ``--no-report``
command's median wall time.  The extraction's own time (the ``Extracted ... in X s`` line)
is printed for both; "paired" is the median of the differences of runs done one after the
other.  The package is byte-compiled first, as an installed one is.

    PYTHONPATH=src python benchmarks/bench_report.py [--minutes 1 10] [--repeat 5]

On a machine shared with other work the runs are alternated and medians taken; say so
with the figures.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import byte_compile, fresh_run_dir, make_session, warm_cache  # noqa: E402

EXTRACTED = re.compile(r"Extracted (\d+) frames in ([0-9.]+) s")
REPORTED = re.compile(r"Report: .* \(([0-9.]+) s\)")


def run_once(depth: Path, run_dir: Path, report: bool) -> tuple[float, float, float | None]:
    """One ``extract`` in a fresh folder: (command wall s, extraction s, report line s)."""
    run_depth = fresh_run_dir(depth, run_dir)
    cmd = [sys.executable, "-m", "moseq2_extract.cli", "extract", str(run_depth),
           "--report" if report else "--no-report"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=run_dir,
                         env=dict(os.environ))
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    text = out.stdout + out.stderr
    found = EXTRACTED.search(text)
    extraction = float(found.group(2)) if found else float("nan")
    page = REPORTED.search(text)
    if report and not (run_dir / "proc" / "report.html").is_file():
        raise SystemExit(f"{run_dir}: no report.html written")
    return wall, extraction, float(page.group(1)) if page else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5, help="runs of each kind")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench_report_"))
    byte_compile()  # as an installed package is: the report's modules are not compiled per run
    try:
        print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPU(s)")
        print(f"{'min':>4} {'frames':>6} {'no-report s':>11} {'report s':>9} {'cost s':>7} "
              f"{'share':>6} {'paired':>7} {'extract s (no/with)':>20} {'page line s':>11}")
        for minutes in args.minutes:
            n = int(round(minutes * 60 * 30))
            depth = make_session(root / f"session_{minutes:g}min", n, "dat", seed=1)
            warm_cache(depth)
            walls: dict[bool, list[float]] = {True: [], False: []}
            extraction: dict[bool, list[float]] = {True: [], False: []}
            pages: list[float] = []
            pairs: list[float] = []
            for i in range(args.repeat):
                # alternate which kind goes first, so that a trend in the machine's load
                # falls on both
                order = (True, False) if i % 2 == 0 else (False, True)
                got = {}
                for report in order:
                    wall, ext, page = run_once(depth, root / "run", report)
                    walls[report].append(wall)
                    extraction[report].append(ext)
                    got[report] = wall
                    if page is not None:
                        pages.append(page)
                pairs.append(got[True] - got[False])
            with_r, without = statistics.median(walls[True]), statistics.median(walls[False])
            cost = with_r - without
            print(f"{minutes:>4g} {n:>6d} {without:>11.2f} {with_r:>9.2f} {cost:>7.2f} "
                  f"{100 * cost / without:>5.1f}% {statistics.median(pairs):>7.2f} "
                  f"{statistics.median(extraction[False]):>9.2f}/"
                  f"{statistics.median(extraction[True]):<10.2f} "
                  f"{statistics.median(pages) if pages else float('nan'):>11.2f}")
            print(f"     walls with report: {' '.join(f'{w:.2f}' for w in walls[True])}; "
                  f"without: {' '.join(f'{w:.2f}' for w in walls[False])}")
    finally:  # the sessions are gigabytes: never left behind in /tmp
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
