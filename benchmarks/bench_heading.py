"""Heading accuracy and cost on generated sessions with known heading.

For several synthetic sessions (different seeds, noise levels, mouse sizes, a curled
ambiguous start, an Azure camera) prints the fraction of frames whose heading is off by
more than 90 degrees for

* ``training-free``: the default extraction (no classifier);
* ``self-trained``: a classifier trained with ``train-flip-classifier`` on another
  session of the same kind (another seed: "the user's own recordings"), then used with
  ``--flip-classifier``;
* ``no correction``: the moment axis as the original leaves it without a classifier
  (orientation in [-90, 90) degrees unwrapped within 1000-frame chunks);

and the cost of heading resolution: end-to-end frames/s of ``extract_session`` with and
without it (best of ``--repeats`` alternating runs), and the time spent in the heading
code itself.

Examples::

    python benchmarks/bench_heading.py
    python benchmarks/bench_heading.py --frames 900 --quick
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from moseq2_extract.config import make_config
from moseq2_extract.heading.training import train_flip_classifier
from moseq2_extract.pipeline import sequence
from moseq2_extract.pipeline import session as pipeline
from moseq2_extract.pipeline.sequence import SequenceAssembler
from moseq2_extract.synthetic import REAR, GroundTruth, SessionSpec, write_session
from moseq2_extract.synthetic.demo import angle_diff, compare_to_truth


@dataclass(frozen=True)
class Case:
    name: str
    spec: dict
    fmt: str = "dat"


CASES = (
    Case("default", dict(seed=1)),
    Case("small, clean", dict(seed=2, noise_mm=0.5, mouse_scale=0.8)),
    Case("large, noisy", dict(seed=3, noise_mm=3.0, mouse_scale=1.25)),
    Case("ambiguous start", dict(seed=4, ambiguous_start_frames=90)),
    Case("tiny, very noisy", dict(seed=5, noise_mm=6.0, mouse_scale=0.6)),
    Case("Azure camera", dict(seed=6, camera="azure", noise_mm=2.0), fmt="mkv"),
)
QUICK = ("default", "small, clean", "ambiguous start")
CONFIG = {"write_movie": False}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=1800, help="frames per session (1800)")
    ap.add_argument("--out", type=Path, default=Path("bench_out/heading"))
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    ap.add_argument("--repeats", type=int, default=5, help="speed runs per mode (5)")
    ap.add_argument("--keep", action="store_true", help="keep the generated sessions")
    ap.add_argument("--speed-only", action="store_true", help="only the cost measurement")
    return ap.parse_args(argv)


def uncorrected_flip_rate(h5_path: Path, truth: GroundTruth, chunk: int = 1000) -> float:
    """Heading error rate of the bare moment axis, as the original without a classifier."""
    import h5py

    with h5py.File(h5_path, "r") as f:
        angle = f["scalars/angle"][()].astype(np.float64)
    raw = np.mod(angle + np.pi / 2, np.pi) - np.pi / 2  # orientation in [-pi/2, pi/2)
    out = np.full_like(raw, np.nan)
    for a in range(0, len(raw), chunk):
        part = raw[a:a + chunk]
        ok = np.isfinite(part)
        seg = np.full_like(part, np.nan)
        seg[ok] = np.unwrap(2 * part[ok]) / 2
        out[a:a + chunk] = seg
    both = np.isfinite(out) & np.isfinite(truth.angle[:len(out)])
    return float(np.mean(angle_diff(out[both], truth.angle[:len(out)][both], 2 * np.pi)
                         > np.pi / 2))


def rear_flip_rate(h5_path: Path, truth: GroundTruth) -> float:
    import h5py

    with h5py.File(h5_path, "r") as f:
        angle = f["scalars/angle"][()].astype(np.float64)
    sel = (truth.state[:len(angle)] == REAR) & np.isfinite(angle)
    if not sel.any():
        return float("nan")
    return float(np.mean(angle_diff(angle[sel], truth.angle[sel], 2 * np.pi) > np.pi / 2))


class TimedAssembler(SequenceAssembler):
    """Records the time spent in the assembler (heading, scalars, crop turning)."""

    seconds = 0.0

    def add(self, *args, **kwargs):
        t = time.perf_counter()
        super().add(*args, **kwargs)
        TimedAssembler.seconds += time.perf_counter() - t

    def pop_ready(self, *args, **kwargs):
        t = time.perf_counter()
        out = super().pop_ready(*args, **kwargs)
        TimedAssembler.seconds += time.perf_counter() - t
        return out


def timed_extract(depth: Path, out_dir: Path, *, heading: bool) -> tuple[float, float, float]:
    """(frames/s end to end, CPU seconds of the process, seconds in the assembler)."""
    factory = functools.partial(TimedAssembler, use_heading=heading)
    original = sequence.SequenceAssembler
    sequence.SequenceAssembler = factory  # what assembler_for builds
    TimedAssembler.seconds = 0.0
    try:
        shutil.rmtree(out_dir, ignore_errors=True)
        cpu = time.process_time()
        outcome = pipeline.extract_session(depth, make_config(CONFIG), output_dir=out_dir)
        cpu = time.process_time() - cpu
    finally:
        sequence.SequenceAssembler = original
    return outcome.fps, cpu, TimedAssembler.seconds


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    cases = [c for c in CASES if not args.quick or c.name in QUICK]
    rows = []
    for case in [] if args.speed_only else cases:
        spec = dict(case.spec, n_frames=args.frames)
        test_dir = args.out / f"{case.spec['seed']:02d}_test"
        train_dir = args.out / f"{case.spec['seed']:02d}_train"
        print(f"[{case.name}] generating and extracting ...", file=sys.stderr, flush=True)
        depth = write_session(test_dir, SessionSpec(**spec), fmt=case.fmt)
        truth = GroundTruth.load(test_dir / "ground_truth.npz")
        outcome = pipeline.extract_session(depth, make_config(CONFIG))
        free = compare_to_truth(outcome.h5_path, truth)
        train_spec = SessionSpec(**dict(spec, seed=case.spec["seed"] + 100))
        train_depth = write_session(train_dir, train_spec, fmt=case.fmt)
        train_out = pipeline.extract_session(train_depth, make_config(CONFIG))
        clf = args.out / f"{case.spec['seed']:02d}_classifier.npz"
        report = train_flip_classifier([train_out.h5_path], clf, seed=0)
        with_clf = pipeline.extract_session(
            depth, make_config({**CONFIG, "flip_classifier": str(clf)}),
            output_dir=test_dir / "proc_classifier")
        trained = compare_to_truth(with_clf.h5_path, truth)
        rows.append({
            "session": case.name, "seed": case.spec["seed"],
            "noise_mm": case.spec.get("noise_mm", 1.5),
            "mouse_scale": case.spec.get("mouse_scale", 1.0),
            "camera": case.spec.get("camera", "kinect"), "frames": free.n_frames,
            "training_free": free.heading_flip_rate,
            "training_free_rearing": rear_flip_rate(outcome.h5_path, truth),
            "self_trained": trained.heading_flip_rate,
            "self_trained_holdout_accuracy": report.holdout_accuracy,
            "no_correction": uncorrected_flip_rate(outcome.h5_path, truth),
        })
        if not args.keep:
            shutil.rmtree(train_dir, ignore_errors=True)

    if args.speed_only:
        write_session(args.out / f"{cases[0].spec['seed']:02d}_test",
                      SessionSpec(**dict(cases[0].spec, n_frames=args.frames)), fmt=cases[0].fmt)
    print()
    print(f"{'session':18s} {'noise':>5s} {'scale':>5s} {'camera':>7s} {'frames':>6s} "
          f"{'training-free':>13s} {'(rearing)':>9s} {'self-trained':>12s} "
          f"{'no correction':>13s}")
    for r in rows:
        print(f"{r['session']:18s} {r['noise_mm']:5.1f} {r['mouse_scale']:5.2f} "
              f"{r['camera']:>7s} {r['frames']:6d} {100 * r['training_free']:12.2f}% "
              f"{100 * r['training_free_rearing']:8.2f}% {100 * r['self_trained']:11.2f}% "
              f"{100 * r['no_correction']:12.2f}%")

    # cost: the first session again, heading on and off, alternating
    first = cases[0]
    depth = next((args.out / f"{first.spec['seed']:02d}_test").glob("depth.*"))
    speed = {True: [], False: []}
    for _ in range(args.repeats):
        for heading in (True, False):
            speed[heading].append(timed_extract(depth, args.out / "speed_proc",
                                                heading=heading))
    n = args.frames
    on_fps, off_fps = (max(r[0] for r in speed[h]) for h in (True, False))
    on_cpu, off_cpu = (min(r[1] for r in speed[h]) / n * 1e6 for h in (True, False))
    heading_us, plain_us = (min(r[2] for r in speed[h]) / n * 1e6 for h in (True, False))
    print()
    print(f"cost on '{first.name}' ({n} frames, best of {args.repeats} alternating runs):")
    print(f"  end-to-end: {on_fps:.0f} frames/s with heading resolution, {off_fps:.0f} "
          f"without ({100 * (1 - on_fps / off_fps):+.1f} %)")
    print(f"  process CPU: {on_cpu:.0f} us/frame with, {off_cpu:.0f} us/frame without "
          f"({100 * (on_cpu / off_cpu - 1):+.1f} %)")
    print(f"  sequence assembler: {heading_us:.1f} us/frame with, {plain_us:.1f} without: "
          f"heading resolution itself costs {heading_us - plain_us:.1f} us/frame")
    summary = {"rows": rows, "fps_with_heading": on_fps, "fps_without_heading": off_fps,
               "cpu_us_with": on_cpu, "cpu_us_without": off_cpu,
               "assembler_us_with": heading_us, "assembler_us_without": plain_us}
    (args.out / "bench_heading.json").write_text(json.dumps(summary, indent=2))
    if not args.keep:
        for case in cases:
            shutil.rmtree(args.out / f"{case.spec['seed']:02d}_test", ignore_errors=True)
        shutil.rmtree(args.out / "speed_proc", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
