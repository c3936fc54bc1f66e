"""Resume after a kill: time of the rerun against a full run, and identical results.

Writes a synthetic session (``--minutes`` of recording at 30 frames/s, an ``.avi``),
extracts it once uninterrupted, then again killed with SIGKILL (the whole process group,
as a lost node) once its progress bar passes ``--kill-at`` of the frames, and reruns the
same command, which continues from the last snapshot.  Prints the wall times, their ratio,
the frames kept, and whether every h5 dataset and every decoded movie frame are equal
(and the movie's bytes).

    PYTHONPATH=src python benchmarks/bench_resume.py --minutes 10 --kill-at 0.7 --out /tmp/br
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import h5py
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _cmd(depth: Path, args: list[str]) -> list[str]:
    return [sys.executable, "-m", "moseq2_extract.cli", "extract", str(depth), "--no-report",
            *args]


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT / "src"), PYTHONUNBUFFERED="1")


def run(depth: Path, args: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(_cmd(depth, args), capture_output=True, text=True, env=_env())
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return time.perf_counter() - t0, done.stderr


def run_killed(depth: Path, args: list[str], n: int, at: float) -> float:
    t0 = time.perf_counter()
    proc = subprocess.Popen(_cmd(depth, args), stderr=subprocess.PIPE, env=_env(),
                            start_new_session=True)
    assert proc.stderr is not None
    seen = b""
    while True:
        chunk = proc.stderr.read1(4096)  # type: ignore[attr-defined]
        if not chunk:
            raise SystemExit("the run ended before the kill: " + seen[-2000:].decode())
        seen += chunk
        done = [int(m) for m in re.findall(rb"\| *(\d+)/%d \[" % n, seen[-4096:])]
        if done and done[-1] >= at * n:
            break
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return time.perf_counter() - t0


def h5_items(path: Path) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda k, v: out.__setitem__(k, v[()])
                     if isinstance(v, h5py.Dataset) else None)
    out.pop("metadata/uuid")
    return out


def movie_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--kill-at", type=float, default=0.7)
    parser.add_argument("--out", type=Path, default=Path("bench_resume"))
    parser.add_argument("args", nargs="*", help="extra extract options (after --)")
    opts = parser.parse_args()
    from moseq2_extract.synthetic import SessionSpec, write_session

    n = int(round(opts.minutes * 60 * 30))
    template = opts.out / "template"
    depth = template / "depth.avi"
    if not depth.exists():
        write_session(template, SessionSpec(n_frames=n, seed=7), fmt="avi")
    runs = {}
    for name in ("full", "resumed"):
        folder = opts.out / name
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(template, folder, copy_function=os.link)
        runs[name] = folder / "depth.avi"
    full, _ = run(runs["full"], opts.args)
    killed = run_killed(runs["resumed"], opts.args, n, opts.kill_at)
    rerun, err = run(runs["resumed"], opts.args)
    kept = re.search(r"(\d+) of (\d+) frames kept", err)
    a = h5_items(runs["full"].parent / "proc" / "results_00.h5")
    b = h5_items(runs["resumed"].parent / "proc" / "results_00.h5")
    differ = [k for k in a if k not in b or not np.array_equal(
        a[k], b[k], equal_nan=np.asarray(a[k]).dtype.kind == "f")]
    ma = movie_frames(runs["full"].parent / "proc" / "results_00.mp4")
    mb = movie_frames(runs["resumed"].parent / "proc" / "results_00.mp4")
    same_frames = len(ma) == len(mb) and all(np.array_equal(x, y) for x, y in zip(ma, mb))
    same_bytes = ((runs["full"].parent / "proc" / "results_00.mp4").read_bytes()
                  == (runs["resumed"].parent / "proc" / "results_00.mp4").read_bytes())
    print(f"frames {n}; full run {full:.1f} s; killed after {killed:.1f} s at "
          f">= {opts.kill_at:.0%}; rerun {rerun:.1f} s; rerun / full = {rerun / full:.2f}")
    print(f"kept from the killed run: {kept.group(1) if kept else 0} of {n} frames")
    print(f"h5 datasets differing: {differ or 'none'} (of {len(a)}); movie frames equal: "
          f"{same_frames}; movie bytes equal: {same_bytes}")


if __name__ == "__main__":
    main()
