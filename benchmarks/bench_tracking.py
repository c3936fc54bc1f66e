"""Tracking under tethers, patch cords, hands and dropouts, against the generator's truth.

Each hard case of the synthetic generator (``SessionSpec.case``) is written once and
extracted by this project (default options, and ``--use-tracking-model``) and by
moseq2-extract 1.4.0 (with and without ``--use-tracking-model``), each in a fresh folder;
the results are compared frame by frame with the ground truth of the mouse:

* centroid error (px, median and 95th percentile), body-axis error (degrees, p95) and the
  share of frames whose heading is wrong (more than 90 degrees off);
* for the hand case, the share of the hand's frames in which the centroid is within 3 px
  of the mouse or the frame is flagged (NaN centroid, or a quality flag where the h5 has
  ``metadata/extraction/quality``);
* frames/s of the whole run.

    python benchmarks/bench_tracking.py [--frames 1800] [--cases tether,hand]
        [--skip-reference] [--out bench_tracking]

This prints a Markdown table (also written to ``<out>/results.md``); it is not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from _common import ours_command, run_tool, stderr_tail

from moseq2_extract.synthetic import GroundTruth, SessionSpec
from moseq2_extract.synthetic.cases import CASES
from moseq2_extract.synthetic.demo import tracking_errors
from moseq2_extract.synthetic.files import write_session


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1800, help="frames per session")
    ap.add_argument("--cases", default=",".join(CASES), help="comma-separated cases")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("bench_tracking"))
    ap.add_argument("--ref-venv", type=Path, default=Path("/opt/moseq2-ref"))
    ap.add_argument("--skip-reference", action="store_true")
    ap.add_argument("--skip-tracking", action="store_true",
                    help="do not run the --use-tracking-model variants")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tools: list[tuple[str, list[str], dict | None, tuple[str, ...]]] = [
        ("ours", ours_command(None), None, ())]
    if not args.skip_tracking:
        tools.append(("ours +tracking", ours_command(None), None,
                      ("--use-tracking-model", "True")))
    if not args.skip_reference:
        ref_bin = args.ref_venv / "bin"
        if not (ref_bin / "moseq2-extract").exists():
            print(f"error: {ref_bin}/moseq2-extract not found (benchmarks/setup_reference.sh)",
                  file=sys.stderr)
            return 2
        env = dict(os.environ, PATH=f"{ref_bin}{os.pathsep}{os.environ.get('PATH', '')}")
        tools.append(("1.4.0", [str(ref_bin / "moseq2-extract")], env, ()))
        if not args.skip_tracking:
            tools.append(("1.4.0 +tracking", [str(ref_bin / "moseq2-extract")], env,
                          ("--use-tracking-model", "True")))
    rows = []
    for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
        folder = out / f"session_{case}"
        if not (folder / "ground_truth.npz").exists():  # written last
            print(f"generating the {case} session ({args.frames} frames) ...", file=sys.stderr)
            write_session(folder, SessionSpec(n_frames=args.frames, seed=args.seed, case=case))
        truth = GroundTruth.load(folder / "ground_truth.npz")
        for name, cmd, env, extra in tools:
            run_dir = out / "runs" / f"{case}_{name.replace(' ', '_').replace('+', '')}"
            print(f"{case}: {name} ...", file=sys.stderr)
            res = run_tool(name, cmd, folder / "depth.dat", run_dir, "dat", env=env,
                           extra_args=extra)
            row: dict = {"case": case, "tool": name, "fps": res.fps if res.ok else float("nan")}
            if res.ok:
                row.update(asdict(tracking_errors(run_dir / "proc" / "results_00.h5", truth)))
            else:
                print(f"  FAILED (rc {res.returncode}):\n{stderr_tail(res)}", file=sys.stderr)
            rows.append(row)
            print("  " + json.dumps(row), file=sys.stderr)
    table = render(rows)
    print(table)
    (out / "results.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps(rows, indent=1))
    return 0


def render(rows: list[dict]) -> str:
    cols = [("case", "case", "{}"), ("tool", "tool", "{}"),
            ("centroid_p50", "centroid p50 px", "{:.2f}"),
            ("centroid_p95", "centroid p95 px", "{:.2f}"), ("axis_p95", "axis p95 deg", "{:.1f}"),
            ("heading_wrong_pct", "heading wrong %", "{:.2f}"),
            ("hand_ok_pct", "hand frames ok %", "{:.1f}"), ("missing", "no mouse", "{}"),
            ("fps", "frames/s", "{:.0f}")]
    lines = ["| " + " | ".join(c[1] for c in cols) + " |",
             "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(
            fmt.format(r[key]) if key in r and r[key] == r[key] else "-"
            for key, _, fmt in cols) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
