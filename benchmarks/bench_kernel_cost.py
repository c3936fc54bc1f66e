"""What each per-frame tracking step costs: CPU milliseconds per frame of the extraction
kernel (``BlockKernel.extract``, one thread) on a clean synthetic session.

Configurations: the defaults, each of the tracking steps of issue 10 turned off, and all
of them off; with ``--baseline-src`` also another checkout's kernel with its defaults (for
example the commit before those steps).  Every configuration runs in its own process, the
configurations alternated round after round, and the minimum CPU time of each is kept (a
busy machine lengthens runs, it never shortens them).

    python benchmarks/bench_kernel_cost.py [--frames 1024] [--rounds 5] \\
        [--baseline-src /path/to/other/checkout/src]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

STEPS = ("remove_thin_structures", "fill_dropouts", "ignore_intrusions", "choose_by_continuity")
CONFIGS: list[tuple[str, dict]] = [("defaults", {})] + [
    (f"{step} off", {step: False}) for step in STEPS] + [
    ("all four off", {step: False for step in STEPS})]


def _measure(session: Path, frames: int, config: dict) -> float:
    """Best of three CPU ms/frame of the kernel over the session's first frames."""
    import time

    import cv2

    from moseq2_extract.camera import detect_camera
    from moseq2_extract.config import make_config
    from moseq2_extract.extract.chunk import BlockKernel, ChunkParams
    from moseq2_extract.io.session import load_session
    from moseq2_extract.roi.session import find_session_roi

    cv2.setNumThreads(1)
    depth = next(session.glob("*.dat"))
    loaded = load_session(depth)
    camera = detect_camera(depth, "auto", (loaded.info.width, loaded.info.height))
    cfg = make_config(config)
    with loaded.open_reader() as reader, tempfile.TemporaryDirectory() as tmp:
        arena = find_session_roi(reader, make_config({}), Path(tmp), camera=camera,
                                 nframes=loaded.nframes)
        y0, y1, x0, x1 = arena.bbox
        raw = reader.read_region(0, min(frames, loaded.nframes), (y0, y1, x0, x1))
    kernel = BlockKernel(arena.background[y0:y1, x0:x1], arena.roi[y0:y1, x0:x1],
                         ChunkParams.from_config(cfg))
    best = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        kernel.extract(raw)
        best = min(best, time.process_time() - t0)
    return 1e3 * best / len(raw)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1024)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="folder for the session")
    ap.add_argument("--baseline-src", type=Path, default=None)
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        session, frames, config = args.worker
        print(_measure(Path(session), int(frames), json.loads(config)))
        return 0
    from moseq2_extract.synthetic import SessionSpec, write_session

    out = args.out or Path(tempfile.mkdtemp(prefix="bench_kernel_cost_"))
    session = out / "session_clean"
    if not any(session.glob("*.dat")):
        write_session(session, SessionSpec(n_frames=max(args.frames, 300), seed=args.seed))
    here = str(Path(__file__).resolve().parents[1] / "src")
    runs = [(name, here, cfg) for name, cfg in CONFIGS]
    if args.baseline_src:
        runs.append(("baseline defaults", str(args.baseline_src.resolve()), {}))
    best = {name: float("inf") for name, _, _ in runs}
    for r in range(args.rounds):
        for name, src, cfg in runs:
            env = dict(os.environ, PYTHONPATH=src)
            res = subprocess.run([sys.executable, __file__, "--worker", str(session),
                                  str(args.frames), json.dumps(cfg)],
                                 env=env, capture_output=True, text=True, check=True)
            best[name] = min(best[name], float(res.stdout.strip().splitlines()[-1]))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    print(f"clean session, {args.frames} frames, best of {args.rounds} rounds x 3, one "
          "thread\n\n| kernel | CPU ms/frame |\n|---|---:|")
    for name, _, _ in runs:
        print(f"| {name} | {best[name]:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
