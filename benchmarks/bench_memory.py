"""Peak memory of our ``moseq2-extract extract`` against recording length.

Runs our CLI (default options, fresh output folder, as a subprocess) on synthetic Kinect
sessions of 1 and 10 minutes and prints frames/s and peak memory of the process tree for
each: memory must stay flat as the recording grows (it is bounded by the block size and
the heading look-ahead). "Peak PSS" counts pages shared by the parent and its forked
workers once; "peak RSS" counts them once per process.

Examples::

    python benchmarks/bench_memory.py
    python benchmarks/bench_memory.py --minutes 1,5,10 --with-reference

A 10-minute ``.dat`` session is about 7.5 GiB on disk; it is deleted afterwards unless
``--keep-sessions`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    FPS,
    RunResult,
    drop_outputs,
    make_session,
    ours_command,
    run_tool,
    stderr_tail,
    warm_cache,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Peak memory of our extract vs session length.")
    ap.add_argument("--minutes", default="1,10",
                    help="comma-separated session lengths in minutes (default 1,10)")
    ap.add_argument("--format", default="dat", help="depth format to generate (default dat)")
    ap.add_argument("--out", type=Path, default=Path("bench_out/memory"))
    ap.add_argument("--ours-cmd", help="command line of our CLI (default: this interpreter's "
                                       "moseq2-extract, else python -m moseq2_extract.cli)")
    ap.add_argument("--with-reference", action="store_true",
                    help="also run the reference 1.4.0 (slow; needs --ref-venv)")
    ap.add_argument("--ref-venv", type=Path,
                    default=Path(os.environ.get("MOSEQ2_REF_VENV", "/opt/moseq2-ref")))
    ap.add_argument("--keep-sessions", action="store_true")
    args = ap.parse_args(argv)
    try:
        args.minutes = [float(m) for m in args.minutes.split(",") if m.strip()]
    except ValueError:
        ap.error(f"--minutes: expected comma-separated numbers, got {args.minutes!r}")
    if not args.minutes or min(args.minutes) <= 0:
        ap.error("--minutes: give at least one positive length")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    tools: list[tuple[str, list[str], dict | None]] = [
        ("ours", ours_command(args.ours_cmd), None)]
    if args.with_reference:
        ref_bin = args.ref_venv / "bin"
        env = dict(os.environ, PATH=f"{ref_bin}{os.pathsep}{os.environ.get('PATH', '')}")
        tools.append(("reference", [str(ref_bin / "moseq2-extract")], env))

    rows: list[tuple[float, RunResult]] = []
    for minutes in args.minutes:
        n_frames = int(round(minutes * 60 * FPS))
        session = out / f"session_{n_frames}_{args.format}"
        print(f"generating {n_frames}-frame session ...", file=sys.stderr)
        depth = make_session(session, n_frames, args.format)
        warm_cache(depth)
        for name, cmd, env in tools:
            print(f"running {name} on {minutes:g} min ...", file=sys.stderr)
            res = run_tool(name, cmd, depth, out / "runs" / f"{name}_{n_frames}", args.format,
                           env=env)
            if not res.ok:
                print(f"  FAILED (rc {res.returncode}):\n{stderr_tail(res)}", file=sys.stderr)
            drop_outputs(res)
            rows.append((minutes, res))
        if not args.keep_sessions:
            shutil.rmtree(session, ignore_errors=True)

    lines = ["| tool | minutes | frames | seconds | frames/s | peak PSS MB | peak RSS MB | "
             "peak anon MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for minutes, r in rows:
        status = "" if r.ok else f" (FAILED rc={r.returncode})"
        lines.append(f"| {r.tool}{status} | {minutes:g} | {r.frames} | {r.seconds:.1f} | "
                     f"{r.fps:.1f} | {r.peak_memory_mb:.0f} | {r.peak_rss_mb:.0f} | "
                     f"{r.peak_tree_anon_mb:.0f} |")
    for name, _, _ in tools:
        mine = [(m, r) for m, r in rows if r.tool == name and r.ok]
        if len(mine) >= 2:
            (m0, r0), (m1, r1) = min(mine, key=lambda t: t[0]), max(mine, key=lambda t: t[0])
            lines.append("")
            lines.append(f"{name}: at {m1:g} min / at {m0:g} min (length ratio "
                         f"{m1 / m0:g}x): peak PSS {r1.peak_memory_mb / r0.peak_memory_mb:.2f}x, "
                         f"peak RSS {r1.peak_rss_mb / r0.peak_rss_mb:.2f}x")
    table = "\n".join(lines)
    print(table)
    (out / "results.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps(
        [{"minutes": m, **r.as_dict()} for m, r in rows], indent=1))
    return 0 if all(r.ok for _, r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
