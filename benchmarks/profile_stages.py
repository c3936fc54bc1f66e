"""Where the time goes: CPU milliseconds per frame of each pipeline stage, one thread.

Generates (or reuses) a synthetic Kinect session, finds its ROI, then runs every stage of
the per-frame work separately over the same frames and prints a markdown table. CPU time
(``time.process_time``, best of a few repeats) is used rather than wall time, so a busy
machine disturbs the figures less; OpenCV is limited to one thread. The stages are the ones
``extract_session`` runs (in parallel there); compare their sum with the end-to-end
figures of ``bench_vs_reference.py``.

    python benchmarks/profile_stages.py --frames 1800
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from moseq2_extract.camera import detect_camera
from moseq2_extract.config import make_config
from moseq2_extract.extract.chunk import BlockKernel, ChunkParams
from moseq2_extract.io.session import load_session
from moseq2_extract.output.h5writer import ResultsWriter
from moseq2_extract.output.movie import (
    SEGMENT_FRAMES,
    EncoderSettings,
    PreviewCanvas,
    encode_segment,
)
from moseq2_extract.pipeline.sequence import SequenceAssembler
from moseq2_extract.roi.session import find_session_roi
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
    try:
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
            width = reader.info.width
            n = min(BLOCK * 4, session.nframes)
            buf = np.empty((n, y1 - y0, width), np.uint16)
            ms, rows_read = cpu_ms(lambda: reader.read_region(0, n, (y0, y1, 0, width), out=buf),
                                   n)
            raw = rows_read[:, :, x0:x1]
            rows.append(("read the ROI box rows as a copy (the pipeline maps .dat in place)", ms))
            params = ChunkParams.from_config(config)
            kernel = BlockKernel(arena.background[y0:y1, x0:x1], arena.roi[y0:y1, x0:x1],
                                 params)

            def subtract_only():
                heights = np.empty(raw.shape[1:], np.uint8)
                scratch = kernel.subtract.new_scratch()
                for i in range(n):
                    kernel.subtract(raw[i], heights, scratch)

            rows.append(("  of which background subtraction + thresholds",
                         cpu_ms(subtract_only, n)[0]))

            def extract():
                return kernel.extract(raw)

            ms, block = cpu_ms(extract, n)
            rows.append(("per-frame kernel: subtract, fill, intrusions, filter, blob, thin, "
                         "moments, 3 crops", ms))

            def assemble():
                asm = SequenceAssembler(camera=camera, true_depth=arena.true_depth,
                                        box_origin=(x0, y0))
                asm.add(np.arange(n), block.measures, block.box)
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

            rows.append(("results_00.h5 (gzip 4)", cpu_ms(write_h5, n, 1)[0]))
            crops = np.concatenate([r.frames for r in results])
            box = block.box
            canvas = PreviewCanvas(raw.shape[1:], 80, min_height=10, max_height=120)

            def paint():
                for i in range(n):
                    x, y = (int(v) for v in box.rects[i, :2])
                    canvas.paint(crops[i], box.windows[i], i, at=(x, y))

            rows.append(("preview: painting the yuv420p picture", cpu_ms(paint, n)[0]))
            settings = EncoderSettings("libx264", canvas.width, canvas.height, Fraction(30))

            def movie():
                for s in range(0, n, SEGMENT_FRAMES):
                    sl = slice(s, s + SEGMENT_FRAMES)
                    encode_segment(settings, [(crops[sl], box[sl], np.arange(n)[sl])],
                                   crop_size=80, box_shape=raw.shape[1:], min_height=10,
                                   max_height=120)

            rows.append(("preview: painting + x264 encoding", cpu_ms(movie, n, 2)[0]))
        print(f"session: {depth} ({session.nframes} frames), ROI box {y1 - y0}x{x1 - x0} px, "
              f"ROI step {roi_s:.2f} s CPU\n")
        print("| stage | CPU ms/frame |\n|---|---|")
        for name, ms in rows:
            print(f"| {name} | {ms:.3f} |")
        total = sum(ms for name, ms in rows
                    if not name.startswith("  ")
                    and name != "preview: painting the yuv420p picture")
        print(f"| **total** | **{total:.3f}** |")
    finally:  # the session is gigabytes: never left behind in /tmp
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
