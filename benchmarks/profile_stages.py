"""Where the time goes: CPU milliseconds per frame of each pipeline stage, one thread.

Generates (or reuses) a synthetic Kinect session, finds its ROI, then runs every stage of
the per-block work separately over the same frames and prints a markdown table. CPU time
(``time.process_time``) is used rather than wall time, so a busy machine disturbs the
figures less; OpenCV is limited to one thread.

    python benchmarks/profile_stages.py --frames 1800
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from moseq2_extract.camera import detect_camera
from moseq2_extract.config import make_config
from moseq2_extract.extract.chunk import ChunkParams, measure_frames
from moseq2_extract.extract.frames import filter_frames, subtract_background
from moseq2_extract.extract.sequence import SequenceAssembler
from moseq2_extract.io.session import load_session
from moseq2_extract.output.h5writer import ResultsWriter
from moseq2_extract.output.movie import PreviewWriter, compose_preview_yuv
from moseq2_extract.session_roi import find_session_roi
from moseq2_extract.synthetic import SessionSpec, write_session

BLOCK = 256


def cpu_ms(fn, n_frames: int, repeats: int = 3):
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t0)
    return 1e3 * best / n_frames, out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1800)
    ap.add_argument("--session", type=Path, help="existing depth file instead of generating")
    ap.add_argument("--fmt", default="dat", choices=("dat", "avi"))
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    work = Path(tempfile.mkdtemp(prefix="profile_stages_"))
    depth = args.session or write_session(work, SessionSpec(n_frames=args.frames, seed=1),
                                          fmt=args.fmt)
    config = make_config({})
    session = load_session(depth)
    camera = detect_camera(depth, "auto", (session.info.width, session.info.height))
    rows = []
    with session.open_reader() as reader:
        t0 = time.process_time()
        arena = find_session_roi(reader, config, work / "proc", camera=camera,
                                 nframes=session.nframes)
        roi_s = time.process_time() - t0
        y0, y1, x0, x1 = arena.bbox
        bg = arena.background[y0:y1, x0:x1].astype(np.float32)
        roi = arena.roi[y0:y1, x0:x1]
        n = min(BLOCK * 4, session.nframes)
        ms, raw = cpu_ms(lambda: reader.read_region(0, n, (y0, y1, x0, x1)), n)
        rows.append(("read ROI box", ms))
        params = ChunkParams.from_config(config)
        ms, heights = cpu_ms(lambda: subtract_background(
            raw, bg, roi, min_height=10, max_height=120), n)
        rows.append(("background subtraction + thresholds", ms))
        ms, filtered = cpu_ms(lambda: filter_frames(
            heights, spatial_filter_size=(3,), strel_tail=params.strel_tail), n)
        rows.append(("spatial median + tail opening", ms))
        ms, measures = cpu_ms(lambda: measure_frames(heights, filtered, params), n)
        rows.append(("blob, moments, 3 crops", ms))

        def assemble():
            asm = SequenceAssembler(camera=camera, true_depth=arena.true_depth,
                                    box_origin=(x0, y0))
            asm.add(np.arange(n), measures, heights)
            return asm.pop_ready(final=True)

        ms, results = cpu_ms(assemble, n)
        rows.append(("heading, unwrapping, scalars", ms))

        def write_h5():
            w = ResultsWriter(work / "proc" / "prof.h5", n_frames=n, crop_size=(80, 80),
                              frame_dtype="uint8", acquisition_metadata=session.metadata,
                              parameters={}, uuid="x", roi=arena.roi,
                              background=arena.background, first_frame=arena.first_frame,
                              first_frame_idx=0, last_frame_idx=n,
                              true_depth=arena.true_depth, timestamps=None, with_flips=True)
            for r in results:
                w.write(r, int(r.frame_index[0]))
            w.finalize()

        rows.append(("results_00.h5 (gzip)", cpu_ms(write_h5, n, 1)[0]))
        crops = np.concatenate([r.frames for r in results])
        rows.append(("preview: colouring (I420 LUT)", cpu_ms(lambda: compose_preview_yuv(
            crops, heights, np.arange(n), min_height=10, max_height=120), n)[0]))

        def movie():
            w = PreviewWriter(work / "proc" / "prof.mp4", fps=30, box_shape=heights.shape[1:],
                              crop_size=80, min_height=10, max_height=120, background=False)
            w.write(crops, heights, np.arange(n))
            w.close()

        rows.append(("preview: colouring + x264 encode", cpu_ms(movie, n, 1)[0]))
    print(f"session: {depth} ({session.nframes} frames), ROI box {y1 - y0}x{x1 - x0} px, "
          f"ROI step {roi_s:.2f} s CPU\n")
    print("| stage | CPU ms/frame |\n|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.3f} |")
    total = sum(ms for name, ms in rows if name != "preview: colouring (I420 LUT)")
    print(f"| **total** | **{total:.3f}** |")


if __name__ == "__main__":
    main()
