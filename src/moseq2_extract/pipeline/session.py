"""``extract_session``: the streaming extraction of one recording.

Everything overlaps.  Blocks of frames are extracted by ``workers`` worker processes (each
reads its own frames from the file and returns crops, masks and measures), started while
this process finds the ROI; the main thread links finished blocks in time (heading,
velocities) in frame order; a writer thread stores them in the h5 file and hands them to
the preview movie, whose segments are encoded on the same workers ahead of further
extraction.  With ``workers`` 1 (or where processes cannot start, or for a sequential
``.tar.gz``) threads of this process do the same work.  Memory is bounded by the block
size and the heading look-ahead, never by the recording's length.
"""

from __future__ import annotations

import contextlib
import importlib
import itertools
import logging
import os
import threading
import time
import uuid as uuidlib
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .. import __version__
from ..camera import detect_camera
from ..config import Config, make_config, parameter_snapshot
from ..errors import ConfigError
from ..extract.chunk import ChunkParams
from ..extract.results import ChunkResult
from ..io.session import load_session
from ..output.status import is_complete, write_status
from ..roi.session import SessionRoi, find_session_roi
from .blocks import BlockExtractor, extract_block, prepare_worker_process
from .sequence import SequenceAssembler
from .workpool import PriorityThreadPool, ProcessWorkerPool, start_worker_processes

if TYPE_CHECKING:  # imported at run time on a thread (see _preload_outputs)
    from ..output.h5writer import ResultsWriter
    from ..output.movie import PreviewWriter

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
BLOCK = 128  # frames extracted together (one task); results do not depend on it
HEADING_LAG = 300  # frames of look-ahead for the heading decision
FLUSH_INTERVAL = 2.0  # seconds between flushes of the partial results file


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
    preload = _preload_outputs()
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
                 uuid=uid, durable=False)

    workers = int(config.workers) or available_cores()
    # OpenCV's own thread pool is stopped before worker processes are forked (a forked
    # copy of it would wait forever for threads that do not exist)
    with session.open_reader(threads=config.threads) as reader, _opencv_threads(1), \
            ThreadPoolExecutor(1, thread_name_prefix="write") as out_pool:
        arena = find_session_roi(reader, config, out_dir, camera=camera,
                                 nframes=session.nframes, defer_pictures=True)
        outcome.true_depth = arena.true_depth
        timestamps = (None if session.timestamps is None
                      else np.asarray(session.timestamps[first:last], dtype=np.float64))
        y0, y1, x0, x1 = arena.bbox

        def open_outputs() -> _Outputs:
            from ..output.h5writer import ResultsWriter
            from ..output.movie import PreviewWriter

            writer = ResultsWriter(
                h5_path, n_frames=last - first, crop_size=tuple(config.crop_size),
                frame_dtype=config.frame_dtype, acquisition_metadata=session.metadata,
                parameters=params, uuid=uid, roi=arena.roi, background=arena.background,
                first_frame=arena.first_frame, first_frame_idx=first, last_frame_idx=last,
                true_depth=arena.true_depth, timestamps=timestamps, with_flips=True,
                extract_version=__version__, flush_interval=FLUSH_INTERVAL)
            movie = None
            if config.write_movie:
                try:
                    movie = PreviewWriter(movie_path, fps=config.fps,
                                          box_shape=(y1 - y0, x1 - x0),
                                          crop_size=int(config.crop_size[0]),
                                          min_height=config.min_height,
                                          max_height=config.max_height,
                                          executor=pool.urgent, max_pending=workers + 2,
                                          total_frames=last - first)
                except BaseException:
                    writer.abort()
                    raise
            return _Outputs(writer, movie)

        extractor = BlockExtractor(reader, bbox=arena.bbox, background=arena.background,
                                   roi=arena.roi, params=ChunkParams.from_config(config),
                                   first=first, last=last, shared_reader=True)
        # worker processes are forked while this process runs no other thread's work (a
        # copy of a half-done import or of a lock held elsewhere would never finish)
        preload.join()
        with _worker_pool(workers, reader, uid, extractor) as pool:
            # the proc/ pictures and the output files are made on the writer thread while
            # the first blocks are extracted; everything written later queues behind
            pictures = out_pool.submit(arena.write_pictures)
            opening = out_pool.submit(open_outputs)
            try:
                _stream(extractor, uid, arena, config, camera, opening, out_pool,
                        progress, flip_model, pool, workers)
                pictures.result()
                opening.result().finish(out_pool)
            except BaseException:
                try:
                    outputs = opening.result()
                except BaseException:  # the opening failed: it left nothing behind
                    outputs = None
                if outputs is not None:
                    outputs.abort()
                raise
    params["true_depth"] = float(arena.true_depth)
    write_status(yaml_path, complete=True, metadata=session.metadata, parameters=params,
                 uuid=uid)
    outcome.n_frames = last - first
    outcome.seconds = time.perf_counter() - t0
    return outcome


@dataclass
class _Outputs:
    """The results file and the preview movie of one run (each under a temporary name)."""

    writer: ResultsWriter
    movie: PreviewWriter | None

    def finish(self, executor: Executor) -> None:
        """Rename both into place.  The h5 file is closed, synced and renamed on
        ``executor`` (the writer thread, done with both files by now) while the last movie
        segments are encoded and written here."""
        finalizing = executor.submit(self.writer.finalize)
        try:
            if self.movie is not None:
                self.movie.close()
        finally:
            finalizing.result()

    def abort(self) -> None:
        self.writer.abort()
        if self.movie is not None:
            self.movie.abort()


_PRELOAD = ("numpy.random", "moseq2_extract.output.h5writer", "moseq2_extract.output.movie",
            "tifffile")


def _preload_outputs() -> threading.Thread:
    """Import what comes later (numpy's random generators for the floor fit; h5py, PyAV
    and tifffile for the outputs: a fifth of a second) on a thread, while the session is
    opened and its ROI found: numpy and OpenCV release the GIL for most of that work.  An
    import that fails here fails again, with its message, where it is used."""

    def run() -> None:
        for name in _PRELOAD:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    thread = threading.Thread(target=run, name="preload", daemon=True)
    thread.start()
    return thread


@contextlib.contextmanager
def _worker_pool(workers: int, reader, key: str = "", extractor: BlockExtractor | None = None):
    """Worker processes for ``workers > 1`` where they can start, else threads.

    Each worker process first installs ``extractor`` under ``key`` (see
    :func:`~moseq2_extract.pipeline.blocks.extract_block`).  A sequential reader (``.tar.gz``)
    cannot be shared by processes, each of which reads its own blocks; it is read by
    threads in block order.
    """
    pool: PriorityThreadPool | ProcessWorkerPool | None = None
    if workers > 1 and reader.kind != "tar":
        pool = start_worker_processes(workers, initializer=prepare_worker_process,
                                      initargs=(key, extractor))
    if pool is None:
        pool = PriorityThreadPool(workers, "extract")
    with pool:
        yield pool


def _stream(extractor: BlockExtractor, key: str, arena: SessionRoi, config: Config, camera,
            opening: Future, out_pool: ThreadPoolExecutor, progress: Progress | None,
            flip_model, pool: PriorityThreadPool | ProcessWorkerPool, workers: int) -> None:
    """The block loop: extract blocks in parallel, link them in order, write behind."""
    first, last = extractor.first, extractor.last
    x0, y0 = arena.bbox[2], arena.bbox[0]
    assembler = SequenceAssembler(camera=camera, true_depth=arena.true_depth,
                                  box_origin=(x0, y0), lag=HEADING_LAG,
                                  flip_model=flip_model,
                                  centroid_hampel=(int(config.centroid_hampel_span),
                                                   float(config.centroid_hampel_sig)),
                                  angle_hampel=(int(config.angle_hampel_span),
                                                float(config.angle_hampel_sig)))
    in_process = isinstance(pool, PriorityThreadPool)
    block = max(1, min(BLOCK, int(config.chunk_size)))
    total = last - first

    def submit(a: int) -> tuple[int, int, Future]:
        b = min(last, a + block)
        if in_process:  # threads share the extractor (and its reader, read in order)
            return a, b, pool.submit(extractor.extract, a, b)
        return a, b, pool.submit(extract_block, key, a, b)

    def write(results: list[ChunkResult]) -> None:
        outputs = opening.result()  # done: it ran first on this thread
        for res in results:
            outputs.writer.write(res, res.frame_index[0] - first)
            if outputs.movie is not None:
                outputs.movie.write(res.frames, res.box, res.frame_index)

    starts = iter(range(first, last, block))
    in_flight: deque[tuple[int, int, Future]] = deque(
        submit(a) for a in itertools.islice(starts, workers + 1))
    done = 0
    pending_write: Future | None = None
    try:
        while in_flight:
            a, b, task = in_flight.popleft()
            result = task.result()
            nxt = next(starts, None)
            if nxt is not None:
                in_flight.append(submit(nxt))
            assembler.add(np.arange(a, b), result.measures, result.box)
            ready = assembler.pop_ready(final=(b == last))
            if pending_write is not None:
                pending_write.result()
            pending_write = out_pool.submit(write, ready)
            done += sum(len(r) for r in ready)
            if progress is not None:
                progress(done, total)
        if pending_write is not None:
            pending_write.result()
    except BaseException:
        for _, _, task in in_flight:
            task.cancel()
        extractor.cancel()
        if pending_write is not None:  # let the writer thread leave the files alone
            with contextlib.suppress(BaseException):
                pending_write.result()
        raise
