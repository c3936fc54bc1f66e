"""``extract_session``: the streaming extraction of one recording.

Everything overlaps: the next block is read on a reader thread; the per-frame work of a
block is split into row ranges run on ``workers`` threads (OpenCV, numpy, zlib and x264
release the GIL), while the main thread links the previous block in time (heading,
velocities); a writer thread stores finished blocks in the h5 file and hands them to the
preview movie, whose segments are encoded as tasks on the same worker threads.  Memory is
bounded by the block size and the heading look-ahead, never by the recording's length.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid as uuidlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import __version__
from .camera import detect_camera
from .config import Config, make_config, parameter_snapshot
from .errors import ConfigError
from .extract.chunk import (
    BlockKernel,
    ChunkParams,
    FrameMeasures,
    measure_frames,
    prepare_heights,
)
from .extract.frames import temporal_median
from .extract.results import BoxWindows, ChunkResult
from .extract.sequence import SequenceAssembler
from .io.session import load_session
from .output.h5writer import ResultsWriter
from .output.movie import PreviewWriter
from .output.status import is_complete, write_status
from .session_roi import SessionRoi, find_session_roi

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
BLOCK = 256  # frames processed together; results do not depend on it
HEADING_LAG = 300  # frames of look-ahead for the heading decision


@dataclass
class ExtractionOutcome:
    """What :func:`extract_session` produced.

    Attributes
    ----------
    output_dir : Path
    h5_path, yaml_path : Path
    movie_path : Path or None
    n_frames : int
        Frames extracted.
    seconds : float
        Wall time.
    skipped : bool
        True when ``skip_completed`` found finished results.
    warnings : list of str
        Problems that did not stop the run (e.g. timestamp count mismatch).
    true_depth : float
    """

    output_dir: Path
    h5_path: Path
    yaml_path: Path
    movie_path: Path | None
    n_frames: int = 0
    seconds: float = 0.0
    skipped: bool = False
    warnings: list[str] = field(default_factory=list)
    true_depth: float = float("nan")

    @property
    def fps(self) -> float:
        return self.n_frames / self.seconds if self.seconds > 0 else float("nan")


def resolve_output_dir(input_file: str | Path, output_dir: str | Path | None) -> Path:
    """Output folder of a session (spec 1.2 ``--output-dir`` rule).

    ``None`` means ``proc`` next to the input.  A path that exists (relative to the working
    directory) or is absolute is used as is; otherwise it is taken relative to the input
    file's folder.  Archives get ``<archive dir>/<archive stem>/proc`` so that discovery
    can find their results.
    """
    input_file = Path(input_file)
    base = input_file.parent
    name = input_file.name
    for suffix in (".tar.gz", ".tgz"):
        if name.endswith(suffix):
            base = base / name[: -len(suffix)]
    out = Path(output_dir) if output_dir not in (None, "") else Path("proc")
    if out.is_absolute() or (out.exists() and len(out.parts) > 1):
        return out
    return base / out


def frame_range(nframes: int, config: Config) -> tuple[int, int]:
    """First (inclusive) and last (exclusive) frame to extract after trims and num_frames."""
    start, end_trim = (int(v) for v in config.frame_trim)
    last = nframes
    if config.num_frames is not None:
        if config.num_frames > nframes:
            logger.warning("num_frames %d exceeds the %d frames available; extracting all",
                           config.num_frames, nframes)
        last = min(nframes, int(config.num_frames))
    first = min(start, last)
    last = max(first, last - end_trim) if end_trim else last
    return first, last


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - platforms without affinity
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def _opencv_threads(count: int):
    """Let OpenCV use ``count`` threads of its own inside the block (restored after)."""
    before = cv2.getNumThreads()
    cv2.setNumThreads(count)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


def _camera_config(config: Config, camera) -> Config:
    """Record the camera preset's decoding values, as the original's presets do."""
    return config.replace(pixel_format=camera.pixel_format, movie_dtype=camera.movie_dtype)


def extract_session(
    input_file: str | Path,
    config: Config | dict | None = None,
    *,
    output_dir: str | Path | None = None,
    progress: Progress | None = None,
    flip_model=None,
) -> ExtractionOutcome:
    """Extract one recording into ``<output_dir>/results_XX.{h5,yaml,mp4}``.

    Parameters
    ----------
    input_file : path
        ``depth.dat``, ``*.avi``, ``*.mkv`` or ``*.tar.gz`` / ``*.tgz``.
    config : Config or dict
        Parameters (validated with :func:`moseq2_extract.config.make_config`).
    output_dir : path, optional
        Defaults to ``config.output_dir`` (``proc``) resolved against the input's folder.
    progress : callable(done, total), optional
        Called after each written block.
    flip_model : callable, optional
        Classifier returning per-frame log-odds that the head points west in a crop; by
        default the training-free heading model is used.

    Returns
    -------
    ExtractionOutcome

    Raises
    ------
    ExtractionError
        On bad input (one-line message naming the file); nothing that looks like a result
        is left behind.
    """
    t0 = time.perf_counter()
    if not isinstance(config, Config):
        config = make_config(config or {})
    input_file = Path(input_file)
    out_dir = resolve_output_dir(input_file, output_dir if output_dir is not None
                                 else config.output_dir)
    stem = f"results_{int(config.bg_roi_index):02d}"
    h5_path, yaml_path = out_dir / f"{stem}.h5", out_dir / f"{stem}.yaml"
    movie_path = out_dir / f"{stem}.mp4"
    outcome = ExtractionOutcome(out_dir, h5_path, yaml_path,
                                movie_path if config.write_movie else None)
    if config.skip_completed and is_complete(yaml_path) and h5_path.exists():
        outcome.skipped = True
        return outcome

    session = load_session(input_file, mapping=config.mapping)
    outcome.warnings.extend(session.warnings)
    camera = detect_camera(input_file, config.camera_type,
                           (session.info.width, session.info.height))
    config = _camera_config(config, camera)
    first, last = frame_range(session.nframes, config)
    if last <= first:
        raise ConfigError(f"{input_file}: no frames left to extract (frames {first}-{last})")
    out_dir.mkdir(parents=True, exist_ok=True)
    uid = str(uuidlib.uuid4())
    params = parameter_snapshot(config)
    write_status(yaml_path, complete=False, metadata=session.metadata, parameters=params,
                 uuid=uid)

    workers = int(config.workers) or available_cores()
    with session.open_reader(threads=config.threads) as reader, \
            ThreadPoolExecutor(workers, thread_name_prefix="extract") as pool, \
            _opencv_threads(1):
        arena = find_session_roi(reader, config, out_dir, camera=camera,
                                 nframes=session.nframes)
        outcome.true_depth = arena.true_depth
        timestamps = (None if session.timestamps is None
                      else np.asarray(session.timestamps[first:last], dtype=np.float64))
        writer = ResultsWriter(
            h5_path, n_frames=last - first, crop_size=tuple(config.crop_size),
            frame_dtype=config.frame_dtype, acquisition_metadata=session.metadata,
            parameters=params, uuid=uid, roi=arena.roi, background=arena.background,
            first_frame=arena.first_frame, first_frame_idx=first, last_frame_idx=last,
            true_depth=arena.true_depth, timestamps=timestamps, with_flips=True,
            extract_version=__version__)
        movie = None
        try:
            if config.write_movie:
                y0, y1, x0, x1 = arena.bbox
                movie = PreviewWriter(movie_path, fps=config.fps, box_shape=(y1 - y0, x1 - x0),
                                      crop_size=int(config.crop_size[0]),
                                      min_height=config.min_height,
                                      max_height=config.max_height, executor=pool,
                                      max_pending=workers + 2)
            _stream(reader, arena, config, camera, first, last, writer, movie, progress,
                    flip_model, pool, workers)
            writer.finalize()
            if movie is not None:
                movie.close()
        except BaseException:
            writer.abort()
            if movie is not None:
                movie.abort()
            raise
    params["true_depth"] = float(arena.true_depth)
    write_status(yaml_path, complete=True, metadata=session.metadata, parameters=params,
                 uuid=uid)
    outcome.n_frames = last - first
    outcome.seconds = time.perf_counter() - t0
    return outcome


def _stream(reader, arena: SessionRoi, config: Config, camera, first: int, last: int,
            writer: ResultsWriter, movie: PreviewWriter | None, progress: Progress | None,
            flip_model, pool: ThreadPoolExecutor, workers: int) -> None:
    """The block loop: read ahead, extract in parallel, assemble in order, write behind."""
    params = ChunkParams.from_config(config)
    y0, y1, x0, x1 = arena.bbox
    bg_box = np.ascontiguousarray(arena.background[y0:y1, x0:x1], dtype=np.float32)
    roi_box = np.ascontiguousarray(arena.roi[y0:y1, x0:x1])
    assembler = SequenceAssembler(camera=camera, true_depth=arena.true_depth,
                                  box_origin=(x0, y0), lag=HEADING_LAG,
                                  flip_model=flip_model,
                                  centroid_hampel=(int(config.centroid_hampel_span),
                                                   float(config.centroid_hampel_sig)),
                                  angle_hampel=(int(config.angle_hampel_span),
                                                float(config.angle_hampel_sig)))
    halo = params.temporal_halo
    kernel = None if halo else BlockKernel(bg_box, roi_box, params)
    block = max(1, min(BLOCK, int(config.chunk_size)))
    total = last - first

    # three buffers of whole rows in turn: one being extracted, one queued, one being read
    # (whole rows are one byte range per frame of a .dat file); the box is a view of them
    width = reader.info.width
    buffers = [np.empty((block + 2 * halo, y1 - y0, width), np.uint16) for _ in range(
        min(3, -(-total // block)))]

    def read(a: int, b: int) -> tuple[np.ndarray, int]:
        lo, hi = max(first, a - halo), min(last, b + halo)
        buf = buffers[((a - first) // block) % len(buffers)][:hi - lo]
        rows = reader.read_region(lo, hi, (y0, y1, 0, width), out=buf)
        return rows[:, :, x0:x1], a - lo

    def split(n: int, parts: int) -> list[range]:
        step = max(16, -(-n // parts))
        return [range(i, min(n, i + step)) for i in range(0, n, step)]

    def write(results: list[ChunkResult]) -> None:
        for res in results:
            writer.write(res, res.frame_index[0] - first)
            if movie is not None:
                movie.write(res.frames, res.box, res.frame_index)

    def stagewise(raw: np.ndarray, lead: int, n: int) -> tuple[np.ndarray, FrameMeasures]:
        # with a temporal filter: every frame's heights first, then the filter across them
        parts = list(pool.map(lambda r: prepare_heights(raw[r.start:r.stop], bg_box, roi_box,
                                                        params), split(len(raw), workers)))
        heights = np.concatenate([p[0] for p in parts])
        filtered = temporal_median(np.concatenate([p[1] for p in parts]),
                                   params.temporal_filter_size)
        heights = heights[lead:lead + n]
        filtered = filtered[lead:lead + n]
        measures = FrameMeasures.concat(list(pool.map(
            lambda r: measure_frames(heights[r.start:r.stop], filtered[r.start:r.stop],
                                     params), split(n, workers))))
        return heights, measures

    def start(a: int, raw: np.ndarray, lead: int) -> Callable[[], tuple]:
        """Begin extracting block ``a``; returns the call that waits for its result."""
        n = min(last, a + block) - a
        if kernel is None:
            return lambda: stagewise(raw, lead, n)
        out = kernel.new_block(n)
        # more ranges than threads, so that movie segments interleave with them
        tasks = [pool.submit(kernel.run, raw, out, rows) for rows in split(n, 2 * workers)]

        def result() -> tuple[BoxWindows, FrameMeasures]:
            wait(tasks)
            for task in tasks:
                task.result()
            return out.box, out.measures

        return result

    starts = list(range(first, last, block))
    done = 0
    with ThreadPoolExecutor(1, thread_name_prefix="read") as io_pool, \
            ThreadPoolExecutor(1, thread_name_prefix="write") as out_pool:
        pending_read: Future = io_pool.submit(read, starts[0], min(last, starts[0] + block))
        pending_write: Future | None = None

        def next_job(k: int) -> Callable[[], tuple] | None:
            nonlocal pending_read
            if k >= len(starts):
                return None
            raw, lead = pending_read.result()
            if k + 1 < len(starts):
                b = starts[k + 1]
                pending_read = io_pool.submit(read, b, min(last, b + block))
            return start(starts[k], raw, lead)

        job = next_job(0)
        for k, a in enumerate(starts):
            b = min(last, a + block)
            following = next_job(k + 1)  # queued behind this block's ranges
            heights, measures = job()
            assembler.add(np.arange(a, b), measures, heights)
            ready = assembler.pop_ready(final=(b == last))
            if pending_write is not None:
                pending_write.result()
            pending_write = out_pool.submit(write, ready)
            done += sum(len(r) for r in ready)
            if progress is not None:
                progress(done, total)
            job = following
        if pending_write is not None:
            pending_write.result()
