"""``convert-raw-to-avi`` against ffmpeg's own command line on the same file (issue 11.12).

Makes (or reuses) a synthetic Kinect ``.dat`` session and, alternately for ``--rounds``
rounds, runs

* ours: ``moseq2-extract convert-raw-to-avi depth.dat -o ours.avi`` (encode + verification
  of every frame, as one command);
* ffmpeg's encode, the command line of the original (spec 1.8):
  ``ffmpeg -y -loglevel fatal -framerate 30 -f rawvideo -s 512x424 -pix_fmt gray16le -i
  depth.dat -an -vcodec ffv1 -threads 8 -slices 24 -slicecrc 1 -r 30 ffmpeg.avi``;
* ffmpeg's decode of that file (``ffmpeg -threads 8 -i ffmpeg.avi -f null -``), what a
  verification by reading the file back costs;
* optionally (``--with-reference``) the original's ``convert-raw-to-avi``.

and prints wall seconds, frames/s and peak memory of each (the median over rounds).
Measured on a shared machine the figures move with the load; compare within a run.

Examples::

    python benchmarks/bench_convert.py
    python benchmarks/bench_convert.py --frames 1200 --rounds 3 --with-reference
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import make_session, measure, ours_command, warm_cache  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="convert-raw-to-avi vs ffmpeg's command line.")
    ap.add_argument("--frames", type=int, default=1200, help="frames of the session (1200)")
    ap.add_argument("--rounds", type=int, default=2, help="rounds, alternating tools (2)")
    ap.add_argument("--out", type=Path, default=Path("bench_out/convert"))
    ap.add_argument("--ours-cmd", help="command line of our CLI")
    ap.add_argument("--ffmpeg", default=shutil.which("ffmpeg") or "ffmpeg")
    ap.add_argument("--with-reference", action="store_true",
                    help="also run the original's convert-raw-to-avi (needs --ref-venv)")
    ap.add_argument("--ref-venv", type=Path,
                    default=Path(os.environ.get("MOSEQ2_REF_VENV", "/opt/moseq2-ref")))
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    depth = make_session(args.out / "session", args.frames, "dat")
    warm_cache(depth)
    work = args.out / "runs"
    work.mkdir(parents=True, exist_ok=True)
    ff = [args.ffmpeg, "-y", "-loglevel", "fatal"]
    commands = {
        "ours (encode + verify)": [*ours_command(args.ours_cmd), "convert-raw-to-avi",
                                   str(depth), "-o", str(work / "ours.avi")],
        "ffmpeg encode": [*ff, "-framerate", "30", "-f", "rawvideo", "-s", "512x424",
                          "-pix_fmt", "gray16le", "-i", str(depth), "-an", "-vcodec", "ffv1",
                          "-threads", "8", "-slices", "24", "-slicecrc", "1", "-r", "30",
                          str(work / "ffmpeg.avi")],
        "ffmpeg decode": [*ff, "-threads", "8", "-i", str(work / "ffmpeg.avi"), "-f", "null",
                          "-"],
    }
    if args.with_reference:
        commands["original 1.4.0 (encode + verify)"] = [
            str(args.ref_venv / "bin" / "moseq2-extract"), "convert-raw-to-avi", str(depth),
            "-o", str(work / "reference.avi")]
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for r in range(args.rounds):
        for name, cmd in commands.items():
            for stale in work.glob("*.avi"):
                if name != "ffmpeg decode" or stale.name != "ffmpeg.avi":
                    stale.unlink()
            load = os.getloadavg()[0]
            env = None
            if name.startswith("original"):  # its own venv, never this package
                env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            seconds, tree_mb, *_, rc = measure(cmd, cwd=work, log_dir=work / f"logs_{r}",
                                               env=env)
            if rc != 0:
                print(f"{name}: exit status {rc} (see {work / f'logs_{r}'})", file=sys.stderr)
                return 1
            results[name].append((seconds, tree_mb))
            print(f"round {r + 1}, load {load:.1f}: {name}: {seconds:.1f} s, "
                  f"{args.frames / seconds:.0f} frames/s, peak {tree_mb:.0f} MB", flush=True)
    print(f"\n{args.frames} frames of 512x424 (median of {args.rounds}):")
    print(f"{'command':34s} {'s':>6s} {'frames/s':>9s} {'peak MB':>8s}")
    for name, runs in results.items():
        s = statistics.median(x[0] for x in runs)
        mb = statistics.median(x[1] for x in runs)
        print(f"{name:34s} {s:6.1f} {args.frames / s:9.0f} {mb:8.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
