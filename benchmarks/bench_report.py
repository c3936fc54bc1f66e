"""What the QC report costs next to the extraction it reports on.

For each session length (default 1 and 10 minutes at 30 fps) a synthetic session is
written and extracted in this process; then a fresh interpreter, with the modules the CLI
has loaded after ``extract`` already imported, times ``write_session_report`` -- the
report's whole cost, matplotlib's import and font set-up included, as ``extract`` pays it.

    PYTHONPATH=src python benchmarks/bench_report.py [--minutes 1 10] [--dir /tmp/bench]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from moseq2_extract.config import make_config
from moseq2_extract.pipeline.session import extract_session
from moseq2_extract.synthetic import SessionSpec, write_session

CHILD = """
import sys, time
import moseq2_extract.pipeline.session, moseq2_extract.cli.main  # what extract has loaded
t = time.perf_counter()
from moseq2_extract.report import write_session_report
write_session_report(sys.argv[1], seconds=float(sys.argv[2]))
print(time.perf_counter() - t)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--dir", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=3, help="report timings per session")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="bench_report_"))
    print(f"{'minutes':>7} {'frames':>7} {'extract (s)':>11} {'report (s)':>10} "
          f"{'share':>6}")
    for minutes in args.minutes:
        n = int(round(minutes * 60 * 30))
        depth = write_session(root / f"m{minutes:g}", SessionSpec(n_frames=n, seed=1))
        outcome = extract_session(depth, make_config({}))
        times = []
        for _ in range(args.repeat):
            out = subprocess.run([sys.executable, "-c", CHILD, str(outcome.h5_path),
                                  str(outcome.seconds)], check=True, capture_output=True,
                                 text=True)
            times.append(float(out.stdout.strip().splitlines()[-1]))
        best = min(times)
        print(f"{minutes:>7g} {n:>7d} {outcome.seconds:>11.1f} {best:>10.2f} "
              f"{100 * best / outcome.seconds:>5.1f}%")


if __name__ == "__main__":
    main()
