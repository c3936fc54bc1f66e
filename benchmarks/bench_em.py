"""The EM cable tracker alone: cost per frame and accuracy on a synthetic session, and
agreement with moseq2-extract 1.4.0's ``em_tracking`` / ``em_get_ll`` on the same frames.

Heights over the arena's bounding box are made as the extraction makes them (background
subtraction, median 3, optionally the 9x9 tail opening); the tracker runs frame by frame
(``EMTracker.step``: likelihood image, segment, EM updates, the likelihood image under the
new estimate).  Errors are against the generator's true centroid:

* ``em mean``: the Gaussian's (x, y);
* ``likely blob``: centroid of the largest blob of ``height > min_height`` and
  ``ll > -20`` (the original's feature mask with the tracker);
* ``plain blob``: centroid of the largest blob of ``height > min_height``.

    python benchmarks/bench_em.py [--frames 300] [--case tether] [--no-tail-filter]
        [--ref-venv /opt/moseq2-ref]

Prints a small table; not a test.  Timings are best of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from moseq2_extract.extract import em
from moseq2_extract.extract.em_tracker import EMTracker
from moseq2_extract.extract.features import largest_blob
from moseq2_extract.synthetic import SessionSpec
from moseq2_extract.synthetic.box import box_frames

FLOOR, CEILING = 10.0, 100.0

REFERENCE = """
import sys, time, warnings
import numpy as np
warnings.simplefilter("ignore")
from moseq2_extract.extract.track import em_tracking, em_get_ll
d = sys.argv[1]
f, h = np.load(d + "/filtered.npy"), np.load(d + "/raw.npy")
t = time.perf_counter()
p = em_tracking(f, h, ll_threshold=-100, depth_floor=10, depth_ceiling=100,
                progress_bar=False)
ll = em_get_ll(f, p["mean"], p["cov"])
print(time.perf_counter() - t)
np.save(d + "/ref_mean.npy", p["mean"]); np.save(d + "/ref_cov.npy", p["cov"])
np.save(d + "/ref_ll0.npy", ll[0])
"""


def pct(e: np.ndarray) -> str:
    return f"{np.nanmedian(e):.2f} | {np.nanpercentile(e, 95):.2f} | {np.nanmax(e):.2f}"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--case", default="tether")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-tail-filter", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ref-venv", type=Path, default=Path("/opt/moseq2-ref"))
    args = ap.parse_args(argv)
    box = box_frames(SessionSpec(n_frames=args.frames, seed=args.seed, case=args.case),
                     min_height=FLOOR, max_height=CEILING,
                     tail_filter=not args.no_tail_filter)
    raw, filtered, tx, ty = box.raw, box.filtered, box.true_x, box.true_y
    n, h, w = filtered.shape
    start = em.init_from_frames(filtered, floor=FLOOR, ceiling=CEILING)
    best, res = np.inf, []
    for _ in range(args.repeat):
        tracker = EMTracker(start, floor=FLOOR, ceiling=CEILING, ll_threshold=-100)
        t = time.perf_counter()
        res = [tracker.step(filtered[i], raw[i]) for i in range(n)]
        best = min(best, time.perf_counter() - t)
    mean = np.array([r.mean for r in res])
    errs = {"em mean": np.hypot(mean[:, 0] - tx, mean[:, 1] - ty)}
    likely, plain = [], []
    for frame, r in zip(filtered, res, strict=True):
        b = largest_blob(((frame > FLOOR) & (r.ll > -20)).view(np.uint8))[0]
        likely.append((b.x, b.y))
        b = largest_blob((frame > FLOOR).view(np.uint8))[0]
        plain.append((b.x, b.y))
    for name, xy in (("likely blob", likely), ("plain blob", plain)):
        a = np.array(xy)
        errs[name] = np.hypot(a[:, 0] - tx, a[:, 1] - ty)
    print(f"{args.case}, {n} frames of {h}x{w} px, tail filter "
          f"{'off' if args.no_tail_filter else 'on'}; re-initialised "
          f"{sum(r.reinitialised for r in res)}, fell back {sum(r.fell_back for r in res)}")
    print("\n| centroid error px | p50 | p95 | max |\n|---|---:|---:|---:|")
    for name, e in errs.items():
        print(f"| {name} | {pct(e)} |")
    print(f"\nours: {best / n * 1e3:.2f} ms/frame (EMTracker.step, best of {args.repeat})")
    python = args.ref_venv / "bin" / "python"
    if not python.exists():
        return
    with tempfile.TemporaryDirectory() as d:
        np.save(f"{d}/filtered.npy", filtered)
        np.save(f"{d}/raw.npy", raw)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        out = subprocess.run([str(python), "-c", REFERENCE, d], capture_output=True,
                             text=True, check=True, env=env)
        seconds = float(out.stdout.split()[-1])
        ref_mean, ref_cov = np.load(f"{d}/ref_mean.npy"), np.load(f"{d}/ref_cov.npy")
        ref_ll0 = np.load(f"{d}/ref_ll0.npy")
    cov = np.array([r.cov for r in res])
    print(f"1.4.0: {seconds / n * 1e3:.2f} ms/frame (em_tracking + em_get_ll, one run)")
    print(f"max |mean - 1.4.0| = {np.abs(mean - ref_mean).max():.2e}, "
          f"max |cov - 1.4.0| / max |cov| = "
          f"{(np.abs(cov - ref_cov).max() / np.abs(ref_cov).max()):.2e}, "
          f"max rel |ll - 1.4.0| (frame 0) = "
          f"{(np.abs(res[0].ll - ref_ll0) / np.maximum(1, np.abs(ref_ll0))).max():.2e}")


if __name__ == "__main__":
    sys.exit(main())
