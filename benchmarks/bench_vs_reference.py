"""Throughput and memory: our ``moseq2-extract extract`` against the reference 1.4.0.

Generates a synthetic Kinect session (``moseq2_extract.synthetic``), then runs both CLIs with
default options, alternating, each as a subprocess in a fresh session folder, and prints a
markdown table. Install the reference first with ``benchmarks/setup_reference.sh``.

Examples::

    python benchmarks/bench_vs_reference.py --minutes 1 --repeats 3
    python benchmarks/bench_vs_reference.py --formats dat,avi --skip-reference
    python benchmarks/bench_vs_reference.py --session path/to/session --skip-ours
    python benchmarks/bench_vs_reference.py --baseline-src /tmp/base/src --skip-reference

``--baseline-src`` adds a third tool, ``baseline``: our CLI run from another checkout's
``src`` (e.g. ``git worktree add /tmp/base main``), alternated with the others, so that a
change is measured against the code before it in one run.

Memory is sampled every 50 ms over the child's whole process tree (the reference's ffmpeg
pipes and our worker processes included). "Peak PSS" (proportional set size) counts a page
shared by several processes -- forked workers share most of their memory with the parent --
once in total; it is the figure compared. "Peak RSS" sums each process's resident memory
(counting shared pages once per process; the larger of that and ``wait4``'s largest single
process); "peak anon" counts only anonymous memory. Results also go to
``<out>/results.json`` and ``<out>/results.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    FPS,
    RunResult,
    byte_compile,
    drop_outputs,
    find_depth_file,
    make_session,
    ours_command,
    run_tool,
    stderr_tail,
    warm_cache,
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Benchmark our moseq2-extract against the reference 1.4.0.")
    ap.add_argument("--minutes", type=float, default=1.0,
                    help="session length in minutes at 30 frames/s (default 1)")
    ap.add_argument("--repeats", type=int, default=1, help="runs per tool and format")
    ap.add_argument("--ref-venv", type=Path,
                    default=Path(os.environ.get("MOSEQ2_REF_VENV", "/opt/moseq2-ref")),
                    help="virtual environment holding moseq2-extract 1.4.0")
    ap.add_argument("--out", type=Path, default=Path("bench_out"), help="work/output folder")
    ap.add_argument("--formats", default="dat",
                    help="comma-separated depth formats to generate: dat, avi (default dat)")
    ap.add_argument("--session", type=Path,
                    help="use this existing session (folder or depth file) instead of "
                         "generating one; --formats and --minutes are then ignored")
    ap.add_argument("--skip-reference", action="store_true", help="run only our CLI")
    ap.add_argument("--skip-ours", action="store_true", help="run only the reference")
    ap.add_argument("--ours-cmd", help="command line of our CLI (default: this interpreter's "
                                       "moseq2-extract, else python -m moseq2_extract.cli)")
    ap.add_argument("--baseline-src", type=Path,
                    help="also run our CLI from this src/ folder (another checkout) as "
                         "'baseline', and compare ours with it")
    ap.add_argument("--keep", action="store_true", help="keep every run's outputs")
    ap.add_argument("--pause", type=float, default=20.0,
                    help="seconds of rest before each run, so that one tool's exit (the "
                         "reference frees 4-9 GB) does not slow the next (default 20: "
                         "after 5 s our 10-minute run right after the reference's took "
                         "11.8 s, after 20 s 9.7 s, as it takes when it follows our own)")
    args = ap.parse_args(argv)
    if args.skip_reference and args.skip_ours:
        ap.error("nothing to run: both --skip-reference and --skip-ours given")
    if args.repeats < 1 or args.minutes <= 0:
        ap.error("--repeats must be >= 1 and --minutes > 0")
    return args


def median(results: list[RunResult], attr: str) -> float:
    vals = [getattr(r, attr) for r in results if r.ok]
    return statistics.median(vals) if vals else float("nan")


def render_table(results: list[RunResult]) -> str:
    """Markdown table of every run, then per-format medians and ratios."""
    lines = [
        "| tool | format | frames | seconds | frames/s | peak PSS MB | peak RSS MB | "
        "peak anon MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        status = "" if r.ok else f" (FAILED rc={r.returncode})"
        lines.append(f"| {r.tool}{status} | {r.fmt} | {r.frames} | {r.seconds:.2f} | "
                     f"{r.fps:.1f} | {r.peak_memory_mb:.0f} | {r.peak_rss_mb:.0f} | "
                     f"{r.peak_tree_anon_mb:.0f} |")
    fmts = sorted({r.fmt for r in results})
    for other in ("reference", "baseline"):
        ratio_lines = []
        for fmt in fmts:
            ref = [r for r in results if r.fmt == fmt and r.tool == other]
            ours = [r for r in results if r.fmt == fmt and r.tool == "ours"]
            if not (ref and ours):
                continue
            fps_ratio = median(ours, "fps") / median(ref, "fps")
            mem_ratio = median(ref, "peak_memory_mb") / median(ours, "peak_memory_mb")
            ratio_lines.append(
                f"| {fmt} | {median(ref, 'fps'):.1f} | {median(ours, 'fps'):.1f} | "
                f"{fps_ratio:.2f}x | {median(ref, 'peak_memory_mb'):.0f} | "
                f"{median(ours, 'peak_memory_mb'):.0f} | {mem_ratio:.2f}x |")
        if ratio_lines:
            lines += [
                "",
                f"Ours against {other}, medians; memory is the peak PSS of the whole process "
                "tree (pages shared by forked workers counted once).",
                "",
                f"| format | {other} frames/s | ours frames/s | ours/{other} fps | "
                f"{other} peak MB | ours peak MB | {other}/ours memory |",
                "|---|---:|---:|---:|---:|---:|---:|",
                *ratio_lines,
            ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)

    tools: list[tuple[str, list[str], dict | None]] = []
    if not args.skip_reference:
        ref_bin = args.ref_venv / "bin"
        ref_exe = ref_bin / "moseq2-extract"
        if not ref_exe.exists():
            print(f"error: {ref_exe} not found; run benchmarks/setup_reference.sh "
                  "or pass --skip-reference", file=sys.stderr)
            return 2
        env = dict(os.environ, PATH=f"{ref_bin}{os.pathsep}{os.environ.get('PATH', '')}")
        tools.append(("reference", [str(ref_exe)], env))
    if not args.skip_ours:
        tools.append(("ours", ours_command(args.ours_cmd), None))
    if args.baseline_src:
        env = dict(os.environ, PYTHONPATH=str(args.baseline_src.resolve()))
        tools.append(("baseline", [sys.executable, "-m", "moseq2_extract.cli"], env))
    for name, _, env in tools:
        if name != "reference":  # ours compiled as installed (the reference's venv is)
            byte_compile(env)

    if args.session:
        depth = find_depth_file(args.session.resolve())
        sessions = {depth.suffix.lstrip("."): depth}
    else:
        n_frames = int(round(args.minutes * 60 * FPS))
        sessions = {}
        for fmt in [f.strip() for f in args.formats.split(",") if f.strip()]:
            print(f"generating {n_frames}-frame {fmt} session ...", file=sys.stderr)
            sessions[fmt] = make_session(out / f"session_{n_frames}_{fmt}", n_frames, fmt)

    results: list[RunResult] = []
    for fmt, depth in sessions.items():
        for rep in range(args.repeats):
            order = tools if rep % 2 == 0 else tools[::-1]
            for name, cmd, env in order:
                run_dir = out / "runs" / f"{name}_{fmt}_{rep}"
                print(f"run {rep + 1}/{args.repeats}: {name} on {depth.name} ...",
                      file=sys.stderr)
                # before every run: the reference's 9 GB of memory pushes the session's
                # pages out of the page cache, and the run after it would read them from
                # the disk (a quarter of our 10-minute time); each tool starts warm
                warm_cache(depth)
                time.sleep(args.pause)
                res = run_tool(name, cmd, depth, run_dir, fmt, env=env)
                if not res.ok:
                    print(f"  {name} FAILED (rc {res.returncode}):\n{stderr_tail(res)}",
                          file=sys.stderr)
                else:
                    print(f"  {res.frames} frames in {res.seconds:.1f} s "
                          f"({res.fps:.1f} frames/s), peak PSS {res.peak_memory_mb:.0f} MB, "
                          f"RSS {res.peak_rss_mb:.0f} MB",
                          file=sys.stderr)
                if not args.keep:
                    drop_outputs(res)
                results.append(res)

    table = render_table(results)
    header = (f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}; sessions: "
              + ", ".join(f"{fmt}={d.stat().st_size / 2**20:.0f} MiB"
                          for fmt, d in sessions.items()))
    print(header)
    print()
    print(table)
    (out / "results.md").write_text(header + "\n\n" + table + "\n")
    (out / "results.json").write_text(json.dumps(
        {"machine": header, "runs": [r.as_dict() for r in results]}, indent=1))
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
